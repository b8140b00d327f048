//! Histogram bucket boundaries for durations, shared by every process so that their latency histograms add up.

/// Bucket boundaries, in seconds, for `http.server.request.duration`, `faas.init_duration` and any duration.
///
/// The semantic conventions' HTTP boundaries start at 5 ms, so a warm invocation (about 0.2 ms) and a cold start
/// (about 3 ms) would both fall in the first bucket, and every quantile computed from it would be an interpolation
/// inside 0–5 ms, whatever the real latency. These resolve 50 µs to 30 s: neighbouring boundaries are at most 1.5
/// apart, so a quantile interpolated inside a bucket is off by at most half of that bucket. The semantic conventions'
/// boundaries are all among them, so a query written for those still works.
pub const DURATION_BOUNDARIES: [f64; 41] = [
    0.000_05, 0.000_075, 0.000_1, 0.000_15, 0.000_2, 0.000_3, 0.000_4, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.003,
    0.004, 0.005, 0.007_5, 0.01, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1.0,
    1.5, 2.0, 2.5, 3.5, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The semantic conventions' boundaries for `http.server.request.duration`.
    const SEMCONV: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

    #[test]
    fn they_resolve_50_microseconds_to_30_seconds_with_neighbours_at_most_one_and_a_half_apart() {
        assert_eq!(DURATION_BOUNDARIES.first(), Some(&0.000_05));
        assert_eq!(DURATION_BOUNDARIES.last(), Some(&30.0));
        for pair in DURATION_BOUNDARIES.windows(2) {
            let ratio = pair[1] / pair[0];
            assert!(ratio > 1.0 && ratio <= 1.5 + 1e-9, "{} -> {}: {ratio}", pair[0], pair[1]);
        }
    }

    #[test]
    fn the_semantic_conventions_boundaries_are_among_them() {
        for bound in SEMCONV {
            assert!(DURATION_BOUNDARIES.contains(&bound), "{bound}");
        }
    }

    #[test]
    fn a_warm_invocation_and_a_cold_start_fall_in_buckets_of_their_own() {
        let bucket = |seconds: f64| DURATION_BOUNDARIES.iter().position(|&bound| seconds <= bound);
        // A warm invocation (0.2 ms) and twice that, a cold start (3 ms) and twice that: four different buckets,
        // where the semantic conventions' put all four in the first.
        let buckets = [0.000_2, 0.000_4, 0.003, 0.006].map(bucket);
        assert!(buckets.windows(2).all(|pair| pair[0] < pair[1]), "{buckets:?}");
    }
}
