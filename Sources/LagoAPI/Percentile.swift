/// The percentile of samples, one definition for every figure in the package (the engine's request latency
/// p50/p99, the benchmarks' p50/p95/p99).
public enum Percentile {
    /// The nearest-rank percentile of `sorted` (ascending order): the smallest sample with at least `fraction` of
    /// all samples at or below it, `sorted[⌈fraction × n⌉ − 1]`, the first sample for a `fraction` of 0 and the last
    /// for 1. `fraction` is clamped to `0...1`; nil when there are no samples. The result is always a sample, never
    /// an interpolation.
    public static func nearestRank<Sample>(_ sorted: [Sample], _ fraction: Double) -> Sample? {
        guard !sorted.isEmpty else { return nil }
        let clamped = fraction.isNaN ? 0 : min(max(fraction, 0), 1)
        let rank = Int((clamped * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(sorted.count - 1, max(0, rank))]
    }
}
