public import Foundation
public import LagoAPI
public import LagoBilling
public import LagoUsage

/// Something that happened, fed to ``AppState/handle(_:)``: a key, a resize, a clock tick, or news from the
/// engine and from effects the wiring executed.
///
/// The wiring layer produces these from the terminal (keys, `SIGWINCH`), a timer (ticks, about once a second),
/// the engine's event stream and `stats()` snapshots, and from the results of ``Effect``s.
public enum ConsoleEvent: Sendable {
    /// A key press.
    case key(Key)
    /// The terminal was resized to `width` × `height` cells.
    case resize(width: Int, height: Int)
    /// The clock advanced; countdowns, ages and transient messages are computed from this time.
    case tick(now: Date)
    /// Lifecycle changes of individual events (queued, in flight, delivered, retrying, dead…), oldest first.
    /// Updates are merged by event key (``EventUpdate/key``): the first creates a row in the live events pane.
    case eventLifecycle([EventUpdate])
    /// Earlier attempts of an event, read from the spool (an event resumed after a restart): they go before the
    /// attempts its row already shows.
    case eventAttempts(key: String, [EventTimelineEntry])
    /// A fresh snapshot of the engine's queue (counts, retrying batches, dead letters, rates, latency).
    case stats(QueueStats)
    /// The configuration the console shows: metric codes per canonical field and the default subscription.
    case config(mappings: [CanonicalField: String], defaultSubscription: String?)
    /// Where the console sends events and whether Lago accepts the API key.
    case connection(ConnectionInfo)
    /// The answer to ``Effect/flush``.
    case flushFinished(FlushSummary)
    /// The answer to ``Effect/verify(transactionID:)``: the event as Lago stored it, or why it could not be read.
    case verifyFinished(transactionID: String, result: Result<LagoEvent, OperationError>)
    /// The answer to ``Effect/checkMappings``: Lago's billable metrics, or why they could not be listed.
    case mappingsChecked(Result<[BillableMetric], OperationError>)
    /// The answer to ``Effect/loadSubscriptions``: Lago's active subscriptions.
    case subscriptionsLoaded(Result<[Subscription], OperationError>)
    /// The answer to ``Effect/saveDefaultSubscription(_:)`` when it exists in Lago and was written to the config.
    case subscriptionSaved(String)
    /// Lago's catalogue the console checks events against was read (or failed to be): its metrics, for the
    /// Billing pane's fixes, and its age and last error.
    case catalogueChanged(metrics: [BillableMetric], status: BillingCatalogueStatus)
    /// The answer to ``Effect/releaseHeld(id:)``: the held event is queued, with the verdict of its second check.
    case heldReleased(RequestID, HeldRelease)
    /// The answer to ``Effect/readUsage(subscriptionID:)``: the usage as Lago read it, or Lago's refusal.
    case usageRead(subscriptionID: String, result: Result<UsageReading, OperationError>)
    /// The answer to ``Effect/saveMapping(field:code:)`` once the config file was written.
    case mappingSaved(field: CanonicalField, code: String)
    /// The answer to ``Effect/sendUsage(_:)`` or ``Effect/sendEvent(_:)``: the events were queued with these
    /// transaction ids (the console highlights them and follows them to delivery).
    case sendAccepted(transactionIDs: [String])
    /// The engine refused a test send (invalid input, queue closed); shown in the send pane.
    case sendFailed(String)
    /// The request succeeded and has nothing else to report (a replay, a discard, a retry); shown briefly.
    case operationSucceeded(RequestID, String)
    /// The request failed (a save, a replay, a load, a flush…); shown as an error message, and clears the spinner of
    /// that request only (a flush still running keeps its own).
    case operationFailed(RequestID, OperationError)
    /// Lifecycle changes that never reached the console (a full buffer on the way: the console's own, the
    /// engine's or serve's stream); added to the "missed N" the Events pane shows.
    case lifecycleMissed(Int)
    /// The flush the operator asked for before quitting (``Effect/quit(flushFirst:)`` with `true`) goes on:
    /// `pending` events are left (shown in the quit dialog).
    case quitFlushProgress(pending: Int)
    /// The flush before quitting ended (delivered, timed out or stopped): the console quits now
    /// (``Effect/quit(flushFirst:)`` with `false`); what is left stays spooled.
    case quitFlushFinished(FlushSummary)
}

