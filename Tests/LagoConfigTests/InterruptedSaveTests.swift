import Foundation
import TestSupport
import Testing

@testable import LagoConfig

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kills the real `lago-console config set` with SIGKILL at varied moments and checks that the config file is always
/// either the old or the new one, never partial.
@Suite("Interrupted saves")
struct InterruptedSaveTests {
    /// Starts `lago-console config set --config <path> metric_codes.input <code>`.
    ///
    /// `--config` follows `config set` because the root command does not declare it (yet); with
    /// `@OptionGroup var global: GlobalOptions` on the root, both placements work.
    static func startSet(_ executable: URL, path: String, code: String, home: String) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = ["config", "set", "--config", path, "metric_codes.input", code]
        process.environment = ["HOME": home, "PATH": "/usr/bin:/bin"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test("SIGKILL at any moment of a save leaves the old file or the new one", .timeLimit(.minutes(1)))
    func killDuringSave() async throws {
        let executable = URL(fileURLWithPath: try lagoConsoleBinary())
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config/config.toml"
            try FileManager.default.createDirectory(atPath: "\(folder)/config", withIntermediateDirectories: true)
            // Some unknown content that must survive every save.
            try writeFile(path, "[plugins]\nkeep = \"me\"\n[metric_codes]\ninput = \"code_0\"\n")

            // One uninterrupted run tells how long a save takes here, so the kills can be spread across it.
            let clock = ContinuousClock()
            let started = clock.now
            let first = try Self.startSet(executable, path: path, code: "code_1", home: folder)
            first.waitUntilExit()
            let runTime = clock.now - started
            try #require(
                first.terminationReason == .exit && first.terminationStatus == 0,
                "lago-console config set failed"
            )
            #expect(try self.currentCode(path, home: folder) == "code_1")

            var current = "code_1"
            var killedBeforeExit = 0
            let attempts = 50
            for attempt in 0..<attempts {
                let next = "code_\(attempt + 2)"
                // Varied moments from 0 to 1.15 × the run time, spread deterministically over the attempts and
                // denser towards the end of the run, where the save happens (start-up takes most of the run).
                let fraction = Double((attempt * 37) % attempts) / Double(attempts)
                let delay = runTime * (fraction.squareRoot() * 1.15)
                let process = try Self.startSet(executable, path: path, code: next, home: folder)
                if delay > .zero {
                    try await Task.sleep(for: delay)
                }
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                let exitedCleanly = process.terminationReason == .exit && process.terminationStatus == 0
                if !exitedCleanly {
                    killedBeforeExit += 1
                }

                let code = try self.currentCode(path, home: folder)
                if exitedCleanly {
                    #expect(code == next, "a set that exited 0 must have saved")
                } else {
                    #expect(code == current || code == next, "after kill \(attempt): \(code)")
                }
                #expect(try fileText(path).contains("keep = "), "unknown content lost after kill \(attempt)")
                #expect(try permissions(path) == 0o600)
                current = code
            }
            #expect(killedBeforeExit > 0, "no run was interrupted; the kills came too late to test anything")

            // A last uninterrupted save succeeds and clears any temp file the kills left behind.
            let last = try Self.startSet(executable, path: path, code: "code_final", home: folder)
            last.waitUntilExit()
            #expect(last.terminationStatus == 0)
            #expect(try self.currentCode(path, home: folder) == "code_final")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/config")
            #expect(leftovers == ["config.toml"])
        }
    }

    /// Loads the file as the console would and returns `metric_codes.input`; fails if the file does not load.
    private func currentCode(_ path: String, home: String) throws -> String {
        let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: home))
        return store.configuration.metricCodes[.input]
    }
}
