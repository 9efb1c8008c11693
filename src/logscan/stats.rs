//! Exact summary statistics of extracted numbers.
//!
//! Values are kept as a histogram of distinct values (`f64` bit pattern → occurrences), so memory
//! grows with the number of *distinct* values, not with the number of lines: latencies in
//! milliseconds over a billion lines still take a few thousand entries. Percentiles are exact,
//! by the **nearest-rank** method: pN is the smallest value such that at least N % of all
//! values are ≤ it (rank ⌈N/100 · count⌉, 1-based).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

/// A fast hasher for `u64` keys (a multiply-xorshift mix); keys here are value bit patterns,
/// not attacker-chosen, so a DoS-resistant hash buys nothing.
#[derive(Default)]
struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        let x = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
}

type Counts = HashMap<u64, u64, BuildHasherDefault<U64Hasher>>;

/// Accumulates numbers; merge accumulators of parallel workers with [`Histogram::merge`].
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    counts: Counts,
    count: u64,
    sum: f64,
}

/// `#{count, min, max, avg, p50, p95, p99}`; every figure is 0 when `count` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Histogram {
    /// Add one value (NaN and infinities are ignored and reported as `false`).
    pub fn add(&mut self, v: f64) -> bool {
        if !v.is_finite() {
            return false;
        }
        let v = if v == 0.0 { 0.0 } else { v }; // -0.0 and 0.0 are one value
        *self.counts.entry(v.to_bits()).or_insert(0) += 1;
        self.count += 1;
        self.sum += v;
        true
    }

    /// Add everything from `other`.
    pub fn merge(&mut self, other: Histogram) {
        for (k, n) in other.counts {
            *self.counts.entry(k).or_insert(0) += n;
        }
        self.count += other.count;
        self.sum += other.sum;
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Count, min, max, mean and nearest-rank p50/p95/p99.
    pub fn summary(&self) -> Summary {
        if self.count == 0 {
            return Summary {
                count: 0,
                min: 0.0,
                max: 0.0,
                avg: 0.0,
                p50: 0.0,
                p95: 0.0,
                p99: 0.0,
            };
        }
        let mut distinct: Vec<(f64, u64)> = self
            .counts
            .iter()
            .map(|(&k, &n)| (f64::from_bits(k), n))
            .collect();
        distinct.sort_by(|a, b| a.0.total_cmp(&b.0));
        let rank = |p: f64| -> f64 {
            let target = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for &(v, n) in &distinct {
                seen += n;
                if seen >= target {
                    return v;
                }
            }
            distinct.last().map_or(0.0, |d| d.0)
        };
        Summary {
            count: self.count,
            min: distinct.first().map_or(0.0, |d| d.0),
            max: distinct.last().map_or(0.0, |d| d.0),
            avg: self.sum / self.count as f64,
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.add(v as f64);
        }
        let s = h.summary();
        assert_eq!((s.count, s.min, s.max, s.avg), (100, 1.0, 100.0, 50.5));
        assert_eq!((s.p50, s.p95, s.p99), (50.0, 95.0, 99.0));

        // Classic nearest-rank example: 15 20 35 40 50 → p30 = 20, p50 = 35, p95 = 50.
        let mut h = Histogram::default();
        for v in [50.0, 15.0, 40.0, 20.0, 35.0] {
            h.add(v);
        }
        let s = h.summary();
        assert_eq!((s.p50, s.p95, s.p99), (35.0, 50.0, 50.0));

        // Merge of two workers equals one pass; duplicates counted.
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        for v in [3.0, 1.0, 1.0] {
            a.add(v);
        }
        for v in [2.0, 1.0, -0.0, 0.0] {
            b.add(v);
        }
        assert!(!b.add(f64::NAN));
        a.merge(b);
        let s = a.summary();
        assert_eq!((s.count, s.min, s.max, s.p50), (7, 0.0, 3.0, 1.0));
        assert_eq!(Histogram::default().summary().count, 0);
    }
}