/// Why an operation requested by an ``Effect`` failed, in words for the operator, with Lago's own answer when it
/// came from Lago.
public struct OperationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The message shown on screen (Lago's error code and details when there are some).
    public var message: String
    /// The HTTP status of Lago's answer.
    public var status: Int?
    /// Lago's error `code` (`value_already_exist`, `subscription_not_found`…).
    public var code: String?
    /// Lago's `error_details`.
    public var errorDetails: JSONValue?

    /// Creates an error with a message.
    public init(_ message: String, status: Int? = nil, code: String? = nil, errorDetails: JSONValue? = nil) {
        self.message = message
        self.status = status
        self.code = code
        self.errorDetails = errorDetails
    }

    /// The error any effect threw: its description as the message, and Lago's status, `code` and
    /// `error_details` when it is a ``LagoAPI/LagoAPIError``.
    public init(_ error: any Error) {
        if let error = error as? OperationError {
            self = error
        } else if let lago = error as? LagoAPIError {
            self.init(String(describing: lago), status: lago.status, code: lago.code, errorDetails: lago.errorDetails)
        } else {
            self.init(String(describing: error))
        }
    }

    /// The message.
    public var description: String { message }
}

/// Where an event is in its delivery to Lago.
public enum DeliveryState: Sendable, Hashable {
    /// Accepted by the engine, waiting for a batch.
    case queued
    /// Part of a request to Lago that has not answered yet.
    case inFlight
    /// Lago accepted the event.
    case delivered
    /// Lago already had an event with this transaction id (idempotent duplicate; nothing lost).
    case alreadyInLago
    /// The last attempt failed with a transient error; the engine will try again (attempt number `attempt`).
    case retrying(attempt: Int)
    /// The engine gave up; the event is a dead letter that can be replayed or discarded.
    case dead
    /// The engine refused the event before queueing it (invalid input, queue full).
    case refused
    /// Kept out of delivery in the held list: Lago would not bill it (policy `hold`); release or discard it.
    case held
    /// Discarded from the held list; never sent.
    case discarded
    /// Released from the held list: queued again as a new row of its own (the engine's new spool row).
    case released

    /// The label shown in the state column (`already in Lago`, `retry 2`).
    public var label: String {
        switch self {
        case .queued: "queued"
        case .inFlight: "in flight"
        case .delivered: "delivered"
        case .alreadyInLago: "already in Lago"
        case .retrying(let attempt): "retry \(attempt)"
        case .dead: "dead"
        case .refused: "refused"
        case .held: "held"
        case .discarded: "discarded"
        case .released: "released"
        }
    }

    /// A label of at most 9 columns for narrow layouts.
    public var shortLabel: String {
        switch self {
        case .alreadyInLago: "in Lago"
        default: label
        }
    }

    /// Whether the event will not change state any more without an operator action.
    public var isFinal: Bool {
        switch self {
        case .delivered, .alreadyInLago, .dead, .refused, .held, .discarded, .released: true
        case .queued, .inFlight, .retrying: false
        }
    }
}

/// A change in one event's delivery, published by the engine (the wiring maps engine events onto this).
public struct EventUpdate: Sendable, Hashable {
    /// The event's idempotency key.
    public var transactionID: String
    /// What tells this event from every other: updates with the same key update the same row (the engine's spool
    /// row id; two events sharing a transaction id are two rows). Defaults to the transaction id.
    public var key: String
    /// The billable metric code.
    public var code: String
    /// The subscription the event is billed to.
    public var externalSubscriptionID: String?
    /// The event's properties (the pane shows them as `key=value`, numbers first).
    public var properties: [String: JSONValue]
    /// The new state.
    public var state: DeliveryState
    /// When the change happened.
    public var time: Date
    /// The attempt number this change belongs to, when it comes from a request.
    public var attempt: Int?
    /// The HTTP status of Lago's answer, if there was one.
    public var httpStatus: Int?
    /// Why the attempt failed or the event was refused (Lago's `code` and `error_details`, a network error).
    public var reason: String?
    /// The JSON body sent to Lago (shown in the detail view).
    public var payloadJSON: String?
    /// Lago's response body, or the transport error.
    public var response: String?
    /// The event's own timestamp (usage time: when it was accepted, unless its sender gave one).
    public var timestamp: Date?
    /// Whether Lago will bill the event, and why not (`nil`: no verdict in this update; the row keeps its last).
    public var billing: BillingVerdict?
    /// Where the event came from and what coded it (`nil`: not in this update; the row keeps what it knows).
    public var origin: EventOrigin?

