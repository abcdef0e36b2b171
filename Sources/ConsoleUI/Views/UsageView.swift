import Foundation
import LagoAPI
import LagoBilling

extension Renderer {
    // MARK: - Usage

    /// The Usage pane: the customer's current usage in Lago for the shown subscription (period, currency, total
    /// and one row per charge), what moved since the console opened and since the last test event, and whether
    /// the last test events were counted.
    mutating func drawUsage(_ rect: Rect) {
        let pane = state.usagePane
        let subscription = state.usageSubscription
        let reading = subscription.flatMap { pane.latest[$0] }
        var status: [Span] = []
        if let subscription, pane.inFlight.contains(subscription) {
            status.append(Span(" \(symbols.ellipsis) reading ", theme.warning))
        } else if let reading {
            status.append(
                Span(
                    " read \(Format.clock(reading.readAt, timeZone)) \(symbols.dot) every "
                        + "\(Format.age(state.usageRefreshInterval)) ", theme.dim))
        }
        let inner = paneBox(rect, pane: .usage, status: status)
        guard inner.height > 0 else { return }
        var y = inner.y
        let labelWidth = 13
        func label(_ text: String) -> Span { Span(padded(text, toWidth: labelWidth), theme.label) }

        guard let subscription else {
            paragraph(
                "No subscription to read: set the default one (5 Subscription), or press s to pick one of Lago's.",
                theme.dim, in: inner, y: y)
            return
        }
        var subscriptionSpans = [label("Subscription"), Span(subscription, theme.highlight)]
        if let reading { subscriptionSpans.append(Span(" \(symbols.dot) customer \(reading.externalCustomerID)")) }
        subscriptionSpans.append(
            Span(pane.picked == nil ? "  (default)" : "  (picked \(symbols.dash) d for the default)", theme.dim))
        line(subscriptionSpans, in: inner, y: y)
        y += 1
        if let error = pane.errors[subscription] {
            let hint = Self.usageErrorHint(error.message)
            y += paragraph(
                "\(symbols.cross) \(error.message) at \(Format.clock(error.at, timeZone))"
                    + (hint.map { ": \($0)" } ?? ""),
                theme.error, in: inner, y: y)
        }
        guard let reading else {
            if pane.errors[subscription] == nil {
                line([Span("reading current usage from Lago\(symbols.ellipsis)", theme.dim)], in: inner, y: y)
            }
            return
        }
        let usage = reading.usage
        let currency = usage.currency ?? usage.chargesUsage.first?.amountCurrency ?? ""
        let period =
            [
                usage.fromDatetime.map { Format.dateTime($0.date, timeZone) },
                usage.toDatetime.map {
                    Format.dateTime($0.date, timeZone)
                },
            ]
            .compactMap { $0 }.joined(separator: " \(symbols.dash) ")
        line(
            [label("Period"), Span(period.isEmpty ? symbols.dash : period)]
                + (currency.isEmpty ? [] : [Span(" \(symbols.dot) \(currency)", theme.dim)]), in: inner, y: y)
        y += 1
        let sinceOpen = pane.first[subscription].map { UsageChange.between($0, reading) }
        let sinceTest = pane.beforeLastTest[subscription].map { UsageChange.between($0, reading) }
        var total = [
            label("Total"), Span(UsageText.money(cents: usage.totalAmountCents, currency: currency), theme.title),
        ]
        if let sinceOpen {
            total.append(
                Span(
                    "  \(UsageText.signedMoney(cents: sinceOpen.totalAmountCents, currency: currency)) since open",
                    sinceOpen.totalAmountCents == 0 ? theme.dim : theme.ok))
        }
        if let sinceTest {
            total.append(
                Span(
                    "  \(UsageText.signedMoney(cents: sinceTest.totalAmountCents, currency: currency)) since the last test",
                    sinceTest.totalAmountCents == 0 ? theme.dim : theme.ok))
        }
        line(total, in: inner, y: y)
        y += inner.height >= 20 ? 2 : 1

        // Charges.
        let wide = inner.width >= 110
        let widths = wide ? [24, 20, 8, 12, 8, 14, 11, 11] : [20, 11, 7, 12, 10, 10]
        let headers =
            wide
            ? ["METRIC", "NAME", "AGG", "UNITS", "EVENTS", "AMOUNT", "+OPEN", "+TEST"]
            : ["METRIC", "UNITS", "EVENTS", "AMOUNT", "+OPEN", "+TEST"]
        let right: Set<Int> = wide ? [3, 4, 5, 6, 7] : [1, 2, 3, 4, 5]
        let maxX = inner.maxX - 1
        drawRow(headers, widths, styles: [theme.header], x: inner.x + 3, y: y, gap: 1, rightAligned: right, maxX: maxX)
        y += 1
        let testLines = usageTestLines()
        let rows = max(1, inner.maxY - y - (testLines.isEmpty ? 0 : min(testLines.count, 4) + 2))
        if usage.chargesUsage.isEmpty {
            line([Span("no charges on this subscription's plan", theme.dim)], in: inner, y: y, indent: 3)
            y += 1
        } else {
            let charges = usage.chargesUsage
            let selected = min(pane.selection, charges.count - 1)
            let top = max(0, min(selected - rows + 1, charges.count - rows))
            for (offset, charge) in charges[top..<min(charges.count, top + rows)].enumerated() {
                let index = top + offset
                let open = sinceOpen?.charge(charge.lineKey)
                let test = sinceTest?.charge(charge.lineKey)
                func delta(_ change: ChargeChange?) -> String {
                    guard let change else { return symbols.dash }
                    return change.units == 0 ? "0" : UsageText.signedUnits(change.units)
                }
                let units = charge.unitsValue.map(UsageText.units) ?? charge.units
                let amount = UsageText.money(cents: charge.amountCents, currency: charge.amountCurrency ?? currency)
                let texts =
                    wide
                    ? [
                        charge.billableMetric.code, charge.billableMetric.name,
                        Self.aggregationLabel(charge.billableMetric.aggregationType), units,
                        Format.grouped(charge.eventsCount), amount, delta(open), delta(test),
                    ]
                    : [
                        charge.billableMetric.code, units, Format.grouped(charge.eventsCount), amount, delta(open),
                        delta(test),
                    ]
                let moved = (test?.units ?? 0) != 0 || (open?.units ?? 0) != 0
                var styles: [Style] = Array(repeating: Style.plain, count: texts.count)
                styles[texts.count - 2] = (open?.units ?? 0) != 0 ? theme.ok : theme.dim
                styles[texts.count - 1] = (test?.units ?? 0) != 0 ? theme.ok : theme.dim
                if wide { styles[1] = theme.dim }
                drawRow(
                    texts, widths, styles: styles, x: inner.x + 3, y: y, gap: 1, rightAligned: right, maxX: maxX)
                if moved { grid.put(symbols.pointer, x: inner.x + 1, y: y, style: theme.ok) }
                if index == selected && state.focusedPane == .usage {
                    grid.patchStyle(Rect(x: inner.x, y: y, width: inner.width, height: 1), with: theme.selection)
                }
                y += 1
            }
        }
        guard !testLines.isEmpty, y + 1 < inner.maxY else { return }
        y += 1
        line([Span("Last test events on this usage", theme.title)], in: inner, y: y)
        y += 1
        for (text, style) in testLines where y < inner.maxY {
            y += paragraph(text, style, in: inner, y: y, indent: 3)
        }
    }

