import Foundation
import LagoAPI
import Testing

@Suite("Random UUIDs")
struct RandomUUIDTests {
    @Test func version4TextAndNoRepeats() {
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let text = RandomUUID.lowercasedString()
            let characters = Array(text)
            #expect(characters.count == 36)
            #expect(characters[8] == "-" && characters[13] == "-" && characters[18] == "-" && characters[23] == "-")
            #expect(characters[14] == "4", "version 4: \(text)")
            #expect("89ab".contains(characters[19]), "RFC 9562 variant: \(text)")
            #expect(text == text.lowercased())
            #expect(UUID(uuidString: text) != nil)
            seen.insert(text)
        }
        #expect(seen.count == 10_000)
    }

    @Test func concurrentCallersNeverShareBytes() async {
        // Bytes come from one buffer refilled every 256 UUIDs: many threads drawing at once must still get
        // distinct values, and UUID and text must agree on the format.
        let batches = await withTaskGroup(of: [String].self) { group in
            for task in 0..<8 {
                group.addTask {
                    (0..<5_000).map { index in
                        index % 2 == task % 2 ? RandomUUID.lowercasedString() : RandomUUID.make().uuidString.lowercased()
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(batches.count == 40_000)
        #expect(Set(batches).count == 40_000)
        for text in batches.prefix(2_000) {
            let uuid = UUID(uuidString: text)
            #expect(uuid != nil)
            #expect(uuid?.uuidString.lowercased() == text)
            #expect(Array(text)[14] == "4")
        }
    }
}
