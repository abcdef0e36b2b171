/// The rows of the events pane on screen: how many there are, which is first and which is selected.
struct EventsWindow: Sendable, Hashable {
    /// The number of rows in the (filtered, possibly frozen) list.
    var count: Int
    /// The display index of the first row on screen.
    var top: Int
    /// The display index of the selected row.
    var selected: Int?
}

extension AppState {
    /// While paused, rows from this sequence number on are hidden.
    var pauseBound: Int? { events.pausedAtSequence }

    /// The number of rows the events pane lists (filtered; frozen while paused).
    var visibleEventCount: Int { history.visibleCount(below: pauseBound) }

    /// Rows that arrived (and match the filter) since the view was paused.
    var newWhilePaused: Int {
        guard pauseBound != nil else { return 0 }
        return history.visibleCount(below: nil) - visibleEventCount
    }

    /// The sequence number of the row at a display index (display order depends on ``EventOrder``).
    func eventSequence(atDisplay index: Int) -> Int {
        let count = visibleEventCount
        return history.visibleSequence(at: events.order == .follow ? index : count - 1 - index)
    }

    /// The display index of a row, or of the nearest row when it is gone.
    func displayIndex(ofSequence sequence: Int) -> Int {
        let count = visibleEventCount
        guard count > 0 else { return 0 }
        let listIndex = min(history.visibleIndex(of: sequence), count - 1)
        return events.order == .follow ? listIndex : count - 1 - listIndex
    }

    /// The window of `rows` rows the events pane shows.
    func eventsWindow(rows: Int) -> EventsWindow {
        let count = visibleEventCount
        guard count > 0 else { return EventsWindow(count: 0, top: 0, selected: nil) }
        let rows = max(1, rows)
        let newest = events.order == .follow ? count - 1 : 0
        if events.autoscroll || events.selectedSequence == nil {
            let top = events.order == .follow ? max(0, count - rows) : 0
            return EventsWindow(count: count, top: top, selected: newest)
        }
        let selected = displayIndex(ofSequence: events.selectedSequence!)
        var top = events.topSequence.map { displayIndex(ofSequence: $0) } ?? selected
        if selected < top { top = selected }
        if selected >= top + rows { top = selected - rows + 1 }
        top = max(0, min(top, count - rows))
        return EventsWindow(count: count, top: top, selected: selected)
    }

    /// The selected event's sequence number.
    var selectedEventSequence: Int? {
        let window = eventsWindow(rows: layout.eventRows(focused: focusedPane))
        return window.selected.map { eventSequence(atDisplay: $0) }
    }

    /// The layout for the current size.
    var layout: ScreenLayout { ScreenLayout(size: size) }

    /// Moves the events selection to a display index; reaching the newest row resumes following.
    mutating func moveEventSelection(_ target: (EventsWindow, Int) -> Int) {
        let rows = layout.eventRows(focused: focusedPane)
        let window = eventsWindow(rows: rows)
        guard window.count > 0 else { return }
        let destination = max(0, min(window.count - 1, target(window, rows)))
        let newest = events.order == .follow ? window.count - 1 : 0
        events.autoscroll = destination == newest
        var top = window.top
        if destination < top { top = destination }
        if destination >= top + rows { top = destination - rows + 1 }
        top = max(0, min(top, window.count - rows))
        events.selectedSequence = eventSequence(atDisplay: destination)
        events.topSequence = eventSequence(atDisplay: top)
    }

    /// Pins the anchors to what is on screen now (before a change that must not move the view).
    mutating func pinEventsView() {
        let window = eventsWindow(rows: layout.eventRows(focused: focusedPane))
        guard let selected = window.selected else { return }
        events.selectedSequence = eventSequence(atDisplay: selected)
        events.topSequence = eventSequence(atDisplay: window.top)
    }
}

/// Moves an index in a list of `count` items for a navigation action.
func movedIndex(_ index: Int, count: Int, action: ConsoleAction, page: Int) -> Int {
    guard count > 0 else { return 0 }
    let target: Int
    switch action {
    case .moveUp: target = index - 1
    case .moveDown: target = index + 1
    case .pageUp: target = index - page
    case .pageDown: target = index + page
    case .halfPageUp: target = index - max(1, page / 2)
    case .halfPageDown: target = index + max(1, page / 2)
    case .jumpTop: target = 0
    case .jumpBottom: target = count - 1
    default: target = index
    }
    return max(0, min(count - 1, target))
}