    /// One line per test event followed onto the shown subscription's usage, newest first.
    func usageTestLines() -> [(String, Style)] {
        guard let subscription = state.usageSubscription else { return [] }
        let expectations = state.usagePane.expectations.values
            .filter { $0.subscriptionID == subscription }
            .sorted { ($0.sentAt, $0.transactionID) > ($1.sentAt, $1.transactionID) }
        return expectations.prefix(4).map { expectation in
            let text = usageCountText(expectation.count)
            return ("\(text.mark) \(expectation.transactionID)  \(text.words)", text.style)
        }
    }

    /// A count mark in words: its mark, text and style.
    func usageCountText(_ count: UsageCount) -> (mark: String, words: String, style: Style) {
        switch count {
        case .awaitingDelivery:
            return (symbols.ellipsis, "waiting for delivery before counting", theme.dim)
        case .waiting(let since):
            return (
                symbols.ellipsis,
                "delivered; waiting for its charge to move (\(Format.age(state.now.timeIntervalSince(since))) of "
                    + "\(Format.age(state.usageCountTimeout)))", theme.warning
            )
        case .counted(let change, let at):
            return (
                symbols.check,
                "counted \(symbols.dot) \(change.line.billableMetric.code) \(UsageText.signedUnits(change.units)) units, "
                    + "+\(Format.grouped(change.eventsCount)) event\(change.eventsCount == 1 ? "" : "s") at "
                    + Format.clock(at, timeZone), theme.ok
            )
        case .notCounted(let reason, _):
            return (symbols.cross, reason, theme.error)
        }
    }

    static func aggregationLabel(_ type: AggregationType) -> String {
        switch type {
        case .countAgg: "count"
        case .sumAgg: "sum"
        case .maxAgg: "max"
        case .uniqueCountAgg: "unique"
        case .weightedSumAgg: "weighted"
        case .latestAgg: "latest"
        default: type.rawValue
        }
    }

    /// What the operator can do about Lago's refusal of a usage read.
    static func usageErrorHint(_ message: String) -> String? {
        if message.contains("no_active_subscription") {
            return "the subscription is not active in Lago; s picks another"
        }
        if message.contains("customer_not_found") { return "its customer is not in Lago" }
        if message.contains("404") { return "no such subscription in Lago; s picks another" }
        return nil
    }
}
