public import Foundation

/// Version-4 UUIDs from the system's random number generator.
///
/// `UUID()` from swift-corelibs-foundation opens and reads `/dev/urandom` for every value on Linux: one `open`,
/// `read` and `close` per event on an ingestion path. This draws 16 bytes with `SystemRandomNumberGenerator`
/// (`getrandom(2)`, no file descriptor) and sets the version and variant bits as RFC 9562 requires.
public enum RandomUUID {
    /// A new random UUID.
    public static func make() -> UUID {
        var generator = SystemRandomNumberGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~0x0000_0000_0000_F000) | 0x0000_0000_0000_4000  // version 4
        low = (low & ~0xC000_0000_0000_0000) | 0x8000_0000_0000_0000  // variant 10
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
        make().uuidString.lowercased()
    }
}
