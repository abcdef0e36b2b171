import Foundation
public import Logging
import Synchronization

/// A swift-log handler appending lines to a file, for while the console owns the screen.
///
/// Never used for secrets: the core never logs the API key. Writes are serialized through a `Mutex`.
public struct FileLogHandler: LogHandler {
    private final class Sink: Sendable {
        let handle: Mutex<FileHandle?>

        init(path: String) {
            let url = URL(fileURLWithPath: path)
            try? FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            let handle = FileHandle(forWritingAtPath: path)
            _ = try? handle?.seekToEnd()
            self.handle = Mutex(handle)
        }

        func write(_ line: String) {
            handle.withLock { try? $0?.write(contentsOf: Data(line.utf8)) }
        }
    }

    private let sink: Sink
    private let label: String
    /// The lowest level written.
    public var logLevel: Logger.Level = .info
    /// Metadata written with every line.
    public var metadata: Logger.Metadata = [:]

    /// One metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// A factory for `LoggingSystem.bootstrap` or `Logger(label:factory:)` writing to `path`.
    public static func factory(path: String, level: Logger.Level) -> @Sendable (String) -> any LogHandler {
        let sink = Sink(path: path)
        return { label in
            var handler = FileLogHandler(sink: sink, label: label)
            handler.logLevel = level
            return handler
        }
    }

    private init(sink: Sink, label: String) {
        self.sink = sink
        self.label = label
    }

    /// Appends one line: time, level, label, message, metadata.
    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let time = Date().formatted(.iso8601)
        sink.write("\(time) \(event.level) \(label): \(event.message)\(fields.isEmpty ? "" : " " + fields)\n")
    }
}
