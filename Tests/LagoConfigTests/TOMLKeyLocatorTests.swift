import Testing

@testable import LagoConfig

@Suite("Finding the line of a key in TOML text")
struct TOMLKeyLocatorTests {
    let text = """
        # header comment
        top = 1
        [lago]   # the Lago section
        api_url = "https://x" # trailing
        notes = \"\"\"
        [engine]
        max_in_flight = 99
        \"\"\"
        list = [
          "a", # [not a table]
          "b",
        ]
        literal = '''
        input = "no"'''
        'quoted.key' = 2
        api_key = "after the noise"

        [ "metric_codes" ]
        input = "x"
        [engine]
        max_in_flight = 4
        sub.deep = { a = 1,
          b = 2 }
        flush_interval_seconds = 1.0
        """

    @Test("Keys after multi-line strings, arrays and inline tables are found on their own lines")
    func lines() {
        let locator = TOMLKeyLocator(text: self.text)
        #expect(locator.line(of: ["top"]) == 2)
        #expect(locator.line(of: ["lago"]) == 3)
        #expect(locator.line(of: ["lago", "api_url"]) == 4)
        #expect(locator.line(of: ["lago", "quoted.key"]) == 15)
        #expect(locator.line(of: ["lago", "api_key"]) == 16)
        #expect(locator.line(of: ["metric_codes", "input"]) == 19)
        #expect(locator.line(of: ["engine", "max_in_flight"]) == 21)
        #expect(locator.line(of: ["engine", "flush_interval_seconds"]) == 24)
        #expect(locator.line(of: ["engine", "sub", "deep", "b"]) == 22, "inside an inline table: its line")
        #expect(locator.line(of: ["engine", "spool_path"]) == 20, "a missing key: its table's header")
        #expect(locator.line(of: ["relay", "listen"]) == nil)
    }

    @Test("CRLF line endings count as one line each, as LF does")
    func crlf() {
        let locator = TOMLKeyLocator(text: self.text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(locator.line(of: ["lago", "api_url"]) == 4)
        #expect(locator.line(of: ["engine", "flush_interval_seconds"]) == 24)
        #expect(locator.key(atLine: 19) == ["metric_codes", "input"])
    }

    @Test("The key on a line")
    func keyAtLine() {
        let locator = TOMLKeyLocator(text: self.text)
        #expect(locator.key(atLine: 4) == ["lago", "api_url"])
        #expect(locator.key(atLine: 7) == nil, "inside a multi-line string")
        #expect(locator.key(atLine: 1) == nil)
    }
}
