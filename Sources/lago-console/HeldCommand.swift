import ArgumentParser
import Foundation
import LagoEngine
import LagoSession

/// `lago-console held list|release|discard`: the events kept out of delivery as unbillable (`billing.unbillable =
/// hold`).
struct HeldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "held", abstract: "List, release or discard events held because Lago would not bill them.",
        subcommands: [List.self, Release.self, Discard.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List held events with the reasons.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            let held = try await withHeadlessEngine(global: global, start: false) { session in
                try await session.control.heldEvents(limit: limit, offset: 0).map(HeldEventReport.init)
            }
            if json { return try printJSON(held) }
            if held.isEmpty { print("no held events") }
            for event in held { print(event.line) }
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Queue a held event for delivery, its bytes unchanged (fix the code or subscription in Lago first).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The held event's id (from list).") var id: Int64
        @Flag(help: "Print the result as JSON.") var json = false

        func run() async throws {
            let release = try await withHeadlessEngine(global: global, start: false) { session in
                do {
                    return try await session.control.releaseHeld(id: id)
                } catch {
                    throw ConsoleFailure(description: "\(error)")
                }
            }
            if json { return try printJSON(release) }
            let verdict =
                release.billing.status == .unbillable
                ? "still unbillable: " + release.billing.reasons.map(\.rawValue).joined(separator: ", ")
                : release.billing.status.rawValue
            print("queued: \(release.transactionID) (\(verdict))")
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a held event for good (it is never sent).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The held event's id (from list).") var id: Int64
        @Flag(help: "Required: confirms the event will never be sent.") var yes = false

        func run() async throws {
            guard yes else { throw ValidationError("discarding loses the event for good: add --yes to confirm") }
            try await withHeadlessEngine(global: global, start: false) { session in
                do {
                    try await session.control.discardHeld(id: id)
                } catch {
                    throw ConsoleFailure(description: "\(error)")
                }
            }
            print("discarded held event \(id)")
        }
    }
}
