import Testing

@testable import ConsoleUI

@Suite struct DisplayWidthTests {
    @Test func asciiIsOneColumnControlIsZero() {
        #expect(displayWidth(of: "abc") == 3)
        #expect(displayWidth(of: "a\tb") == 2)
        #expect(displayWidth(of: Character("\u{7F}")) == 0)
    }

    @Test func wideAndZeroWidthGraphemes() {
        #expect(displayWidth(of: Character("漢")) == 2)
        #expect(displayWidth(of: Character("ｱ")) == 1)  // half-width katakana
        #expect(displayWidth(of: Character("Ａ")) == 2)  // full-width Latin
        #expect(displayWidth(of: Character("한")) == 2)
        #expect(displayWidth(of: Character("🚀")) == 2)
        #expect(displayWidth(of: Character("👩‍💻")) == 2)  // ZWJ sequence
        #expect(displayWidth(of: Character("🇫🇷")) == 2)
        #expect(displayWidth(of: Character("❤️")) == 2)  // text symbol + VS16
        #expect(displayWidth(of: Character("é")) == 1)  // e + combining acute, one cluster
        #expect(displayWidth(of: Character("\u{301}")) == 0)  // lone combining mark
        #expect(displayWidth(of: Character("\u{200B}")) == 0)
        #expect(displayWidth(of: "✔ ✗ ▶ ─ │ … ● ·") == 15)
        #expect(displayWidth(of: "日本語 ok") == 9)
    }

    @Test func truncation() {
        #expect(truncate("llm_input_tokens", toWidth: 8) == "llm_inp…")
        #expect(truncate("short", toWidth: 8) == "short")
        #expect(truncate("日本語テキスト", toWidth: 7) == "日本語…")
        #expect(truncateLeading("req_5a3f00_input", toWidth: 8) == "…0_input")
        #expect(padded("ab", toWidth: 4) == "ab  ")
        #expect(rightAligned("42", toWidth: 5) == "   42")
    }
}

/// The one fitting function: word boundaries, display width, an ellipsis on every cut.
@Suite struct FittingTests {
    @Test func cutsAtTheLastWholeWord() {
        #expect(truncate("subscription not found in Lago", toWidth: 20) == "subscription not…")
        #expect(truncate("subscription not found", toWidth: 17) == "subscription not…")
        // The cut falls just before a space: the words kept are whole.
        #expect(truncate("one two three", toWidth: 8) == "one two…")
        #expect(truncate("one two three", toWidth: 13) == "one two three")
    }

    @Test func aFirstWordLongerThanTheWidthEndsWithTheEllipsis() {
        #expect(truncate("external_subscription_id not found", toWidth: 10) == "external_…")
        #expect(truncate("a", toWidth: 1) == "a")
        #expect(truncate("ab", toWidth: 1) == ".")
    }

    @Test func trailingSpacesAreDroppedWithoutAMark() {
        #expect(truncate("queue 12   ", toWidth: 9) == "queue 12")
    }

    @Test func wideGraphemesCountTwoAndAreNeverSplit() {
        #expect(truncate("課金 メトリクスが見つかりません", toWidth: 12) == "課金…")
        #expect(truncate("サブスクリプション", toWidth: 8) == "サブス…")
        #expect(displayWidth(of: truncate("🚫🚫🚫 x", toWidth: 6)) <= 6)
        #expect(truncate("🚫🚫🚫 x", toWidth: 6) == "🚫🚫…")
    }

    @Test func wrapBreaksAtSpacesAndMarksABrokenWord() {
        #expect(wrapped("the quick brown fox", toWidth: 10) == ["the quick", "brown fox"])
        let pieces = wrapped("see https://api.getlago.com/api/v1/events", toWidth: 12)
        #expect(pieces == ["see", "https://api…", ".getlago.co…", "m/api/v1/ev…", "ents"])
        #expect(pieces.allSatisfy { displayWidth(of: $0) <= 12 })
        #expect(wrapped("  indented words wrap", toWidth: 12) == ["  indented", "  words wrap"])
        #expect(wrapped("日本語のテキスト", toWidth: 6) == ["日本…", "語の…", "テキ…", "スト"])
    }
}

@Suite struct GridTests {
    @Test func putClipsToTheGridAndMaxWidth() {
        var grid = Grid(width: 10, height: 2)
        #expect(grid.put("hello world", x: 0, y: 0) == 10)
        #expect(grid.put("abcdef", x: 2, y: 1, maxWidth: 3) == 3)
        #expect(grid.put("zz", x: -1, y: 1) == 2)
        #expect(grid.put("never", x: 0, y: 5) == 0)
        #expect(grid.lines == ["hello worl", "z abc"])
    }

