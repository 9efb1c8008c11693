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

/// Values gathered before they are counted into the table: 32 768 (256 KiB). Counting each
/// value as it comes is a random access into a table of thousands of distinct values that the
/// scan's stream keeps pushing out of the cache (17 % of `logs::stats` over 4 GiB, `perf
/// record`); sorted in batches, equal values are adjacent and the table is touched once per
/// distinct value per batch.
const PENDING: usize = 1 << 15;

/// Accumulates numbers; merge accumulators of parallel workers with [`Histogram::merge`].
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    counts: Counts,
    count: u64,
    sum: f64,
    /// Bit patterns added since the last [`Histogram::flush`].
    pending: Vec<u64>,
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
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(PENDING);
        }
        self.pending.push(v.to_bits());
        if self.pending.len() >= PENDING {
            self.flush();
        }
        self.count += 1;
        self.sum += v;
        true
    }

    /// Count the pending values into the table (sorted: one table update per distinct value)
    /// and give their buffer back.
    pub fn flush(&mut self) {
        fold_sorted(&mut self.counts, &mut self.pending);
        self.pending = Vec::new();
    }

    /// Add everything from `other`.
    pub fn merge(&mut self, mut other: Histogram) {
        fold_sorted(&mut self.counts, &mut other.pending);
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
        let mut folded;
        let counts = if self.pending.is_empty() {
            &self.counts
        } else {
            folded = self.counts.clone();
            fold_sorted(&mut folded, &mut self.pending.clone());
            &folded
        };
        let mut distinct: Vec<(f64, u64)> = counts
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

/// Sort `values` and add each run of equal values to `counts` at once; leaves `values` empty.
fn fold_sorted(counts: &mut Counts, values: &mut Vec<u64>) {
    values.sort_unstable();
    for run in values.chunk_by(|a, b| a == b) {
        *counts.entry(run[0]).or_insert(0) += run.len() as u64;
    }
    values.clear();
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

    /// Past the pending batch (several flushes, some values left pending, merged across
    /// workers), the summary is the one a sorted list of every value gives.
    #[test]
    fn batched_counting_equals_a_sorted_list() {
        let values: Vec<f64> = (0..100_003u64)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 7_000) as f64 + 0.5 * (i % 3) as f64)
            .collect();
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        for (i, &v) in values.iter().enumerate() {
            if i % 5 == 0 {
                b.add(v)
            } else {
                a.add(v)
            };
        }
        let pending_summary = a.summary();
        a.merge(b.clone());
        let s = a.summary();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).max(1) - 1];
        assert_eq!(s.count, values.len() as u64);
        assert_eq!((s.min, s.max), (sorted[0], sorted[sorted.len() - 1]));
        assert_eq!((s.p50, s.p95, s.p99), (rank(50.0), rank(95.0), rank(99.0)));
        let sum: f64 = values.iter().sum();
        assert!((s.avg - sum / values.len() as f64).abs() < 1e-9);
        // summary() before a flush sees the pending values too.
        assert_eq!(pending_summary.count, a.count() - b.count());
        a.flush();
        assert_eq!(a.summary(), s);
    }
}
