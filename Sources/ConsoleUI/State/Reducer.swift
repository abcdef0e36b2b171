import Foundation
import LagoAPI
import LagoUsage

extension AppState {
    /// Applies an event and returns the effects the wiring must run, in order, each with the id its results carry.
    ///
    /// Pure and synchronous: call it from the one task that owns the state, then render.
    public mutating func handle(_ event: ConsoleEvent) -> [EffectRequest] {
        let effects = reduce(event)
        if focusedPane == .billing, !event.isTick {
            billingPane.groups = history.billingIssueGroups(order: billingPane.order)
        }
        return effects.map { effect in
            lastRequestID += 1
            let id = RequestID(lastRequestID)
            if effect != .quit(flushFirst: true) && effect != .quit(flushFirst: false) { requests[id] = effect }
            return EffectRequest(id: id, effect: effect)
        }
    }

    /// The id of the oldest request still running for `effect`, if any.
    func requestID(for effect: Effect) -> RequestID? {
        requests.filter { $0.value == effect }.keys.min()
    }

    /// Forgets the requests a result answers (a result that carries no id answers every request of its kind).
    private mutating func finishRequests(where answered: (Effect) -> Bool) {
        requests = requests.filter { !answered($0.value) }
    }

    /// Applies an event and returns the effects the wiring must run, in order.
    private mutating func reduce(_ event: ConsoleEvent) -> [Effect] {
        switch event {
        case .key(let key):
            return handleKey(key)
        case .resize(let width, let height):
            size = TerminalSize(width: max(0, width), height: max(0, height))
        case .tick(let now):
            self.now = now
            if let message, message.expiresAt <= now { self.message = nil }
            advanceUsageCounts()
            return dueUsageReads()
        case .eventLifecycle(let updates):
            history.apply(updates)
            for update in updates where update.state == .queued || update.state == .held {
                if case .field(let field)? = update.origin?.coding {
                    mappingsPane.activity.record(field, code: update.code, at: update.time)
                }
            }
            if !usagePane.expectations.isEmpty { advanceUsageCounts() }
        case .usageRead(let subscription, let result):
            finishRequests { $0 == .readUsage(subscriptionID: subscription) }
            usageRead(subscription, result)
        case .eventAttempts(let key, let entries):
            history.prependAttempts(entries, key: key)
        case .stats(let stats):
            self.stats = stats
            reconcileDeadLetterSelection()
        case .config(let mappings, let defaultSubscription):
            for field in CanonicalField.allCases
            where (mappings[field] ?? field.defaultMetricCode) != code(for: field) {
                mappingsPane.changedAt[field] = now
            }
            self.mappings = mappings
            self.defaultSubscription = defaultSubscription
        case .connection(let connection):
            self.connection = connection
        case .flushFinished(let summary):
            finishRequests { $0 == .flush }
            flushInProgress = false
            show(
                "flushed: delivered \(Format.grouped(summary.delivered)) · pending \(Format.grouped(summary.pending))"
                    + " · dead \(Format.grouped(summary.dead)) in \(Format.duration(summary.duration))",
                summary.dead > 0 ? .error : .success)
        case .verifyFinished(let transactionID, let result):
            finishRequests { $0 == .verify(transactionID: transactionID) }
            switch result {
            case .success(let event): sendPane.verifications[transactionID] = .verified(event)
            case .failure(let error): sendPane.verifications[transactionID] = .failed(error.message)
            }
        case .mappingsChecked(let result):
            finishRequests { $0 == .checkMappings }
            switch result {
            case .success(let metrics):
                mappingsPane.metrics = .loaded(metrics.sorted { $0.code < $1.code }, at: now)
                let known = Set(metrics.map(\.code))
                let unknown = CanonicalField.allCases.filter { !known.contains(code(for: $0)) }.count
                show(
                    "\(metrics.count) billable metrics in Lago · "
                        + (unknown == 0 ? "all codes known" : "\(unknown) unknown code\(unknown == 1 ? "" : "s")"),
                    unknown == 0 ? .success : .error)
            case .failure(let error):
                mappingsPane.metrics = .failed(error.message)
                show("check failed: \(error.message)", .error)
            }
        case .subscriptionsLoaded(let result):
            finishRequests { $0 == .loadSubscriptions }
            switch result {
            case .success(let subscriptions):
                subscriptionPane.list = .loaded(subscriptions, at: now)
                if usagePane.pickWhenLoaded {
                    usagePane.pickWhenLoaded = false
                    openUsageSubscriptionPicker()
                }
                subscriptionPane.selection = 0
                if let current = defaultSubscription,
                    let index = filteredSubscriptions.firstIndex(where: { $0.externalID == current })
                {
                    subscriptionPane.selection = index
                }
            case .failure(let error):
                usagePane.pickWhenLoaded = false
                subscriptionPane.list = .failed(error.message)
                show("could not load subscriptions: \(error.message)", .error)
            }
        case .subscriptionSaved(let id):
            finishRequests { $0 == .saveDefaultSubscription(id) }
            defaultSubscription = id
            subscriptionPane.saving = nil
            show("default subscription: \(id)", .success)
        case .catalogueChanged(let metrics, let status):
            billingPane.metrics = Dictionary(metrics.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
            billingPane.catalogue = status
        case .heldReleased(let id, let release):
            requests[id] = nil
            billingPane.lastRelease = release
            // The held row (`held#ID`, as the bridge keys held events) is done: the event goes on as a new row.
            let heldKey = "held#\(release.id)"
            if history.contains(key: heldKey) {
                history.apply([
                    EventUpdate(
                        transactionID: release.transactionID, code: "", externalSubscriptionID: nil, state: .released,
                        time: now, key: heldKey)
                ])
            }
            switch release.billing.status {
            case .billable: show("released \(release.transactionID): queued, Lago will bill it", .success)
            case .unchecked: show("released \(release.transactionID): queued, unchecked (no catalogue)", .info)
            case .unbillable:
                show(
                    "released \(release.transactionID): queued, still not billable: "
                        + release.billing.reasons.map(\.rawValue).joined(separator: ", "), .error)
            }
        case .mappingSaved(let field, let code):
            finishRequests { $0 == .saveMapping(field: field, code: code) }
            if code != self.code(for: field) { mappingsPane.changedAt[field] = now }
            mappings[field] = code
            mappingsPane.saving = nil
            show("saved \(field.rawValue) → \(code)", .success)
        case .sendAccepted(let transactionIDs):
            let subscription: String?
            switch requests.values.first(where: Self.isSend) {
            case .sendUsage(let draft)?: subscription = draft.externalSubscriptionID ?? defaultSubscription
            case .sendEvent(let draft)?: subscription = draft.externalSubscriptionID ?? defaultSubscription
            default: subscription = defaultSubscription
            }
            finishRequests(where: Self.isSend)
            sendPane.sending = false
            sendPane.sendError = nil
            sendPane.lastSent = transactionIDs
            sendPane.verifications = [:]
            show("queued \(transactionIDs.count) test event\(transactionIDs.count == 1 ? "" : "s")", .success)
            return expectUsage(transactionIDs: transactionIDs, subscription: subscription)
        case .sendFailed(let reason):
            finishRequests(where: Self.isSend)
            sendPane.sending = false
            sendPane.sendError = reason
            show("send failed: \(reason)", .error)
        case .operationSucceeded(let id, let text):
            requests[id] = nil
            show(text, .success)
        case .operationFailed(let id, let error):
            if let effect = requests.removeValue(forKey: id) { failed(effect, error) }
            show(error.message, .error)
        case .lifecycleMissed(let count):
            missedLifecycleChanges += max(0, count)
        case .quitFlushProgress(let pending):
            if case .confirm(let dialog) = overlay, case .flushingBeforeQuit = dialog.kind {
                overlay = .confirm(ConfirmDialog(kind: .flushingBeforeQuit(pending: pending)))
            }
        case .quitFlushFinished:
            return [.quit(flushFirst: false)]
        }
        return []
    }

    /// Clears the spinner of the one request that failed, so the operator can try it again; every other request
    /// keeps its own (a flush still running stays running: `f` does not start a second one).
    private mutating func failed(_ effect: Effect, _ error: OperationError) {
        switch effect {
        case .flush:
            flushInProgress = requests.values.contains(.flush)
        case .saveMapping:
            mappingsPane.saving = nil
        case .saveDefaultSubscription:
            subscriptionPane.saving = nil
        case .sendUsage, .sendEvent:
            sendPane.sending = requests.values.contains(where: Self.isSend)
        case .checkMappings:
            if case .loading = mappingsPane.metrics { mappingsPane.metrics = .failed(error.message) }
        case .loadSubscriptions:
            if case .loading = subscriptionPane.list { subscriptionPane.list = .failed(error.message) }
        case .verify(let transactionID):
            sendPane.verifications[transactionID] = .failed(error.message)
        case .readUsage(let subscription):
            usageRead(subscription, .failure(error))
        case .replayDeadLetter, .discardDeadLetter, .retryNow, .copy, .quit, .releaseHeld, .discardHeld,
            .refreshCatalogue:
            break
        }
    }

    private static func isSend(_ effect: Effect) -> Bool {
        switch effect {
        case .sendUsage, .sendEvent: true
        default: false
        }
    }

    /// Shows a transient message in the footer (errors stay longer).
    mutating func show(_ text: String, _ kind: TransientMessage.Kind = .info) {
        let seconds: Double = kind == .error ? 10 : 5
        message = TransientMessage(text: text, kind: kind, expiresAt: now.addingTimeInterval(seconds))
    }

    /// Keeps the dead-letter selection on an existing dead letter.
    mutating func reconcileDeadLetterSelection() {
        let letters = stats.deadLetters
        if let id = selectedDeadLetterID, letters.contains(where: { $0.id == id }) { return }
        selectedDeadLetterID = letters.first?.id
    }

    /// The selected dead letter.
    var selectedDeadLetter: DeadLetter? {
        guard let id = selectedDeadLetterID else { return nil }
        return stats.deadLetters.first { $0.id == id }
    }

    /// Lago's subscriptions matching the search.
    var filteredSubscriptions: [Subscription] {
        guard case .loaded(let list, _) = subscriptionPane.list else { return [] }
        let needle = subscriptionPane.query.lowercased()
        guard !needle.isEmpty else { return list }
        return list.filter { subscription in
            [
                subscription.externalID, subscription.externalCustomerID ?? "", subscription.name ?? "",
                subscription.planCode ?? "",
            ]
            .contains { $0.lowercased().contains(needle) }
        }
    }

    /// Lago's billable metrics from the last check.
    var knownMetrics: [BillableMetric]? {
        if case .loaded(let metrics, _) = mappingsPane.metrics { return metrics }
        return nil
    }
}
