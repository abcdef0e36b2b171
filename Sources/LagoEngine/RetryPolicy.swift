/// Exponential backoff with full jitter, never shorter than what the server asked for.
struct RetryPolicy: Sendable, Hashable {
    /// The ceiling of the first backoff.
    var base: Duration
    /// The largest ceiling.
    var cap: Duration

    /// The ceiling after `failures` consecutive failures (1 = the first failure): `min(cap, base * 2^(failures-1))`.
    func ceiling(failures: Int) -> Duration {
        let exponent = min(max(failures - 1, 0), 40)
        let ceiling = base / .seconds(1) * Double(UInt64(1) << UInt64(exponent))
        return .seconds(clamping: min(cap / .seconds(1), ceiling))
    }

    /// The wait before the next try: uniform in `0...ceiling` (full jitter), at least `suggested`.
    func delay(failures: Int, suggested: Duration?, using random: inout some RandomNumberGenerator) -> Duration {
        let ceiling = self.ceiling(failures: failures) / .seconds(1)
        let jittered = Duration.seconds(clamping: Double.random(in: 0...max(ceiling, 0), using: &random))
        guard let suggested else { return jittered }
        return max(jittered, suggested)
    }
}
