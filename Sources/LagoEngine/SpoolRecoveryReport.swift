/// What the engine found about the previous engine's stop when it opened the spool.
///
/// Every commit that appends or settles events is followed, before its callers resume, by a record of the events
/// ever appended and ever settled in the spool's lock file, outside the database and its write-ahead log. The
/// spool itself keeps the same two counts (its AUTOINCREMENT sequence and its `meta` table) in the same
/// transactions as the events. After a process crash (`kill -9`) both agree, or the lock file's lags by the one
/// commit whose callers never heard back: nothing is reported missing. When the log lost committed transactions
/// (power loss with `synchronous = NORMAL`, a truncated `-wal`), the lock file's record, if it reached the disk,
/// is ahead of the spool: the acknowledged events it counts that are neither in the spool nor settled are
/// missing. Events in a request to Lago at the moment of the stop are not settled yet: those among the missing may
/// have reached Lago all the same (at most `max_in_flight` requests' worth).
public struct SpoolRecoveryReport: Sendable, Hashable, Codable {
    /// The previous engine had the spool open when it stopped (a crash, `kill -9`, power loss). `false` after a
    /// clean shutdown, and when no earlier record exists (a new spool, or one of an earlier release).
    public var uncleanStop: Bool
    /// Acknowledged events the spool lost before it recorded them delivered or dead-lettered: at least this many
    /// (0: none known). Those that were in a request when the engine stopped may have reached Lago.
    public var missingEvents: Int
    /// At most this many. Equal to ``missingEvents`` (an exact count) unless deliveries were also recorded in the
    /// lost transactions: the spool cannot tell then which of the lost events they had settled.
    public var missingEventsAtMost: Int

    /// Creates a report.
    public init(uncleanStop: Bool, missingEvents: Int, missingEventsAtMost: Int) {
        self.uncleanStop = uncleanStop
        self.missingEvents = missingEvents
        self.missingEventsAtMost = missingEventsAtMost
    }

    /// Compares the spool as opened (`appended` = its sequence, `settled` = its `meta` count, `queued` = its rows)
    /// with the previous engine's mark for the same spool (`nil`: none).
    init(mark: SpoolMark?, appended: Int64, settled: Int64, queued: Int64) {
        // Inside the database the counts always agree (one transaction writes the rows and the counts); rows gone
        // without being settled are missing whatever the mark says.
        let inFile = max(0, appended - settled - queued)
        var lower = inFile
        var upper = inFile
        if let mark, mark.appended > appended || mark.settled > settled {
            // Transactions after the spool's state were lost. Queued at the mark: mark.appended − mark.settled; of
            // those, the spool still holds all but the ones appended in the lost transactions. Lost settlements may
            // have settled rows the spool still holds (its queue, appended − settled, counts them) or rows that were
            // lost with them.
            let queuedAtMark = mark.appended - mark.settled
            let lostSettlements = max(0, mark.settled - settled)
            let lostAppends = max(0, mark.appended - appended)
            let atLeast = max(0, queuedAtMark - (appended - settled))
            lower += atLeast
            upper += min(lostAppends, atLeast + lostSettlements)
        }
        self.init(
            uncleanStop: mark?.open ?? false, missingEvents: Int(lower), missingEventsAtMost: Int(max(lower, upper)))
    }
}
