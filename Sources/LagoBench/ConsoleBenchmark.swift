public import ConsoleUI
public import Foundation
import LagoAPI
import LagoUsage

/// Measures rendering speed, for `lago-console bench`.
public enum ConsoleBenchmark {
    /// Renders `frames` frames of a console at `width` × `height` holding `events` events and returns the
    /// average milliseconds per frame (state building excluded). Each frame changes the state a little (a tick
    /// and a new event), as in live use.
    public static func renderFrame(width: Int = 200, height: Int = 60, events: Int = 10_000, frames: Int = 100)
        -> Double
    {
        let start = Date(timeIntervalSince1970: 1_767_225_600)
        var state = sampleState(width: width, height: height, events: events, now: start)
        let clock = ContinuousClock()
        var checksum = 0
        let elapsed = clock.measure {
            for frame in 0..<max(1, frames) {
                let now = start.addingTimeInterval(Double(frame))
                _ = state.handle(.tick(now: now))
                _ = state.handle(.eventLifecycle([benchmarkUpdate(index: events + frame, time: now)]))
                checksum &+= render(state).cells.count
            }
        }
        precondition(checksum > 0)
        return elapsed / .milliseconds(1) / Double(max(1, frames))
    }

    /// A state like a busy console: `events` events in history, some dead letters and retries.
    public static func sampleState(width: Int, height: Int, events: Int, now: Date) -> AppState {
        var options = ConsoleOptions(
            historyCapacity: 10_000, timeZone: TimeZone(identifier: "UTC")!,
            connection: ConnectionInfo(
                url: "https://api.getlago.com", isSandbox: false, maskedKey: "••••1a2b", auth: .ok, link: .connected),
            defaultSubscription: "sub_acme_pro")
        options.mappings = [:]
        var state = AppState(size: TerminalSize(width: width, height: height), now: now, options: options)
        var updates: [EventUpdate] = []
        updates.reserveCapacity(events)
        for index in 0..<events {
            updates.append(benchmarkUpdate(index: index, time: now.addingTimeInterval(Double(index - events) / 10)))
        }
        _ = state.handle(.eventLifecycle(updates))
        _ = state.handle(
            .stats(
                QueueStats(
                    queued: 12, inFlight: 50, delivered: events, eventsPerSecond: (0..<60).map { Double($0 % 13) },
                    latencyP50: .milliseconds(140), latencyP99: .milliseconds(870))))
        return state
    }

    static func benchmarkUpdate(index: Int, time: Date) -> EventUpdate {
        let fields = CanonicalField.allCases
        return EventUpdate(
            transactionID: "tx_\(index)", code: fields[index % fields.count].defaultMetricCode,
            externalSubscriptionID: "sub_\(index % 7)",
            properties: ["tokens": .integer(Int64(index % 5000)), "model": "gpt-4o"],
            state: index % 97 == 0 ? .dead : .delivered, time: time, httpStatus: 200)
    }
}