    /// Creates an update.
    public init(
        transactionID: String, code: String, externalSubscriptionID: String?,
        properties: [String: JSONValue] = [:], state: DeliveryState, time: Date, attempt: Int? = nil,
        httpStatus: Int? = nil, reason: String? = nil, payloadJSON: String? = nil, response: String? = nil,
        key: String? = nil, timestamp: Date? = nil, billing: BillingVerdict? = nil, origin: EventOrigin? = nil
    ) {
        self.origin = origin
        self.timestamp = timestamp
        self.billing = billing
        self.transactionID = transactionID
        self.key = key ?? transactionID
        self.code = code
        self.externalSubscriptionID = externalSubscriptionID
        self.properties = properties
        self.state = state
        self.time = time
        self.attempt = attempt
        self.httpStatus = httpStatus
        self.reason = reason
        self.payloadJSON = payloadJSON
        self.response = response
    }

    /// Creates an update for an event input.
    public init(
        event: EventInput, state: DeliveryState, time: Date, attempt: Int? = nil, httpStatus: Int? = nil,
        reason: String? = nil, payloadJSON: String? = nil, response: String? = nil
    ) {
        self.init(
            transactionID: event.transactionID, code: event.code,
            externalSubscriptionID: event.externalSubscriptionID, properties: event.properties, state: state,
            time: time, attempt: attempt, httpStatus: httpStatus, reason: reason, payloadJSON: payloadJSON,
            response: response)
    }
}

/// What the engine is doing, as shown in the queue pane and the status line.
public enum EngineState: Sendable, Hashable {
    /// Starting up (opening the queue, first contact with Lago).
    case starting
    /// Delivering events.
    case running
    /// Not delivering (paused by the operator or the configuration).
    case paused
    /// Lago rejected the API key; nothing is sent until the key is fixed or a retry succeeds.
    case authFailed(reason: String)
    /// The URL leads to no Lago events route (404); nothing is sent until it is fixed or a probe gets through.
    case wrongURL(reason: String)
    /// Lago or the network is failing; the next attempt is at `until`.
    case backingOff(until: Date, reason: String)
    /// Shut down.
    case stopped
}

/// A batch the engine will retry.
public struct RetryingBatch: Sendable, Hashable {
    /// An identifier for the batch (for display).
    public var id: String
    /// How many events the batch holds.
    public var eventCount: Int
    /// Why the last attempt failed.
    public var reason: String
    /// The HTTP status of the last attempt, if Lago answered.
    public var httpStatus: Int?
    /// The number of the last attempt.
    public var attempt: Int
    /// The maximum number of attempts before the events become dead letters, if bounded.
    public var maxAttempts: Int?
    /// When the next attempt starts.
    public var nextRetryAt: Date

    /// Creates a retrying batch.
    public init(
        id: String, eventCount: Int, reason: String, httpStatus: Int?, attempt: Int, maxAttempts: Int? = nil,
        nextRetryAt: Date
    ) {
        self.id = id
        self.eventCount = eventCount
        self.reason = reason
        self.httpStatus = httpStatus
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.nextRetryAt = nextRetryAt
    }
}

/// An event the engine gave up on, kept for replay or discard.
public struct DeadLetter: Sendable, Hashable {
    /// The dead letter's id in the engine's store (what replay and discard refer to).
    public var id: String
    /// The event.
    public var event: EventInput
    /// Lago's reason (its error `code` and `error_details`) or the last transport error.
    public var reason: String
    /// The HTTP status of the last attempt, if Lago answered.
    public var httpStatus: Int?
    /// The number of attempts made.
    public var attempts: Int
    /// When the event became a dead letter.
    public var failedAt: Date

    /// Creates a dead letter.
    public init(id: String, event: EventInput, reason: String, httpStatus: Int?, attempts: Int, failedAt: Date) {
        self.id = id
        self.event = event
        self.reason = reason
        self.httpStatus = httpStatus
        self.attempts = attempts
        self.failedAt = failedAt
    }
}

/// An event the engine keeps out of delivery because Lago would not bill it (policy `hold`), in the Billing pane.
public struct HeldEvent: Sendable, Hashable {
    /// Its id in the engine's held list (what release and discard refer to).
    public var id: String
    /// The event's transaction id.
    public var transactionID: String
    /// The billable metric code.
    public var code: String
    /// The subscription it names.
    public var externalSubscriptionID: String?
    /// Why it was held.
    public var reasons: [BillingReason]
    /// When the engine accepted it.
    public var acceptedAt: Date

