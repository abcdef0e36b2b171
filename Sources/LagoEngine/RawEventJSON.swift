import GRDBSQLite
import Synchronization

/// Events taken out of a client's request body and completed without re-encoding anything the client wrote.
///
/// Lago keeps every integer exactly and every decimal in its shortest round-trip form (facts §8.5); a relay that
/// re-encodes numbers through `Double` changes them (`12345678901234567890` → `1.2345678901234567E+19`). SQLite's
/// JSON functions keep the text of every numeral and string as the client wrote it (they only drop insignificant
/// whitespace), so the relay splits bodies and adds the fields it supplies (timestamp, default subscription) with
/// them. They run on in-memory connections on the caller's thread, microseconds per request.
public enum RawEventJSON {
    /// Why a body could not be taken apart (it is not the JSON that validation accepted).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String

        /// Creates a failure with its reason.
        public init(description: String) { self.description = description }
    }

    /// The event objects of a `POST /events` (`{"event":{…}}`, `batch == false`) or `POST /events/batch`
    /// (`{"events":[…]}`) body, each as its JSON text, in request order.
    /// - Throws: ``Failure`` when the body is not valid JSON of that shape.
    public static func events(in body: [UInt8], batch: Bool) throws -> [[UInt8]] {
        try connections.withConnection { connection in
            let statement = try connection.statement(
                batch ? "SELECT value FROM json_each(?1, '$.events')" : "SELECT json_extract(?1, '$.event')")
            defer {
                sqlite3_reset(statement)
                sqlite3_clear_bindings(statement)
            }
            try bindText(body, to: statement, at: 1)
            var events: [[UInt8]] = []
            while true {
                let code = sqlite3_step(statement)
                if code == SQLITE_DONE { break }
                guard code == SQLITE_ROW else { throw Failure(description: connection.lastError) }
                events.append(columnBytes(statement, 0))
            }
            return events
        }
    }

    /// The event object with `timestamp` and `external_subscription_id` set where given (the caller passes only
    /// what the client did not send); every other byte stays as written.
    /// - Parameters:
    ///   - timestamp: a JSON number text (Unix seconds, e.g. `1733085000.123456`), written as a number.
    ///   - externalSubscriptionID: written as a JSON string.
    /// - Throws: ``Failure`` when `event` is not a JSON object or `timestamp` is not a JSON number.
    public static func completing(
        _ event: [UInt8], timestamp: String?, externalSubscriptionID: String?
    ) throws -> [UInt8] {
        if timestamp == nil && externalSubscriptionID == nil { return event }
        return try connections.withConnection { connection in
            let sql: String
            switch (timestamp, externalSubscriptionID) {
            case (_?, _?): sql = "SELECT json_set(?1, '$.timestamp', json(?2), '$.external_subscription_id', ?3)"
            case (_?, nil): sql = "SELECT json_set(?1, '$.timestamp', json(?2))"
            default: sql = "SELECT json_set(?1, '$.external_subscription_id', ?3)"
            }
            let statement = try connection.statement(sql)
            defer {
                sqlite3_reset(statement)
                sqlite3_clear_bindings(statement)
            }
            try bindText(event, to: statement, at: 1)
            if let timestamp {
                guard timestamp.utf8.allSatisfy({ "0123456789.-".utf8.contains($0) }), !timestamp.isEmpty else {
                    throw Failure(description: "the timestamp \(timestamp) is not a JSON number")
                }
                try bindText(Array(timestamp.utf8), to: statement, at: 2)
            }
            if let externalSubscriptionID { try bindText(Array(externalSubscriptionID.utf8), to: statement, at: 3) }
            guard sqlite3_step(statement) == SQLITE_ROW, sqlite3_column_type(statement, 0) != SQLITE_NULL else {
                throw Failure(description: connection.lastError)
            }
            return columnBytes(statement, 0)
        }
    }

    /// Unix seconds with microseconds as a JSON number text (`1733085000.123456`; whole seconds without a fraction).
    public static func timestampText(microseconds: Int64) -> String {
        let seconds = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        var whole = seconds.quotient
        var fraction = seconds.remainder
        if fraction < 0 {
            whole -= 1
            fraction += 1_000_000
        }
        guard fraction != 0 else { return String(whole) }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 6 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    private static let connections = ConnectionPool()

    private static func bindText(_ bytes: [UInt8], to statement: OpaquePointer, at index: Int32) throws {
        // SQLITE_TRANSIENT: SQLite copies the bytes (the buffer does not outlive this call).
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        let code: Int32
        if bytes.isEmpty {
            code = sqlite3_bind_text(statement, index, "", 0, transient)
        } else {
            code = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    sqlite3_bind_text(statement, index, chars.baseAddress, Int32(chars.count), transient)
                }
            }
        }
        guard code == SQLITE_OK else { throw Failure(description: "binding a JSON text failed (\(code))") }
    }

    private static func columnBytes(_ statement: OpaquePointer, _ column: Int32) -> [UInt8] {
        guard let text = sqlite3_column_text(statement, column) else { return [] }
        let count = Int(sqlite3_column_bytes(statement, column))
        return [UInt8](UnsafeBufferPointer(start: text, count: count))
    }
}

/// In-memory SQLite connections for ``RawEventJSON``, each used by one thread at a time.
private final class ConnectionPool: Sendable {
    private let idle = Mutex<[JSONConnection]>([])

    func withConnection<T>(_ body: (JSONConnection) throws -> T) throws -> T {
        let connection = try idle.withLock { $0.popLast() } ?? JSONConnection()
        defer { idle.withLock { if $0.count < 8 { $0.append(connection) } } }
        return try body(connection)
    }
}

/// One in-memory connection and its prepared statements.
///
/// `@unchecked Sendable`: the pool hands a connection to one caller at a time (taken out of the idle list under
/// its mutex, put back after use), so its handle and statements are never used from two threads at once.
private final class JSONConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    init() throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(":memory:", &handle, flags, nil) == SQLITE_OK, let handle else {
            if let handle { sqlite3_close(handle) }
            throw RawEventJSON.Failure(description: "SQLite could not open an in-memory connection")
        }
        self.handle = handle
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close(handle)
    }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    func statement(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw RawEventJSON.Failure(description: lastError)
        }
        statements[sql] = statement
        return statement
    }
}
