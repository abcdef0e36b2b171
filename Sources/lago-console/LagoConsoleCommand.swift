import ArgumentParser
import LagoAPI

/// The `lago-console` entry point: wiring only; every capability lives in the core modules.
@main
struct LagoConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lago-console",
        abstract: "A terminal operator console for Lago usage billing.",
        version: LagoConsoleVersion.current,
        subcommands: [
            ConsoleCommand.self, ConfigCommand.self, SandboxCommand.self, ServeCommand.self, SendCommand.self,
            FlushCommand.self, StatusCommand.self, DeadLettersCommand.self, HeldCommand.self, VerifyCommand.self,
            CheckCommand.self, UsageCommand.self,
            BenchCommand.self, EngineChildCommand.self,
        ],
        defaultSubcommand: ConsoleCommand.self
    )

    @OptionGroup var global: GlobalOptions
}