    @Test func padFillsTheRestOfMaxWidthInStyle() {
        var grid = Grid(width: 8, height: 1)
        let bold = Style(bold: true)
        grid.put("ab", x: 1, y: 0, style: bold, maxWidth: 5, pad: true)
        #expect((1..<6).allSatisfy { grid[$0, 0].style == bold })
        #expect(grid[6, 0].style == .plain)
    }

    @Test func wideGraphemesTakeTwoCellsWithAContinuation() {
        var grid = Grid(width: 6, height: 1)
        grid.put("a漢b", x: 0, y: 0)
        #expect(grid[1, 0].symbol == "漢")
        #expect(grid[2, 0].isContinuation)
        #expect(grid[3, 0].symbol == "b")
        #expect(grid.plainText == "a漢b")
    }

    @Test func wideGraphemeThatDoesNotFitIsNotWritten() {
        var grid = Grid(width: 3, height: 1)
        #expect(grid.put("ab漢", x: 0, y: 0) == 2)
        #expect(grid[2, 0].symbol == " ")
        var padded = Grid(width: 6, height: 1)
        padded.put("x漢", x: 0, y: 0, maxWidth: 2, pad: true)
        #expect(padded.plainText == "x")
    }

    @Test func overwritingHalfAWideGraphemeBlanksTheOtherHalf() {
        var grid = Grid(width: 6, height: 1)
        grid.put("漢字", x: 0, y: 0)
        grid.put("x", x: 1, y: 0)  // second half of 漢
        #expect(grid.plainText == " x字")
        grid.put("y", x: 2, y: 0)  // first half of 字
        #expect(grid[3, 0].symbol == " ")
        #expect(grid.plainText == " xy")
    }

    @Test func boxDrawingUnicodeAndASCII() {
        var grid = Grid(width: 5, height: 3)
        grid.drawBox(grid.area)
        #expect(grid.lines == ["┌───┐", "│   │", "└───┘"])
        var ascii = Grid(width: 4, height: 3)
        ascii.drawBox(ascii.area, symbols: .ascii)
        #expect(ascii.lines == ["+--+", "|  |", "+--+"])
    }

    @Test func plainTextTrimsTrailingSpaces() {
        var grid = Grid(width: 6, height: 2)
        grid.put("ab", x: 0, y: 0)
        #expect(grid.plainText == "ab\n")
    }
}

@Suite struct KeyTests {
    @Test func bytesDecodeToKeys() {
        #expect(Key(byte: 3) == .ctrl("c"))
        #expect(Key(byte: 4) == .ctrl("d"))
        #expect(Key(byte: 13) == .enter)
        #expect(Key(byte: 10) == .enter)
        #expect(Key(byte: 9) == .tab)
        #expect(Key(byte: 27) == .escape)
        #expect(Key(byte: 127) == .backspace)
        #expect(Key(byte: 65) == .char("A"))
        #expect(Key(byte: 200) == nil)
    }

    @Test func labels() {
        #expect(Key.ctrl("d").label() == "ctrl-d")
        #expect(Key.down.label() == "↓")
        #expect(Key.down.label(ascii: true) == "down")
        #expect(Key.char(" ").label() == "space")
        #expect(Key.backTab.label() == "S-Tab")
    }
}

@Suite struct TextFieldTests {
    @Test func editing() {
        var field = TextField("abc")
        func press(_ keys: Key...) -> Bool { keys.allSatisfy { field.apply($0) } }
        #expect(press(.left, .char("X")))
        #expect(field.text == "abXc")
        #expect(press(.backspace, .delete))
        #expect(field.text == "ab")
        #expect(press(.home, .char(">"), .end, .char(" "), .char("w"), .ctrl("w")))
        #expect(field.text == ">ab ")
        #expect(press(.ctrl("u")))
        #expect(field.text == "")
        #expect(!press(.enter))
    }

    @Test func scrollsToKeepTheCursorVisible() {
        var grid = Grid(width: 5, height: 1)
        TextField("abcdefgh").render(into: &grid, x: 0, y: 0, width: 5, style: .plain, focused: true)
        #expect(grid.plainText == "efgh")
        #expect(grid.cursor == Position(x: 4, y: 0))
    }
}
