public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Version-4 UUIDs from the operating system's random source, cheap enough for an ingestion path.
///
/// `UUID()` from swift-corelibs-foundation opens and reads `/dev/urandom` for every value on Linux (one `open`,
/// `read` and `close` per event), and `SystemRandomNumberGenerator` makes one `getrandom(2)` call per 8 bytes. Here
/// random bytes come from the kernel 4 KiB at a time (`/dev/urandom`, kept open, close-on-exec) and are handed out
/// 16 at a time under a lock: one system call per 256 UUIDs. Bytes are never handed out twice. When the device
/// cannot be read, each UUID falls back to `SystemRandomNumberGenerator`.
///
/// The version and variant bits are set as RFC 9562 requires.
public enum RandomUUID {
    /// A new random UUID.
    public static func make() -> UUID {
        let (high, low) = randomHalves()
        let h = high.bigEndian
        let l = low.bigEndian
        return withUnsafeBytes(of: (h, l)) { bytes in
            UUID(
                uuid: (
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                    bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
                ))
        }
    }

    /// A new random UUID as lower-case text (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`), as Lago writes ids.
    public static func lowercasedString() -> String {
        let (high, low) = randomHalves()
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    buffer[index] = UInt8(ascii: "-")
                    index += 1
                }
                let half = nibble < 16 ? high : low
                buffer[index] = digits[Int((half >> UInt64(60 - (nibble % 16) * 4)) & 0xF)]
                index += 1
            }
            return index
        }
    }

    /// 128 random bits with the version (4) and variant (10) bits set: the UUID's bytes 0–7 and 8–15, big-endian.
    private static func randomHalves() -> (UInt64, UInt64) {
        var (high, low) = pool.withLock { $0.next() } ?? {
            var generator = SystemRandomNumberGenerator()
            return (generator.next(), generator.next())
        }()
        high = (high & ~0x0000_0000_0000_F000) | 0x0000_0000_0000_4000  // version 4
        low = (low & ~0xC000_0000_0000_0000) | 0x8000_0000_0000_0000  // variant 10
        return (high, low)
    }

    private static let pool = Mutex(Pool())

    /// Random bytes read ahead from `/dev/urandom`.
    private struct Pool {
        static let capacity = 4096
        var bytes = [UInt8](repeating: 0, count: Pool.capacity)
        /// Bytes before this offset were handed out already.
        var offset = Pool.capacity
        var descriptor: Int32 = -2  // -2: not opened yet; -1: unavailable

        mutating func next() -> (UInt64, UInt64)? {
            if offset + 16 > bytes.count {
                guard refill() else { return nil }
            }
            let values = bytes.withUnsafeBytes { raw in
                (raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self),
                 raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            }
            // Never hand the same bytes out twice.
            bytes.withUnsafeMutableBytes { raw in
                _ = raw.baseAddress!.advanced(by: offset).initializeMemory(as: UInt8.self, repeating: 0, count: 16)
            }
            offset += 16
            return values
        }

        private mutating func refill() -> Bool {
            if descriptor == -2 { descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC) }
            guard descriptor >= 0 else { return false }
            var filled = 0
            let wanted = bytes.count
            let descriptor = self.descriptor
            let ok = bytes.withUnsafeMutableBytes { raw -> Bool in
                while filled < wanted {
                    let count = read(descriptor, raw.baseAddress!.advanced(by: filled), wanted - filled)
                    if count > 0 {
                        filled += count
                    } else if count < 0 && errno == EINTR {
                        continue
                    } else {
                        return false
                    }
                }
                return true
            }
            guard ok else { return false }
            offset = 0
            return true
        }
    }
}
