import Testing

@testable import ConsoleUI

@Suite struct GridTests {
    @Test func placeholder() {
        #expect(Grid(width: 2, height: 1).plainText == "")
    }
}