    /// Creates a held event.
    public init(
        id: String, transactionID: String, code: String, externalSubscriptionID: String?, reasons: [BillingReason],
        acceptedAt: Date
    ) {
        self.id = id
        self.transactionID = transactionID
        self.code = code
        self.externalSubscriptionID = externalSubscriptionID
        self.reasons = reasons
        self.acceptedAt = acceptedAt
    }
}

/// What releasing a held event did: it is queued, checked again.
public struct HeldRelease: Sendable, Hashable {
    /// The held event's id.
    public var id: String
    /// Its transaction id.
    public var transactionID: String
    /// Whether Lago will bill it now (the engine's second check).
    public var billing: BillingVerdict

    /// Creates a release.
    public init(id: String, transactionID: String, billing: BillingVerdict) {
        self.id = id
        self.transactionID = transactionID
        self.billing = billing
    }
}

/// What the engine's billing check found, as the queue pane shows it.
public struct BillingSummary: Sendable, Hashable {
    /// The engine checks each event it accepts (else the events carry no verdict of the engine's).
    public var checking = false
    /// `forward`, `hold` or `reject` (config `billing.unbillable`).
    public var policy = "forward"
    /// The events in the spool now, by the verdict they were accepted with.
    public var spooled = BillingCounts()
    /// Events in the held list now.
    public var held = 0
    /// When the catalogue in use was read (`nil`: none loaded, events are unchecked).
    public var catalogueLoadedAt: Date?
    /// The last failed catalogue load, in Lago's words.
    public var catalogueError: String?
    /// What Lago's own webhooks reported (`nil`: no webhook yet).
    public var lago: LagoVerdictSummary?

    /// Nothing checked.
    public init() {}
}

/// A snapshot of the engine's queue, shown by the queue and failures panes and the status line.
public struct QueueStats: Sendable, Hashable {
    /// Events waiting for a batch.
    public var queued: Int
    /// Events in a request that has not been answered.
    public var inFlight: Int
    /// Events waiting for a retry.
    public var retrying: Int
    /// Events Lago accepted since the engine started.
    public var delivered: Int
    /// Events Lago already had (idempotent duplicates) since the engine started.
    public var alreadyInLago: Int
    /// Dead letters currently stored.
    public var dead: Int
    /// Events refused before queueing since the engine started.
    public var refused: Int
    /// When the oldest pending event was queued.
    public var oldestPendingAt: Date?
    /// Events delivered per second over the last 60 seconds, oldest first, one sample per second.
    public var eventsPerSecond: [Double]
    /// The median request latency over a recent window.
    public var latencyP50: Duration?
    /// The 99th percentile request latency over a recent window.
    public var latencyP99: Duration?
    /// What the engine is doing.
    public var engineState: EngineState
    /// Batches waiting for a retry.
    public var retryingBatches: [RetryingBatch]
    /// Dead letters, newest first.
    public var deadLetters: [DeadLetter]
    /// The last spool write that failed, in plain words with the file (`spool write failed: disk full (/path)`),
    /// until a write succeeds again.
    public var spoolError: String?
    /// When it failed.
    public var spoolErrorAt: Date?
    /// Billing verdicts of the spooled and held events.
    public var billing = BillingSummary()
    /// The held list (policy `hold`), oldest first (at most the first 200).
    public var heldEvents: [HeldEvent] = []
    /// Requests in flight, the limit (adaptive or fixed), the round trip and Lago's rate-limit headroom.
    public var delivery = DeliveryPace()

    /// Creates a snapshot; everything defaults to zero / empty / running.
    public init(
        queued: Int = 0, inFlight: Int = 0, retrying: Int = 0, delivered: Int = 0, alreadyInLago: Int = 0,
        dead: Int = 0, refused: Int = 0, oldestPendingAt: Date? = nil, eventsPerSecond: [Double] = [],
        latencyP50: Duration? = nil, latencyP99: Duration? = nil, engineState: EngineState = .running,
        retryingBatches: [RetryingBatch] = [], deadLetters: [DeadLetter] = [], spoolError: String? = nil,
        spoolErrorAt: Date? = nil
    ) {
        self.queued = queued
        self.inFlight = inFlight
        self.retrying = retrying
        self.delivered = delivered
        self.alreadyInLago = alreadyInLago
        self.dead = dead
        self.refused = refused
        self.oldestPendingAt = oldestPendingAt
        self.eventsPerSecond = eventsPerSecond
        self.latencyP50 = latencyP50
        self.latencyP99 = latencyP99
        self.engineState = engineState
        self.retryingBatches = retryingBatches
        self.deadLetters = deadLetters
        self.spoolError = spoolError
        self.spoolErrorAt = spoolErrorAt
    }

