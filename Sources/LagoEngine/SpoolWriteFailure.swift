import GRDB

/// A failed spool write in words an operator reads: SQLite's "database or disk is full" is "disk full", and no
/// SQL, result code or Swift type is shown.
public enum SpoolWriteFailure {
    /// The cause of `error` in plain words: "disk full", "disk I/O error", "the file is read-only", …; for an
    /// error that is not SQLite's, its own message.
    public static func plainWords(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return words(for: error.resultCode) ?? error.message ?? "SQLite error \(error.resultCode.rawValue)"
        }
        let text = (error as? EngineError)?.message ?? "\(error)"
        for (phrase, words) in phrases where text.contains(phrase) { return words }
        return text
    }

    /// The sentence kept in ``EngineStats/spoolError``: `spool write failed: disk full (/path/spool.sqlite)`.
    static func sentence(_ error: any Error, path: String) -> String {
        "spool write failed: \(plainWords(error)) (\(path))"
    }

    private static func words(for code: ResultCode) -> String? {
        switch code.primaryResultCode {
        case .SQLITE_FULL: "disk full"
        case .SQLITE_IOERR: "disk I/O error"
        case .SQLITE_READONLY: "the file is read-only"
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: "the file is damaged"
        case .SQLITE_CANTOPEN: "the file cannot be opened"
        case .SQLITE_PERM, .SQLITE_AUTH: "permission denied"
        case .SQLITE_BUSY, .SQLITE_LOCKED: "the file is locked"
        case .SQLITE_NOMEM: "out of memory"
        default: nil
        }
    }

    /// SQLite's own texts (`sqlite3_errstr`), as they appear inside a wrapped error's message.
    private static let phrases: [(String, String)] = [
        ("database or disk is full", "disk full"),
        ("disk I/O error", "disk I/O error"),
        ("attempt to write a readonly database", "the file is read-only"),
        ("database disk image is malformed", "the file is damaged"),
        ("file is not a database", "the file is damaged"),
        ("unable to open database file", "the file cannot be opened"),
        ("access permission denied", "permission denied"),
        ("database is locked", "the file is locked"),
        ("database table is locked", "the file is locked"),
        ("out of memory", "out of memory"),
    ]
}
