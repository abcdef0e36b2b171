import Foundation
import LagoSandbox
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `lago-console serve` as a long-running relay: an unmodified Lago client feeds it, headless commands and the
/// console attach to its engine over the control API, and quitting the console leaves it delivering.
@Suite("serve and attach (real binaries)", .serialized)
struct ServeAttachTests {
    /// A running `lago-console serve` child process.
    final class ServeProcess: Sendable {
        let process: Process
        let logPath: String
        let exited: Task<Int32, Never>

        /// `environment` is added to this process's own.
        init(arguments: [String], logPath: String, environment: [String: String] = [:]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try lagoConsoleBinary())
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            process.standardInput = FileHandle.nullDevice
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardOutput = log
            process.standardError = log
            let (stream, continuation) = AsyncStream<Int32>.makeStream()
            process.terminationHandler = {
                continuation.yield($0.terminationStatus)
                continuation.finish()
            }
            try process.run()
            self.process = process
            self.logPath = logPath
            self.exited = Task { await stream.first { _ in true } ?? -1 }
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        func terminate() async -> Int32 {
            if process.isRunning { process.terminate() }
            return await exited.value
        }
    }

    @Test func anOfficialClientFeedsServeAndTheConsoleAttachesAndLeavesItRunning() async throws {
        let home = try E2EHome("lc-serve")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(
                for: sandbox, engine: ["flush_interval_seconds = 0.05"], relay: ["token = \"relay-secret-token\""])
            let serve = try ServeProcess(arguments: ["--config", config, "serve"], logPath: home.path("serve.log"))
            // serve announces its control API in a private file next to the spool.
            let discovery = home.spool + ".control.json"
            let endpoint = try await home.discovery()
            let relayURL = try #require(endpoint["relayURL"] as? String, "no discovery file; serve log:\n\(serve.log)")
            let controlURL = try #require(endpoint["url"] as? String)
            let permissions = try FileManager.default.attributesOfItem(atPath: discovery)[.posixPermissions]
            #expect((permissions as? NSNumber)?.intValue == 0o600)
            #expect(
                !(String(data: FileManager.default.contents(atPath: discovery)!, encoding: .utf8)!)
                    .contains(sandbox.apiKey), "the real API key is never written to the discovery file")

            // An unmodified official client posts through the relay.
            let script = packageRoot.appendingPathComponent("Tests/Interop/relay_client.py").path
            var clientRan = false
            if let python = which("python3") {
                let posted = try await runProgram(python, [script, relayURL, "relay-secret-token", "py", "250"])
                if posted.status == 2 && !isCI {
                    // lago_python_client is not installed here (CI installs it and makes this a failure).
                } else {
                    #expect(posted.status == 0, "\(posted.output)")
                    clientRan = true
                }
            }
            // Headless commands attach to serve's engine instead of failing on the locked spool.
            let sent = try await runLagoConsole(["--config", config, "send", "--usage", "input=7", "--wait", "--json"])
            #expect(sent.status == 0, "\(sent.output)")
            let flushed = try await runLagoConsole(["--config", config, "flush", "--json"])
            #expect(flushed.status == 0, "\(flushed.output)")
            let stored = sandbox.events().map(\.transactionID)
            let relayed = stored.filter { $0.hasPrefix("py-") }
            if clientRan {
                #expect(relayed.count == 250 && Set(relayed).count == 250, "each relayed event exactly once")
            }

