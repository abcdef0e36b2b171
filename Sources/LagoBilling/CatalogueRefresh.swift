/// When to read the billing catalogue from Lago: at start, every refresh interval, on demand, and early when an
/// event names a code or subscription the catalogue does not know (at most once per ``Settings/earlyRefreshSpacing``
/// per name). One load at a time: a trigger during a load asks for one more load after it.
///
/// A value type driven from one task, with no I/O (the async-http-client `HTTP1ConnectionStateMachine` pattern):
/// every input returns the ``Action`` the driver carries out.
struct CatalogueRefreshStateMachine: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Settings: Sendable, Hashable {
        /// `billing.refresh_interval`: how old a good catalogue may get.
        var refreshInterval: Duration
        /// The least time between two early loads for the same unknown name.
        var earlyRefreshSpacing: Duration = .seconds(10)
        /// After a failed load, the next attempt (never later than the refresh interval).
        var retryAfterFailure: Duration = .seconds(5)
        /// The least time from the end of one load to the start of an early or asked-for one: a stream of new names
        /// never keeps Lago's API (50 requests/s for the whole organization, shared with its other clients) busy.
        var minimumLoadSpacing: Duration = .seconds(5)
    }

    enum Action: Sendable, Hashable {
        /// Load the catalogue now, then call ``loadFinished(succeeded:now:)``.
        case load
        /// Nothing to do.
        case none
    }

    let settings: Settings
    private(set) var loading = false
    private var loadAgain = false
    /// When the next load is due (the interval, or the retry after a failure).
    private(set) var nextLoadAt: Instant?
    /// The last early load asked for each unknown name.
    private var earlyLoads: [String: Instant] = [:]
    /// When the last load ended.
    private var lastLoadEnded: Instant?

    init(settings: Settings) {
        self.settings = settings
    }

    /// The engine starts: the first load.
    mutating func started(now: Instant) -> Action { trigger() }

    /// The operator asks for a refresh.
    mutating func requested(now: Instant) -> Action { trigger(spacedAt: now) }

    /// An event named `name` (a code or a subscription) that the catalogue does not know: load early, unless an
    /// early load for that name was asked less than ``Settings/earlyRefreshSpacing`` ago.
    mutating func unknownSeen(_ name: String, now: Instant) -> Action {
        earlyLoads = earlyLoads.filter { now - $0.value < settings.earlyRefreshSpacing }
        guard earlyLoads[name] == nil else { return .none }
        earlyLoads[name] = now
        return trigger(spacedAt: now)
    }

    /// Time passed: the interval's (or a failure's retry) load when due.
    mutating func tick(now: Instant) -> Action {
        guard let due = nextLoadAt, due <= now else { return .none }
        nextLoadAt = nil
        return trigger()
    }

    /// A load ended; the next one is scheduled, or starts at once when a trigger came during this one.
    mutating func loadFinished(succeeded: Bool, now: Instant) -> Action {
        loading = false
        lastLoadEnded = now
        nextLoadAt =
            now + (succeeded ? settings.refreshInterval : min(settings.retryAfterFailure, settings.refreshInterval))
        guard loadAgain else { return .none }
        loadAgain = false
        return trigger(spacedAt: now)
    }

    /// An early or asked-for load: now, or at the end of the spacing after the last load (the next due load moves
    /// earlier; the trigger is never dropped).
    private mutating func trigger(spacedAt now: Instant) -> Action {
        if !loading, let ended = lastLoadEnded, now < ended + settings.minimumLoadSpacing {
            let spaced = ended + settings.minimumLoadSpacing
            nextLoadAt = min(nextLoadAt ?? spaced, spaced)
            return .none
        }
        return trigger()
    }

    private mutating func trigger() -> Action {
        if loading {
            loadAgain = true
            return .none
        }
        loading = true
        return .load
    }
}
