import Terminal
import Testing

@Suite("Frames: the previous frame, the diff and the pacing belong to the terminal")
struct FramePresenterTests {
    func frame(_ rows: [String], width: Int) -> Frame {
        var cells: [FrameCell] = []
        for row in rows {
            var line = row.map { FrameCell(symbol: String($0)) }
            while line.count < width { line.append(FrameCell(symbol: " ")) }
            cells += line
        }
        return Frame(width: width, height: rows.count, cells: cells)
    }

    @Test("Without a previous frame every cell is drawn; then only what changed")
    func diff() {
        let first = frame(["ab", "cd"], width: 2)
        #expect(first.changes(from: nil).count == 4)
        let second = frame(["ab", "xd"], width: 2)
        let changes = second.changes(from: first)
        #expect(changes.map(\.symbol) == ["x"])
        #expect(changes.first.map { [$0.x, $0.y] } == [0, 1])
        #expect(second.changes(from: second).isEmpty)
        #expect(frame(["abc"], width: 3).changes(from: first).count == 3)
    }

    @Test("A wide character's covered column is never drawn, and its neighbour is drawn again when it changes")
    func wideCharacters() {
        let plain = frame(["abc"], width: 3)
        let wide = Frame(
            width: 3, height: 1,
            cells: [FrameCell(symbol: "界", width: 2), FrameCell(symbol: "", width: 0), FrameCell(symbol: "c")])
        #expect(wide.changes(from: plain).map(\.symbol) == ["界"])
        #expect(plain.changes(from: wide).map(\.symbol) == ["a", "b"])
    }

    @Test("A change of style alone is drawn again")
    func styleChanges() {
        let plain = frame(["ab"], width: 2)
        let highlighted = Frame(
            width: 2, height: 1, cells: [FrameCell(symbol: "a"), FrameCell(symbol: "b", reverse: true)])
        #expect(highlighted.changes(from: plain).map(\.x) == [1])
        #expect(highlighted.changes(from: plain).first?.reverse == true)
    }

    @Test("A key is drawn at once; engine changes at most once per 50 ms, through one tick")
    func pacing() {
        let start = ContinuousClock.now
        var presenter = FramePresenter(now: start)
        let step1 = presenter.changed(urgent: false, now: start)
        #expect(step1 == .draw)
        let first = frame(["a"], width: 1)
        let step2 = presenter.draw(first, now: start)?.fullFrame
        #expect(step2 == true)
        // Engine changes within 50 ms wait for one tick; a second change does not ask for another.
        let soon = start + .milliseconds(10)
        let step3 = presenter.changed(urgent: false, now: soon)
        #expect(step3 == .tick(at: start + .milliseconds(50)))
        let step4 = presenter.changed(urgent: false, now: soon)
        #expect(step4 == .nothing)
        // A key within 16 ms moves the tick earlier.
        let step5 = presenter.changed(urgent: true, now: soon)
        #expect(step5 == .tick(at: start + .milliseconds(16)))
        let step6 = presenter.tickFired(now: start + .milliseconds(16))
        #expect(step6 == .draw)
        let unchanged = presenter.draw(first, now: start + .milliseconds(16))
        #expect(unchanged == nil)  // nothing changed on screen
        // Nothing changed: no frame, no tick.
        let step7 = presenter.tickFired(now: start + .milliseconds(100))
        #expect(step7 == .nothing)
        // A key after the interval is drawn at once, as a diff.
        let step8 = presenter.changed(urgent: true, now: start + .milliseconds(100))
        #expect(step8 == .draw)
        let drawn = presenter.draw(frame(["b"], width: 1), now: start + .milliseconds(100))
        #expect(drawn?.fullFrame == false)
        #expect(drawn?.cells.map(\.symbol) == ["b"])
        presenter.invalidate()
        let step9 = presenter.changed(urgent: true, now: start + .milliseconds(200))
        #expect(step9 == .draw)
        let step10 = presenter.draw(frame(["b"], width: 1), now: start + .milliseconds(200))?.fullFrame
        #expect(step10 == true)
    }
}