    /// Events not yet delivered nor dead: queued, in flight and retrying.
    public var pending: Int { queued + inFlight + retrying }
}

/// Whether Lago accepts the API key.
public enum AuthState: Sendable, Hashable {
    /// Not checked yet.
    case unknown
    /// A check is running.
    case checking
    /// Lago accepted the key.
    case ok
    /// Lago rejected the key (401), with the reason.
    case failed(String)
}

/// Whether Lago is reachable.
public enum LinkState: Sendable, Hashable {
    /// No request made yet.
    case unknown
    /// The last request got an answer.
    case connected
    /// The last request failed at the transport level, with the reason.
    case unreachable(String)
    /// The process whose engine the console watches (`serve`, or another console) stopped answering; the console
    /// reads its discovery file again every second and reattaches when one answers.
    case holderGone(holder: String)
}

/// The process whose engine an attached console watches: what it is (`serve`, `console`) and its pid.
public struct EngineHolder: Sendable, Hashable, CustomStringConvertible {
    /// `serve` or `console`: the process that holds the spool.
    public var holder: String
    /// Its process id.
    public var pid: Int32

    /// Creates a holder.
    public init(_ holder: String, pid: Int32) {
        self.holder = holder
        self.pid = pid
    }

    /// `serve pid 4242`, as the status line names it.
    public var description: String { "\(holder) pid \(pid)" }
}

/// Where the console sends events, shown in the status line.
public struct ConnectionInfo: Sendable, Hashable {
    /// The Lago API base URL.
    public var url: String
    /// Whether the URL is the built-in sandbox (shows a SANDBOX badge).
    public var isSandbox: Bool
    /// The API key, already masked by the wiring (e.g. `••••1a2b`); the console never sees the key.
    public var maskedKey: String
    /// Whether Lago accepts the key.
    public var auth: AuthState
    /// Whether Lago answers.
    public var link: LinkState
    /// Set when the console watches the engine of another process (a `lago-console serve`, or a console with its
    /// own engine): quitting the console then leaves delivery running. Shows an ATTACHED badge.
    public var attachedTo: EngineHolder?
    /// Why the relay (the Lago-compatible ingest endpoint) is not listening, when it could not start: local clients'
    /// events do not reach this console. `nil` when it listens, or when the console does not run one.
    public var relayProblem: String?

    /// Creates connection information.
    public init(
        url: String, isSandbox: Bool, maskedKey: String, auth: AuthState = .unknown, link: LinkState = .unknown,
        attachedTo: EngineHolder? = nil
    ) {
        self.url = url
        self.isSandbox = isSandbox
        self.maskedKey = maskedKey
        self.auth = auth
        self.link = link
        self.attachedTo = attachedTo
    }
}

/// The result of a flush.
public struct FlushSummary: Sendable, Hashable {
    /// Events delivered by the flush.
    public var delivered: Int
    /// Events still pending when the flush returned.
    public var pending: Int
    /// Events that became dead letters during the flush.
    public var dead: Int
    /// How long the flush took.
    public var duration: Duration

    /// Creates a flush summary.
    public init(delivered: Int, pending: Int, dead: Int, duration: Duration) {
        self.delivered = delivered
        self.pending = pending
        self.dead = dead
        self.duration = duration
    }
}

/// How fast the engine may send: what the Queue pane's "Requests" line shows.
public struct DeliveryPace: Sendable, Hashable {
    /// Batch requests in flight now.
    public var requestsInFlight = 0
    /// Requests allowed in flight (`nil`: not known yet).
    public var limit: Int?
    /// The limit adapts (`engine.max_in_flight = "auto"`).
    public var adaptive = false
    /// The moving average of the round trip.
    public var roundTrip: Duration?
    /// Requests left in Lago's rate-limit window, and its size, when Lago sends them.
    public var rateLimitRemaining: Int?
    public var rateLimitLimit: Int?

    /// Nothing known yet.
    public init() {}
}
