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
}
