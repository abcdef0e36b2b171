import ArgumentParser
import Foundation
import LagoAPI

/// The `lago-console` entry point: wiring only; every capability lives in the core modules.
@main
struct LagoConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lago-console",
        abstract: "A terminal operator console for Lago usage billing.",
        discussion: """
            Exit codes: 0 ok; 1 failed (events left pending or dead-lettered, unbillable events, a failed verify, \
            a config file that does not validate); 2 usage (a bad flag or argument, no subscription to read, no \
            terminal for the console); 3 Lago unreachable or refusing (usage); 130 interrupted (Ctrl-C in the \
            console).
            """,
        version: LagoConsoleVersion.current,
        subcommands: [
            ConsoleCommand.self, ConfigCommand.self, SandboxCommand.self, ServeCommand.self, SendCommand.self,
            FlushCommand.self, StatusCommand.self, DeadLettersCommand.self, HeldCommand.self, VerifyCommand.self,
            CheckCommand.self, UsageCommand.self, TailCommand.self,
            BenchCommand.self, EngineChildCommand.self,
        ],
        defaultSubcommand: ConsoleCommand.self
    )

    @OptionGroup var global: GlobalOptions

    /// Parses and runs the command; a usage error (bad flag, argument or value) exits 2, as the README documents,
    /// rather than swift-argument-parser's EX_USAGE (64).
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ValidationError {
            // Input found wrong once read (a file's lines, an argument checked against the config): the message
            // names what and where; the usage line would only repeat the flags.
            FileHandle.standardError.write(Data("Error: \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            exit(withError: error)
        }
    }
}
