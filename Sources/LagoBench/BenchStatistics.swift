import LagoAPI

/// Order statistics of benchmark samples, by the package's one percentile definition (``LagoAPI/Percentile``).
enum BenchStatistics {
    /// The median of unsorted values (0 when empty).
    static func median(_ values: [Double]) -> Double { percentile(values.sorted(), 0.5) }

    /// The nearest-rank percentile of sorted values (``LagoAPI/Percentile/nearestRank(_:_:)``), 0 when empty.
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        Percentile.nearestRank(sorted, fraction) ?? 0
    }
}
