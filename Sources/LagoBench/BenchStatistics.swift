/// Order statistics of benchmark samples.
enum BenchStatistics {
    /// The median of unsorted values (0 when empty), by ``percentile(_:_:)``.
    static func median(_ values: [Double]) -> Double { percentile(values.sorted(), 0.5) }

    /// The nearest-rank percentile of sorted values (0 when empty).
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(sorted.count - 1, max(0, rank))]
    }
}
