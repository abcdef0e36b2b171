import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A secret read from standard input (`config set lago.api_key -`), so that it never sits in a process's argv where
/// `ps` and shell history show it.
public enum SecretInput {
    /// The longest line taken; an API key is far shorter.
    public static let maximumBytes = 64 * 1024

    /// Reads one line from standard input, its line ending (LF or CRLF) stripped.
    ///
    /// When standard input is a terminal, `prompt` is written to standard error and the terminal does not echo what
    /// is typed (echo is restored before returning, whatever happens). Blocks until a line ending or end of input.
    ///
    /// - Throws: ``SecretInputError`` naming `key` when the line is empty or blank, not UTF-8, longer than
    ///   ``maximumBytes``, or standard input cannot be read. No message repeats what was read.
    public static func readLine(for key: String, prompt: String) throws -> String {
        let isTerminal = isatty(STDIN_FILENO) == 1
        var saved = termios()
        var echoTurnedOff = false
        if isTerminal {
            FileHandle.standardError.write(Data(prompt.utf8))
            if tcgetattr(STDIN_FILENO, &saved) == 0 {
                var silent = saved
                silent.c_lflag &= ~tcflag_t(ECHO)
                echoTurnedOff = tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent) == 0
            }
        }
        defer {
            if echoTurnedOff {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
                // The Enter that ended the line was not echoed either.
                FileHandle.standardError.write(Data("\n".utf8))
            }
        }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(STDIN_FILENO, &byte, 1)
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw SecretInputError(
                    description: "\(key): cannot read standard input: \(String(cString: strerror(code)))")
            }
            if count == 0 || byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
            guard bytes.count <= Self.maximumBytes else {
                throw SecretInputError(
                    description: "\(key): the line on standard input is longer than \(Self.maximumBytes) bytes; "
                        + "give the value alone on one line")
            }
        }
        if bytes.last == UInt8(ascii: "\r") {
            bytes.removeLast()
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SecretInputError(description: "\(key): the line on standard input is not UTF-8 text")
        }
        guard !text.allSatisfy(\.isWhitespace) else {
            throw SecretInputError(
                description: "\(key): no value on standard input; give it on one line, for example "
                    + "`lago-console config set \(key) - < key.txt`, or type it at the prompt")
        }
        return text
    }
}

/// Why a secret could not be read from standard input (never repeating what was read).
public struct SecretInputError: Error, CustomStringConvertible {
    /// The message, naming the key.
    public let description: String
}
