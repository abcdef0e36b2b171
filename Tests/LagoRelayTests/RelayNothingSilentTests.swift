import Foundation
import IngestConformance
import LagoAPI
@testable import LagoEngine
import LagoRelay
import LagoSandbox
import Testing

/// Issue #11 point 8, "nothing silent": every 4xx/5xx the relay's port answers is Lago-shaped JSON, oversized
/// bodies are refused before they are read, bodies in memory are bounded, and a spool that cannot be written is
/// named as the cause.
@Suite("Relay answers nothing silently")
struct RelayNothingSilentTests {
    static let lagoJSON = "application/json; charset=utf-8"

    /// A raw request, the status and the `error` of the Lago-shaped answer it must get.
    struct RawCase: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: String
        var status: Int
        var error: String
        var code: String? = nil
        var testDescription: String { name }
    }

    static let auth = "Authorization: Bearer \(testAPIKey)\r\n"
    static let cases: [RawCase] = [
        RawCase(name: "garbage request line", bytes: "HELLO THERE\r\n\r\n", status: 400, error: "Bad Request"),
        RawCase(
            name: "header line without a colon",
            bytes: "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", status: 400,
            error: "Bad Request"),
        RawCase(
            name: "non-numeric Content-Length",
            bytes: "POST /api/v1/events HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: ten\r\n\r\n", status: 400,
            error: "Bad Request"),
        RawCase(
            name: "Content-Length beyond 64 bits",
            bytes: "POST /api/v1/events HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 99999999999999999999999\r\n\r\n",
            status: 400, error: "Bad Request"),
        RawCase(
            name: "Content-Length and chunked together",
            bytes: "POST /api/v1/events HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 3\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", status: 400, error: "Bad Request"),
        RawCase(
            name: "a head of 100 kB",
            bytes: "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n",
            status: 400, error: "Bad Request"),
        RawCase(
            name: "a malformed chunk mid-body",
            bytes: "POST /api/v1/events HTTP/1.1\r\nHost: x\r\n\(auth)Content-Type: application/json\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"eve\r\nZZ\r\nnot a chunk\r\n", status: 400,
            error: "Bad Request"),
        RawCase(
            name: "GET on the events route",
            bytes: "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\(auth)\r\n", status: 404, error: "Not Found",
            code: "resource_not_found"),
        RawCase(
            name: "PUT on the batch route with a body",
            bytes: "PUT /api/v1/events/batch HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 2\r\n\r\n{}", status: 404,
            error: "Not Found", code: "resource_not_found"),
        RawCase(
            name: "DELETE on the events route",
            bytes: "DELETE /api/v1/events HTTP/1.1\r\nHost: x\r\n\(auth)\r\n", status: 404, error: "Not Found",
            code: "resource_not_found"),
        RawCase(
            name: "unknown path", bytes: "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", status: 404, error: "Not Found",
            code: "resource_not_found"),
        RawCase(name: "unknown method", bytes: "FETCH /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n", status: 400, error: "Bad Request"),
        RawCase(
            name: "QUERY method", bytes: "QUERY /api/v1/events HTTP/1.1\r\nHost: x\r\n\(auth)\r\n", status: 404,
            error: "Not Found", code: "resource_not_found"),
        RawCase(
            name: "HTTP/1.0 without Host", bytes: "GET /api/v1/events HTTP/1.0\r\n\r\n", status: 404, error: "Not Found",
            code: "resource_not_found"),
        RawCase(name: "HTTP/2 preface", bytes: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 400, error: "Bad Request"),
        RawCase(
            name: "Expect 100-continue over the limit",
            bytes: "POST /api/v1/events HTTP/1.1\r\nHost: x\r\n\(auth)Expect: 100-continue\r\n"
                + "Content-Length: 50000000\r\n\r\n", status: 413, error: "Payload Too Large"),
        RawCase(
            name: "no token", bytes: "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
            status: 401, error: "Unauthorized"),
    ]

    @Test(arguments: cases)
    func whatTheServerAnswersOnItsOwnIsLagoShapedJSON(_ rawCase: RawCase) async throws {
        try await withRelayStack { stack in
            let connection = try await RawConnection.open(port: stack.port)
            defer { connection.close() }
            _ = try await connection.send(rawCase.bytes)
            let answer = try await connection.receiveResponse(timeout: .seconds(10))
            try #require(answer.isCompleteResponse, "no complete answer: \(answer.text.prefix(300))")
            #expect(answer.status == rawCase.status, "\(answer.text.prefix(300))")
            #expect(answer.header("content-type") == Self.lagoJSON)
            var expected: [String: JSONValue] = ["status": .integer(Int64(rawCase.status)), "error": .string(rawCase.error)]
            if let code = rawCase.code { expected["code"] = .string(code) }
            #expect(try JSONValue.parse(Data(answer.bodyBytes)) == .object(expected))

            // The relay still serves.
            let after = try await stack.client.post(
                "/api/v1/events", RelayConnectionTests.goodEvent.replacingOccurrences(of: "TX", with: "after"))
            #expect(after.status == 200)
        }
    }

    @Test func aHeadRequestGetsTheHeadOfTheLagoAnswerAndTheConnectionStaysUsable() async throws {
        try await withRelayStack { stack in
            let connection = try await RawConnection.open(port: stack.port)
            defer { connection.close() }
            _ = try await connection.send(
                "HEAD /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let exchange = try await connection.receiveUntilClosed(timeout: .seconds(10))
            let text = exchange.text
            // Two answers, the first without a body: the second starts right after the first head.
            let heads = text.components(separatedBy: "HTTP/1.1 404").count - 1
            #expect(heads == 2, "\(text)")
            #expect(text.hasSuffix(#"{"status":404,"error":"Not Found","code":"resource_not_found"}"#), "\(text)")
        }
    }

    @Test func aDeclaredBodyOverTheLimitIsRefusedBeforeAnyByteOfItIsSent() async throws {
        try await withRelayStack(maxBodyBytes: 64 << 10) { stack in
            let connection = try await RawConnection.open(port: stack.port)
            defer { connection.close() }
            let start = ContinuousClock.now
            _ = try await connection.send(RelayConnectionTests.head(contentLength: 10_000_000_000))
            // No body byte is ever sent: the answer must not wait for one.
            let answer = try await connection.receiveResponse(timeout: .seconds(5))
            try #require(answer.isCompleteResponse, "no answer within 5 s: \(answer.text)")
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(answer.status == 413)
            #expect(answer.header("content-type") == Self.lagoJSON)
            #expect(try JSONValue.parse(Data(answer.bodyBytes)) == ["status": 413, "error": "Payload Too Large"])
            let stats = await stack.engine.stats()
            #expect(stats.pending == 0)
        }
    }

    @Test func aConnectionAnsweredBeforeItsBodyIsClosedWhenTheBodyDoesNotFollow() async throws {
        try await withRelayStack(idleTimeout: .seconds(1), maxBodyBytes: 64 << 10) { stack in
            let connection = try await RawConnection.open(port: stack.port)
            defer { connection.close() }
            _ = try await connection.send(RelayConnectionTests.head(contentLength: 10_000_000_000) + "{\"ev")
            let answer = try await connection.receiveResponse(timeout: .seconds(5))
            #expect(answer.status == 413)
            // A trickle of the body keeps Hummingbird's idle timer alive; the deadline closes the connection.
            var open = true
            let deadline = ContinuousClock.now + .seconds(10)
            while open && ContinuousClock.now < deadline {
                open = try await connection.send("x")
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(!open, "still reading a body answered long ago")
        }
    }

    /// A batch of `count` valid events padded with spaces to exactly `bytes` bytes.
    static func paddedBatch(prefix: String, count: Int, bytes: Int) -> String {
        let events = (0..<count).map {
            #"{"transaction_id":"\#(prefix)-\#($0)","external_subscription_id":"sub_sandbox","code":"llm_input_tokens","timestamp":1764000000,"properties":{"value":1}}"#
        }
        let body = #"{"events":[\#(events.joined(separator: ","))]"#
        return body + String(repeating: " ", count: bytes - body.utf8.count - 1) + "}"
    }

    static func head(path: String = "/api/v1/events/batch", contentLength: Int) -> String {
        "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(testAPIKey)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(contentLength)\r\n\r\n"
    }

    @Test func bodiesPastTheBudgetGet503AtOnceAndOnlyTheAcceptedAreDeliveredOnce() async throws {
        let bodyBytes = 40_000
        let admitted = 3
        let clients = 8
        try await withRelayStack(maxBodyBytes: 64 << 10, bodyBudgetBytes: admitted * bodyBytes) { stack in
            var connections: [RawConnection] = []
            for _ in 0..<clients { connections.append(try await RawConnection.open(port: stack.port)) }
            defer { for connection in connections { connection.close() } }
            let bodies = (0..<clients).map { Self.paddedBatch(prefix: "c\($0)", count: 10, bytes: bodyBytes) }
            // Every head first, no body yet: the budget admits exactly `admitted` of them.
            for connection in connections { _ = try await connection.send(Self.head(contentLength: bodyBytes)) }
            let answers = try await withThrowingTaskGroup(of: (Int, RawExchange).self) { group in
                for (index, connection) in connections.enumerated() {
                    group.addTask { (index, try await connection.receiveResponse(timeout: .seconds(20))) }
                }
                var answers: [Int: RawExchange] = [:]
                // The refused ones answer without their body.
                while answers.count < clients - admitted, let (index, answer) = try await group.next() {
                    answers[index] = answer
                }
                // Now every client sends its body, the refused ones too (clients do): those bytes are discarded.
                for index in 0..<clients {
                    _ = try await connections[index].send(bodies[index])
                }
                for try await (index, answer) in group { answers[index] = answer }
                return answers
            }
            let refused = answers.filter { $0.value.status == 503 }.map(\.key).sorted()
            let accepted = answers.filter { $0.value.status == 200 }.map(\.key).sorted()
            #expect(refused.count == clients - admitted, "\(answers.mapValues { $0.text.prefix(80) })")
            #expect(accepted.count == admitted)
            for index in refused {
                let answer = answers[index]!
                #expect(answer.header("retry-after") == "1")
                #expect(answer.header("content-type") == Self.lagoJSON)
                #expect(try JSONValue.parse(Data(answer.bodyBytes)) == ["status": 503, "error": "Service Unavailable"])
            }

            let flushed = await stack.engine.flush(deadline: .seconds(20))
            #expect(flushed.pending == 0 && flushed.dead == 0)
            let stored = stack.sandbox.events().map(\.transactionID)
            let expected = accepted.flatMap { client in (0..<10).map { "c\(client)-\($0)" } }
            #expect(stored.sorted() == expected.sorted(), "each accepted event once, no refused one")

            // The budget came back: as many bodies again, one after the other, are all taken.
            for round in 0..<(admitted + 2) {
                let answer = try await stack.client.post(
                    "/api/v1/events/batch", Self.paddedBatch(prefix: "seq\(round)", count: 1, bytes: bodyBytes))
                #expect(answer.status == 200)
            }
        }
    }

    @Test func aBodyThatFailsMidwayGivesItsShareOfTheBudgetBack() async throws {
        let bodyBytes = 40_000
        try await withRelayStack(maxBodyBytes: bodyBytes, bodyBudgetBytes: bodyBytes) { stack in
            // Two heads, no body: one holds the whole budget, the other is refused at once (whichever came second).
            let first = try await RawConnection.open(port: stack.port)
            let second = try await RawConnection.open(port: stack.port)
            defer { first.close(); second.close() }
            _ = try await first.send(Self.head(contentLength: bodyBytes))
            _ = try await second.send(Self.head(contentLength: bodyBytes))
            let status = try await withThrowingTaskGroup(of: (Int, RawExchange).self) { group in
                group.addTask { (0, try await first.receiveResponse(timeout: .seconds(20))) }
                group.addTask { (1, try await second.receiveResponse(timeout: .seconds(20))) }
                let (refusedIndex, busy) = try await group.next()!
                #expect(busy.status == 503 && busy.header("retry-after") == "1")
                let holder = refusedIndex == 0 ? second : first
                _ = try await holder.send(String(repeating: " ", count: 100))

                // A chunked body is counted as it arrives: refused too.
                let chunked = try await RawConnection.open(port: stack.port)
                defer { chunked.close() }
                _ = try await chunked.send(
                    "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(testAPIKey)\r\n"
                        + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"event\":{\"tra\r\n")
                let chunkedBusy = try await chunked.receiveResponse(timeout: .seconds(10))
                #expect(chunkedBusy.status == 503 && chunkedBusy.header("retry-after") == "1")

                // The holder goes away mid-body (which also ends its receive): its share comes back.
                holder.close()
                let body = Self.paddedBatch(prefix: "later", count: 1, bytes: bodyBytes)
                var status = 0
                let deadline = ContinuousClock.now + .seconds(10)
                while status != 200 && ContinuousClock.now < deadline {
                    status = try await stack.client.post("/api/v1/events/batch", body).status
                }
                try await group.waitForAll()
                return status
            }
            #expect(status == 200)
            _ = await stack.engine.flush(deadline: .seconds(10))
            #expect(stack.sandbox.events().map(\.transactionID) == ["later-0"])
        }
    }

    @Test func aSpoolThatCannotBeWrittenAnswers503AndTheEngineNamesTheCause() async throws {
        try await withRelayStack { stack in
            // Nothing is delivered (deliveries would free pages): the appends alone meet the cap.
            stack.engine.pause()
            try await stack.engine.limitSpoolGrowth(extraPages: 0)
            var status = 200
            var index = 0
            // Each batch takes new pages; one soon fails with SQLite's "database or disk is full".
            while status == 200 && index < 50 {
                status = try await stack.client.post(
                    "/api/v1/events/batch", Self.paddedBatch(prefix: "full\(index)", count: 100, bytes: 30_000)
                ).status
                index += 1
            }
            #expect(status == 503)
            let stats = await stack.engine.stats()
            #expect(stats.spoolError == "spool write failed: disk full (\(stack.engine.configuration.spoolPath))")

            try await stack.engine.limitSpoolGrowth(extraPages: nil)
            let again = try await stack.client.post(
                "/api/v1/events", RelayConnectionTests.goodEvent.replacingOccurrences(of: "TX", with: "room"))
            #expect(again.status == 200)
            #expect(await stack.engine.stats().spoolError == nil)
        }
    }
}
