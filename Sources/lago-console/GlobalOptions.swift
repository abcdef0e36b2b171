import ArgumentParser

/// Options every `lago-console` command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The config file to use instead of $XDG_CONFIG_HOME/lago-console/config.toml.",
            valueName: "path"
        )
    )
    var config: String?
}
