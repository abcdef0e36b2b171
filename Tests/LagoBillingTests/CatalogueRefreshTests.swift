import Foundation
import LagoAPI
import LagoSandbox
import Logging
import TestSupport
import Testing

@testable import LagoBilling

/// When the catalogue is read: pure decisions at fixed instants.
struct CatalogueRefreshTests {
    typealias Machine = CatalogueRefreshStateMachine
    let t0 = ContinuousClock.now

    @Test func loadsAtStartThenEveryIntervalAndRetriesFailuresSooner() {
        var machine = Machine(settings: .init(refreshInterval: .seconds(60)))
        #expect(machine.started(now: t0) == .load)
        #expect(machine.tick(now: t0 + .seconds(120)) == .none, "one load at a time")
        #expect(machine.loadFinished(succeeded: true, now: t0 + .seconds(1)) == .none)
        #expect(machine.nextLoadAt == t0 + .seconds(61))
        #expect(machine.tick(now: t0 + .seconds(60)) == .none)
        #expect(machine.tick(now: t0 + .seconds(61)) == .load)
        #expect(machine.loadFinished(succeeded: false, now: t0 + .seconds(62)) == .none)
        #expect(machine.nextLoadAt == t0 + .seconds(67), "a failure is retried after 5 s")
        #expect(machine.tick(now: t0 + .seconds(67)) == .load)
    }

    @Test func anUnknownNameLoadsEarlyAtMostOncePerTenSecondsPerName() {
        var machine = Machine(settings: .init(refreshInterval: .seconds(60), minimumLoadSpacing: .zero))
        _ = machine.started(now: t0)
        _ = machine.loadFinished(succeeded: true, now: t0)
        #expect(machine.unknownSeen("code:nope", now: t0 + .seconds(1)) == .load)
        _ = machine.loadFinished(succeeded: true, now: t0 + .seconds(1))
        #expect(machine.unknownSeen("code:nope", now: t0 + .seconds(5)) == .none, "the same name within 10 s")
        #expect(machine.unknownSeen("subscription:sub_zzz", now: t0 + .seconds(5)) == .load, "another name")
        _ = machine.loadFinished(succeeded: true, now: t0 + .seconds(5))
        #expect(machine.unknownSeen("code:nope", now: t0 + .seconds(11)) == .load, "10 s later")
    }

    @Test func earlyLoadsAreSpacedSoNewNamesNeverKeepLagoBusy() {
        var machine = Machine(settings: .init(refreshInterval: .seconds(60)))
        _ = machine.started(now: t0)
        _ = machine.loadFinished(succeeded: true, now: t0 + .seconds(1))
        #expect(machine.unknownSeen("code:a", now: t0 + .seconds(2)) == .none, "within 5 s of the last load")
        #expect(machine.nextLoadAt == t0 + .seconds(6), "deferred to the end of the spacing, not dropped")
        #expect(machine.unknownSeen("code:b", now: t0 + .seconds(3)) == .none)
        #expect(machine.tick(now: t0 + .seconds(6)) == .load, "one load for both names")
        #expect(machine.requested(now: t0 + .seconds(6)) == .none, "one load at a time")
        #expect(machine.loadFinished(succeeded: true, now: t0 + .seconds(7)) == .none, "the follow-up is spaced too")
        #expect(machine.nextLoadAt == t0 + .seconds(12))
        #expect(machine.tick(now: t0 + .seconds(12)) == .load)
        _ = machine.loadFinished(succeeded: true, now: t0 + .seconds(13))
        #expect(machine.requested(now: t0 + .seconds(19)) == .load, "after the spacing: at once")
    }

    @Test func aTriggerDuringALoadAsksForOneMoreAfterIt() {
        var machine = Machine(settings: .init(refreshInterval: .seconds(60), minimumLoadSpacing: .zero))
        #expect(machine.started(now: t0) == .load)
        #expect(machine.requested(now: t0) == .none)
        #expect(machine.unknownSeen("code:new", now: t0) == .none)
        #expect(machine.loadFinished(succeeded: true, now: t0 + .seconds(1)) == .load, "one more, not two")
        #expect(machine.loadFinished(succeeded: true, now: t0 + .seconds(2)) == .none)
    }
}

/// The service against the sandbox: every page, the verdicts, an unknown code learnt early.
@Suite struct BillingCatalogueServiceTests {
    @Test func loadsEveryPageAndLearnsANewMetricEarly() async throws {
        try await Sandbox.withRunning { sandbox in
            // More metrics than one page holds (100), so the second page is read too.
            for index in 0..<120 { try sandbox.addBillableMetric(code: "bulk_\(index)") }
            let configuration = LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
            try await withLagoClient(configuration: configuration, logger: Logger(label: "test")) { client in
                let service = BillingCatalogueService(
                    client: client, refreshInterval: .seconds(3600), minimumLoadSpacing: .milliseconds(100))
                let unchecked = service.check(
                    BillingEvent(
                        transactionID: "t0", code: "bulk_1", externalSubscriptionID: SandboxSeed.subscriptionExternalID,
                        timestamp: Date(), properties: ["value": 1]))
                #expect(unchecked == .unchecked, "no catalogue yet: nobody knows")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await service.run() }
                    #expect(await eventually(timeout: .seconds(60)) { service.catalogue != nil })
                    #expect(
                        service.catalogue?.metrics["bulk_119"] != nil && service.catalogue?.metrics["bulk_0"] != nil)
                    #expect(service.status.lastError == nil && service.status.metrics >= 120)
                    let known = BillingEvent(
                        transactionID: "t1", code: "bulk_7", externalSubscriptionID: SandboxSeed.subscriptionExternalID,
                        timestamp: Date(), properties: ["value": 3])
                    #expect(service.check(known) == .billable())
                    var fresh = known
                    fresh.code = "created_just_now"
                    #expect(service.check(fresh) == .unbillable([.invalidCode]))
                    try sandbox.addBillableMetric(code: "created_just_now")
                    // The unknown code asked for an early load (the interval is an hour).
                    #expect(await eventually(timeout: .seconds(60)) { service.check(fresh) == .billable() })
                    group.cancelAll()
                }
            }
        }
    }

    @Test func aFailedLoadKeepsTheLastGoodSnapshotAndSaysWhy() async throws {
        try await Sandbox.withRunning { sandbox in
            let configuration = LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
            try await withLagoClient(configuration: configuration, logger: Logger(label: "test")) { client in
                let service = BillingCatalogueService(
                    client: client, refreshInterval: .seconds(3600), minimumLoadSpacing: .milliseconds(100))
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await service.run() }
                    #expect(await eventually(timeout: .seconds(60)) { service.catalogue != nil })
                    let loadedAt = service.status.loadedAt
                    sandbox.faults.failNext(1_000, status: 500, pathPrefix: "/api/v1/billable_metrics")
                    service.refresh()
                    #expect(await eventually(timeout: .seconds(60)) { service.status.lastError != nil })
                    #expect(service.status.loadedAt == loadedAt, "the last good snapshot stays")
                    #expect(service.catalogue != nil)
                    group.cancelAll()
                }
            }
        }
    }
}
