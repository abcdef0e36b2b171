import CSpoolSQLite
import Foundation
import GRDBSQLite

/// What a read-only look at an existing spool file found, before anything opens it for writing.
///
/// The look writes nothing and creates nothing: no `-wal`, no `-shm`, no lock byte. A file with no write-ahead log
/// is opened `immutable` (SQLite reads the file alone, takes no lock, creates no companion file). A file with a
/// write-ahead log left by an unclean stop is opened read-only through SQLite's `unix-none` VFS in exclusive
/// locking mode, so the log's committed content is read (its index kept in heap memory, never in a `-shm` file)
/// and, with checkpoint-on-close off, the log is left exactly as it was. The engine's own lock file guarantees no
/// other engine writes meanwhile.
struct SpoolInspection: Sendable {
    /// `PRAGMA user_version`: 0 for a database with no tables yet.
    var schemaVersion: Int
    /// No table at all: an empty database the engine may turn into a spool.
    var isEmpty: Bool

    /// Refuses a file SQLite cannot read, a damaged file (`PRAGMA quick_check`), a database of another program, a
    /// spool of a newer schema or with tables missing. Returns `nil` when there is nothing to inspect (no file, or
    /// an empty file with no write-ahead log).
    /// - Throws: ``EngineError/Kind/spoolUnreadable`` naming the file and what to do; the file is left untouched.
    static func inspect(path: String, newestSchemaVersion: Int) throws -> SpoolInspection? {
        let mainSize = fileSize(path)
        let walSize = fileSize(path + "-wal")
        guard mainSize > 0 || walSize > 0 else { return nil }
        // Percent-encoded for a URI filename: everything but unreserved characters and `/`.
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        let encoded = path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
        let uri = walSize > 0 ? "file:\(encoded)?mode=ro&vfs=unix-none" : "file:\(encoded)?immutable=1"

        var connection: OpaquePointer?
        let opened = sqlite3_open_v2(uri, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil)
        defer { sqlite3_close_v2(connection) }
        guard opened == SQLITE_OK, let connection else {
            throw damaged(path, finding: connection.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open it")
        }
        // Closing must not checkpoint the log into the file (a read-only connection cannot, but never try).
        guard lago_spool_set_no_checkpoint_on_close(connection, 1) == SQLITE_OK else {
            throw damaged(path, finding: String(cString: sqlite3_errmsg(connection)))
        }
        if walSize > 0 {
            // Before the first read: the log's index lives in this connection's memory, no `-shm` file.
            let mode = try? rows(connection, "PRAGMA locking_mode = EXCLUSIVE")
            guard mode == ["exclusive"] else {
                throw EngineError(
                    .spoolIO, "the spool \(path) cannot be checked read-only (SQLite refused exclusive locking mode)",
                    path: path)
            }
        }

        let check: [String]
        do {
            check = try rows(connection, "PRAGMA quick_check")
        } catch let failure as Failure {
            throw damaged(path, finding: failure.message)
        }
        guard check == ["ok"] else {
            let shown = check.prefix(3).joined(separator: "; ")
            throw damaged(path, finding: check.count > 3 ? shown + "; …" : shown)
        }
        do {
            let applicationID = Int32(
                truncatingIfNeeded: Int(try rows(connection, "PRAGMA application_id").first ?? "") ?? 0)
            let version = Int(try rows(connection, "PRAGMA user_version").first ?? "") ?? 0
            let tables = Set(try rows(connection, "SELECT name FROM sqlite_master WHERE type = 'table'"))
            if applicationID != Spool.applicationID {
                guard applicationID == 0, tables.isEmpty else {
                    throw EngineError(
                        .spoolUnreadable,
                        "the file \(path) is an SQLite database but not a lago-console spool; it was left untouched. "
                            + "Set engine.spool_path to another file, or move this one away and a new spool is created",
                        path: path)
                }
                return SpoolInspection(schemaVersion: 0, isEmpty: true)
            }
            if version > newestSchemaVersion {
                throw EngineError(
                    .spoolUnreadable,
                    "the spool \(path) was written by a newer lago-console (schema version \(version); this one reads "
                        + "up to \(newestSchemaVersion)); it was left untouched. Run the newer lago-console on it, or "
                        + "move the file aside and a new, empty spool is created",
                    path: path)
            }
            guard version >= 1, tables.isSuperset(of: ["events", "dead_letters"]) else {
                throw damaged(path, finding: "schema version \(version) with tables \(tables.sorted())")
            }
            return SpoolInspection(schemaVersion: version, isEmpty: false)
        } catch let failure as Failure {
            throw damaged(path, finding: failure.message)
        }
    }

    /// The error for a spool SQLite reports damaged.
    static func damaged(_ path: String, finding: String) -> EngineError {
        EngineError(
            .spoolUnreadable,
            "the spool \(path) is damaged (SQLite: \(finding)); it was left untouched. Move it aside (with its "
                + "-wal file, if any) to keep its undelivered events for inspection, and the engine starts a new, "
                + "empty spool",
            path: path)
    }

    private struct Failure: Error {
        var message: String
    }

    /// The first column of every row of `sql`, as text.
    private static func rows(_ connection: OpaquePointer, _ sql: String) throws -> [String] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(connection, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw Failure(message: String(cString: sqlite3_errmsg(connection)))
        }
        defer { sqlite3_finalize(statement) }
        var values: [String] = []
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { return values }
            guard code == SQLITE_ROW else { throw Failure(message: String(cString: sqlite3_errmsg(connection))) }
            values.append(sqlite3_column_text(statement, 0).map { String(cString: $0) } ?? "")
        }
    }

    private static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}
