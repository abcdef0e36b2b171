import ArgumentParser
import Foundation
import LagoConfig

/// `lago-console` (the default command): opens the operator console.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Open the operator console (the default command).",
        discussion: """
            With no Lago configured (lago.api_url empty), or with --sandbox, the console starts an embedded \
            Lago sandbox in-process and sends its events there, with demo traffic on by default. Logs go to a \
            file, never onto the screen.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Use the embedded sandbox even when a Lago is configured.")
    var sandbox = false

    @Flag(
        inversion: .prefixedNo,
        help: "Generate realistic LLM usage (default: on with the sandbox, off against a real Lago).")
    var demoTraffic: Bool?

    @Flag(help: "Hide every mutating action (send, flush, edit, replay, discard).")
    var readonly = false

    @Flag(name: .customLong("no-color"), help: "Monochrome: bold and reverse only (also with NO_COLOR set).")
    var noColor = false

    @Option(help: "Where logs go while the console owns the screen.")
    var logFile: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let store = try global.loadConfigStore()
        // Without a terminal there is no console to draw (and keys never come): say so at once, exit 2 (usage),
        // before any sandbox, spool or relay is opened (a broken config file is named first).
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            let which = isatty(STDIN_FILENO) == 1 ? "standard output" : "standard input"
            FileHandle.standardError.write(
                Data(
                    ("Error: the console needs a terminal, and \(which) is not one. Run it in a terminal; for a "
                        + "relay without a screen run `lago-console serve`, and for scripts the headless commands "
                        + "(status, send, flush, check, held, dead-letters).\n").utf8))
            throw ExitCode(2)
        }
        let configuration = store.configuration
        let options = ConsoleRuntime.Options(
            useSandbox: sandbox || configuration.lago.apiURL == nil,
            demoTraffic: demoTraffic,
            readOnly: readonly || configuration.ui.readonly,
            noColor: noColor || configuration.ui.noColor || !(environment["NO_COLOR"] ?? "").isEmpty,
            logFile: logFile ?? ConsoleRuntime.defaultLogFile(environment: environment),
            frameStatsPath: environment["LAGO_CONSOLE_FRAME_STATS"].flatMap { $0.isEmpty ? nil : $0 }
        )
        // Ctrl-C interrupts: 130, as for any program a shell sees stopped by SIGINT (events stay spooled).
        if try await ConsoleRuntime(store: store, options: options).run() { throw ExitCode(130) }
    }
}

/// A failure reported as `Error: <description>` with a non-zero exit, without the usage text.
struct ConsoleFailure: Error, CustomStringConvertible {
    let description: String
}