            // The console attaches: ATTACHED badge, live events from serve's engine, flush, quit.
            let session = try TmuxSession.start(
                [try lagoConsoleBinary(), "--config", config], width: 120, height: 40,
                environment: home.environment)
            defer { session.kill() }
            try await session.waitFor(text: "ATTACHED")
            // `config set` of a metric code reaches the running serve at once.
            let set = try await runLagoConsole([
                "--config", config, "config", "set", "metric_codes.output", "e2e_output",
            ])
            let pid = serve.process.processIdentifier
            #expect(
                set.status == 0 && set.output.contains("lago-console serve (pid \(pid)) uses it now"), "\(set.output)")
            let live = try await runLagoConsole(["--config", config, "send", "--usage", "output=9", "--wait", "--json"])
            #expect(live.status == 0, "\(live.output)")
            #expect(sandbox.events().contains { $0.code == "e2e_output" && live.output.contains($0.transactionID) })
            try await session.waitFor(text: "delivered")
            try session.send("f")
            try await session.waitFor(text: "flushed: delivered")

            // A default subscription set from the attached console applies to serve's relay at once.
            try sandbox.addSubscription(
                SandboxSubscription(externalID: "sub_attached", externalCustomerID: SandboxSeed.customerExternalID))
            try session.send(":")
            try session.send("sub sub_attached", literal: true)
            try session.send("Enter")
            try await session.waitFor(text: "default subscription: sub_attached")
            if let python = which("python3") {
                let post = """
                    import sys, urllib.request
                    body = b'{"event":{"transaction_id":"no-sub-1","code":"llm_input_tokens","properties":{"value":1}}}'
                    request = urllib.request.Request(sys.argv[1] + "/events", data=body, method="POST", headers={
                        "Authorization": "Bearer relay-secret-token", "Content-Type": "application/json"})
                    print(urllib.request.urlopen(request).status)
                    """
                let posted = try await runProgram(python, ["-c", post, relayURL])
                #expect(posted.output.contains("200"), "\(posted.output)")
                _ = try await runLagoConsole(["--config", config, "flush", "--json"])
                let stored = sandbox.events().first { $0.transactionID == "no-sub-1" }
                #expect(stored?.externalSubscriptionID == "sub_attached", "\(String(describing: stored))")
            }
            try session.send("q")
            // The console asks to flush when its last stats (polled 4 times a second) still count the relayed event
            // as pending: quit without flushing (serve delivers it anyway).
            let quitting = try await session.waitFor("exit or the quit prompt") {
                $0.contains("[exit 0]") || $0.contains("before quitting?")
            }
            if quitting.contains("before quitting?") { try session.send("n") }
            try await session.waitFor(text: "[exit 0]")

            // serve kept running and still answers; the metrics saw every event.
            #expect(serve.process.isRunning, "serve log:\n\(serve.log)")
            let status = try await runLagoConsole(["--config", config, "status", "--json"])
            #expect(status.status == 0 && status.output.contains(#""queued" : 0"#), "\(status.output)")
            #expect(status.output.contains(#""state" : "running""#), "status names the running serve: \(status.output)")
            let text = try await runLagoConsole(["--config", config, "status"])
            #expect(text.output.contains("serve    pid \(serve.process.processIdentifier) · running"), "\(text.output)")
            if let python = which("python3") {
                let metrics = try await runProgram(
                    python,
                    [
                        "-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
                        controlURL + "/metrics",
                    ])
                #expect(metrics.output.contains("lago_engine_events_delivered_total"), "\(metrics.output)")
                if clientRan {
                    // 250 events from the Python client and one from the urllib post, all through the relay.
                    #expect(metrics.output.contains("lago_relay_events_accepted_total 251"), "\(metrics.output)")
                }
                #expect(metrics.output.contains(#"lago_relay_requests_total{status="200"}"#), "\(metrics.output)")
            }

            // SIGTERM: graceful stop, discovery file removed.
            #expect(await serve.terminate() == 0, "serve log:\n\(serve.log)")
            #expect(!FileManager.default.fileExists(atPath: discovery))
        }
    }

    /// A real full disk under serve (a 1 MiB tmpfs, root only; nothing to test where the mount is refused): the
    /// relay answers 503, and `status` names the cause and the file, in text and JSON.
    @Test(
        .enabled(
            if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount") && which("python3") != nil))
    func aFullDiskUnderServeIsNamedByStatus() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("lc-full-\(UUID().uuidString)")
        let tiny = home.appendingPathComponent("tiny").path
        try FileManager.default.createDirectory(atPath: tiny, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let mounted = try await runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", tiny])
        guard mounted.status == 0 else {
            print("mount refused (\(mounted.status)): \(mounted.output)")
            return
        }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = ["-l", tiny]
            try? umount.run()
            umount.waitUntilExit()
        }
        try await Sandbox.withRunning { sandbox in
            let spool = tiny + "/spool.sqlite"
            let config = home.appendingPathComponent("config.toml").path
            try """
            [lago]
            api_url = "\(sandbox.rootURL.absoluteString)"
            api_key = "\(sandbox.apiKey)"
            default_subscription_id = "sub_sandbox"
            [engine]
            spool_path = "\(spool)"
            [relay]
            listen = "127.0.0.1:0"
            control_listen = "127.0.0.1:0"
            """.write(toFile: config, atomically: true, encoding: .utf8)
            // Lago is down: nothing is delivered, so the spool only grows.
            sandbox.faults.outage(for: .seconds(3600), mode: .status503)
            let serve = try ServeProcess(
                arguments: ["--config", config, "serve"], logPath: home.appendingPathComponent("serve.log").path)
            var relayURL: String?
            let deadline = ContinuousClock.now + .seconds(30)
            while relayURL == nil && ContinuousClock.now < deadline {
                if let data = FileManager.default.contents(atPath: spool + ".control.json"),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                {
                    relayURL = object["relayURL"] as? String
                } else {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            let relay = try #require(relayURL, "serve log:\n\(serve.log)")
            // Batches of 20 kB events until the relay refuses one (at most 200).
            let post = """
                import sys, urllib.request, urllib.error
                for n in range(200):
                    events = ",".join('{"transaction_id":"full-%d-%d","code":"llm_input_tokens","properties":{"value":1,"note":"%s"}}' % (n, i, "x" * 20000) for i in range(5))
                    request = urllib.request.Request(sys.argv[1] + "/events/batch", data=('{"events":[%s]}' % events).encode(), method="POST", headers={"Authorization": "Bearer k", "Content-Type": "application/json"})
                    try:
                        urllib.request.urlopen(request)
                    except urllib.error.HTTPError as error:
                        print(error.code, error.read().decode())
                        break
                """
            let posted = try await runProgram("/usr/bin/env", ["python3", "-c", post, relay])
            #expect(posted.output.contains(#"503 {"status":503,"error":"Service Unavailable"}"#), "\(posted.output)")

            let expected = "spool write failed: disk full (\(spool))"
            let json = try await runLagoConsole(["--config", config, "status", "--json"])
            #expect(json.output.contains(#""spool_error" : "\#(expected)""#), "\(json.output)")
            let text = try await runLagoConsole(["--config", config, "status"])
            #expect(text.output.contains("spool    \(expected)"), "\(text.output)")
            #expect(!serve.log.contains(sandbox.apiKey), "the API key is never logged")
            _ = await serve.terminate()
        }
    }
}
