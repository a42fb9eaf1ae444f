//! The recent history of one metric: the pure core of the recorder. Time is an input (`now_ms`,
//! milliseconds since the Unix epoch), so every rule here is tested without a clock.
//!
//! Rules:
//! 1. Time is cut into `INTERVAL_MS` intervals aligned on the epoch, as go-metrics' in-memory
//!    sink cuts it (Consul: 10 s). `Intervals` keeps the exact aggregate (count, sum, min, max,
//!    sum of squares) of the current interval and of the one before, which is what the JSON
//!    form shows.
//! 2. For quantiles, a `Histogram` also counts values in log-scale buckets, eight to each power
//!    of two, so an estimate is within 6.25 % of a true value whatever the unit, from 1 ns to
//!    days and from bytes to terabytes, in a fixed 2.6 KB per slot. Slots are per interval, in
//!    a ring of `SLOTS`, so a window is "the last N intervals" and old values age out by
//!    themselves when their slot is reused.
//! 3. A quantile is the midpoint of the bucket holding its rank (nearest-rank), clamped to the
//!    smallest and largest value the window saw, so a window of one value answers that value.
//! 4. A clock that steps back lands values in the newest interval kept, never in a dropped
//!    one; nothing panics on any time.

use legate_api::telemetry::Aggregate;

/// The interval length (rule 1).
pub const INTERVAL_MS: u64 = 10_000;
/// Intervals kept for quantiles: one minute.
pub const SLOTS: usize = 6;

/// Eight buckets to each power of two (rule 2).
const SUB_BUCKET_BITS: u32 = 3;
/// Powers of two covered: 2^-30 (about 1e-9) to 2^50 (about 1e15).
const MIN_EXPONENT: i32 = -30;
const MAX_EXPONENT: i32 = 49;
/// Bucket 0 holds zero, negatives and anything below 2^MIN_EXPONENT.
pub const BUCKETS: usize = (((MAX_EXPONENT - MIN_EXPONENT + 1) as usize) << SUB_BUCKET_BITS) + 1;

/// The interval `now_ms` falls in.
pub fn interval_of(now_ms: u64) -> u64 {
    now_ms / INTERVAL_MS
}

/// The bucket `value` is counted in. Uses the float's own exponent and top mantissa bits:
/// cheaper than a logarithm, and exact at bucket edges.
pub fn bucket_of(value: f64) -> usize {
    if value.is_nan() || value < f64::powi(2.0, MIN_EXPONENT) {
        return 0;
    }
    if value >= f64::powi(2.0, MAX_EXPONENT + 1) {
        return BUCKETS - 1;
    }
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let sub = ((bits >> (52 - SUB_BUCKET_BITS)) & ((1 << SUB_BUCKET_BITS) - 1)) as usize;
    1 + (((exponent - MIN_EXPONENT) as usize) << SUB_BUCKET_BITS) + sub
}

/// The value a bucket stands for: the midpoint of its range (zero for bucket 0).
pub fn bucket_value(bucket: usize) -> f64 {
    if bucket == 0 {
        return 0.0;
    }
    let index = bucket - 1;
    let exponent = (index >> SUB_BUCKET_BITS) as i32 + MIN_EXPONENT;
    let sub = (index & ((1 << SUB_BUCKET_BITS) - 1)) as f64;
    let width = f64::from(1u32 << SUB_BUCKET_BITS);
    f64::powi(2.0, exponent) * (1.0 + (sub + 0.5) / width)
}

/// Rule 1: the current interval's aggregate and the previous one's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Intervals {
    current: Option<(u64, Aggregate)>,
    previous: Option<(u64, Aggregate)>,
}

impl Intervals {
    pub fn ingest(&mut self, value: f64, interval: u64) {
        match &mut self.current {
            // Rule 4: the same interval, or a clock that stepped back.
            Some((current, aggregate)) if *current >= interval => aggregate.ingest(value),
            _ => {
                self.previous = self.current.take();
                let mut aggregate = Aggregate::default();
                aggregate.ingest(value);
                self.current = Some((interval, aggregate));
            }
        }
    }

    /// The aggregate of `interval`, if values arrived in it and it is still kept.
    pub fn get(&self, interval: u64) -> Option<Aggregate> {
        [self.current, self.previous]
            .into_iter()
            .flatten()
            .find(|(kept, _)| *kept == interval)
            .map(|(_, aggregate)| aggregate)
    }
}

/// Bucket counts of one interval (rule 2).
#[derive(Clone, Debug, Default, PartialEq)]
struct Slot {
    interval: u64,
    /// Empty until the slot's first value, then `BUCKETS` long.
    counts: Vec<u32>,
    count: u64,
    min: f64,
    max: f64,
}

impl Slot {
    fn record(&mut self, value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        let bucket = &mut self.counts[bucket_of(value)];
        *bucket = bucket.saturating_add(1);
        if self.count == 0 || value < self.min {
            self.min = value;
        }
        if self.count == 0 || value > self.max {
            self.max = value;
        }
        self.count += 1;
    }

    fn reset(&mut self, interval: u64) {
        self.interval = interval;
        self.counts.fill(0);
        self.count = 0;
    }
}

/// A timing or a size: interval aggregates, totals since start, and bucketed slots.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    intervals: Intervals,
    slots: Vec<Slot>,
    /// The newest interval recorded into, so a stepped-back clock writes there (rule 4).
    newest: u64,
    count: u64,
    sum: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            intervals: Intervals::default(),
            slots: vec![Slot::default(); SLOTS],
            newest: 0,
            count: 0,
            sum: 0.0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, value: f64, now_ms: u64) {
        let interval = interval_of(now_ms).max(self.newest);
        self.newest = interval;
        self.intervals.ingest(value, interval);
        let slot = &mut self.slots[(interval % SLOTS as u64) as usize];
        if slot.interval != interval || slot.count == 0 {
            slot.reset(interval);
        }
        slot.record(value);
        self.count += 1;
        self.sum += value;
    }

    /// The aggregate of `interval` (rule 1).
    pub fn interval(&self, interval: u64) -> Option<Aggregate> {
        self.intervals.get(interval)
    }

    /// Values recorded since start, and their sum.
    pub fn totals(&self) -> (u64, f64) {
        (self.count, self.sum)
    }

    /// The slots of the last `window` intervals up to `now_ms` (at most `SLOTS`).
    fn window(&self, now_ms: u64, window: usize) -> impl Iterator<Item = &Slot> {
        let now = interval_of(now_ms).max(self.newest);
        let oldest = now.saturating_sub(window.clamp(1, SLOTS) as u64 - 1);
        self.slots
            .iter()
            .filter(move |slot| slot.count > 0 && (oldest..=now).contains(&slot.interval))
    }

    /// How many values the window holds.
    pub fn window_count(&self, now_ms: u64, window: usize) -> u64 {
        self.window(now_ms, window).map(|slot| slot.count).sum()
    }

    /// Estimates of each quantile in `quantiles` (0 to 1) over the last `window` intervals;
    /// `None` when the window holds no value (rule 3).
    pub fn quantiles<const N: usize>(
        &self,
        quantiles: [f64; N],
        now_ms: u64,
        window: usize,
    ) -> [Option<f64>; N] {
        let mut merged = vec![0u64; BUCKETS];
        let (mut count, mut min, mut max) = (0u64, f64::INFINITY, f64::NEG_INFINITY);
        for slot in self.window(now_ms, window) {
            for (total, add) in merged.iter_mut().zip(&slot.counts) {
                *total += u64::from(*add);
            }
            count += slot.count;
            min = min.min(slot.min);
            max = max.max(slot.max);
        }
        quantiles.map(|quantile| {
            if count == 0 {
                return None;
            }
            let rank = ((quantile.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
            let mut seen = 0;
            let bucket = merged
                .iter()
                .position(|bucket_count| {
                    seen += bucket_count;
                    seen >= rank
                })
                .unwrap_or(BUCKETS - 1);
            Some(bucket_value(bucket).clamp(min, max))
        })
    }
}

/// A counter: each increment is a value of the interval (go-metrics counts and sums them),
/// and the total since start is what Prometheus shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CounterState {
    pub intervals: Intervals,
    newest: u64,
    pub total: f64,
}

impl CounterState {
    pub fn increment(&mut self, by: f64, now_ms: u64) {
        let interval = interval_of(now_ms).max(self.newest);
        self.newest = interval;
        self.intervals.ingest(by, interval);
        self.total += by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1;
    /// A moment at the start of an interval.
    const T0: u64 = 1_796_175_000_000 * MS;

    #[test]
    fn buckets_bound_the_relative_error() {
        for value in [
            1e-6, 0.000_25, 0.1, 0.2, 1.0, 1.5, 3.7, 50.0, 99.9, 1e6, 4.2e9,
        ] {
            let estimate = bucket_value(bucket_of(value));
            assert!(
                (estimate - value).abs() / value <= 0.0625,
                "{value} → {estimate}"
            );
        }
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(-5.0), 0);
        assert_eq!(bucket_of(f64::NAN), 0);
        assert_eq!(bucket_of(f64::INFINITY), BUCKETS - 1);
        assert!(bucket_of(1.0) < bucket_of(1.2));
        assert_eq!(bucket_of(1.0), bucket_of(1.1));
    }

    #[test]
    fn intervals_keep_the_current_and_the_previous() {
        let mut intervals = Intervals::default();
        intervals.ingest(1.0, 5);
        intervals.ingest(3.0, 5);
        assert_eq!(intervals.get(5).map(|a| (a.count, a.sum)), Some((2, 4.0)));
        intervals.ingest(10.0, 6);
        assert_eq!(intervals.get(5).map(|a| a.count), Some(2));
        assert_eq!(intervals.get(6).map(|a| a.max), Some(10.0));
        // A gap: interval 7 had nothing, so 8 follows 6.
        intervals.ingest(2.0, 8);
        assert_eq!(intervals.get(5), None);
        assert_eq!(intervals.get(7), None);
        assert_eq!(intervals.get(6).map(|a| a.count), Some(1));
        // A clock stepping back lands in the newest interval (rule 4).
        intervals.ingest(4.0, 3);
        assert_eq!(intervals.get(8).map(|a| a.count), Some(2));
    }

    #[test]
    fn quantiles_over_a_window() {
        let mut histogram = Histogram::default();
        assert_eq!(histogram.quantiles([0.5, 0.99], T0, SLOTS), [None, None]);
        // 99 fast fsyncs of 0.2 ms and one slow one of 80 ms.
        for _ in 0..99 {
            histogram.record(0.2, T0);
        }
        histogram.record(80.0, T0 + 500);
        let [p50, p99, p100] = histogram.quantiles([0.5, 0.99, 1.0], T0 + 1_000, SLOTS);
        let near = |value: Option<f64>, want: f64| (value.unwrap() - want).abs() / want <= 0.0625;
        assert!(near(p50, 0.2), "{p50:?}");
        assert!(near(p99, 0.2), "{p99:?}");
        // The largest value is exact: it is the clamp (rule 3).
        assert_eq!(p100, Some(80.0));
        // Two slow ones in a hundred and one move p99.
        histogram.record(80.0, T0 + 600);
        let [p99] = histogram.quantiles([0.99], T0 + 1_000, SLOTS);
        assert!(near(p99, 80.0), "{p99:?}");
        assert_eq!(histogram.totals().0, 101);
        assert_eq!(histogram.window_count(T0, SLOTS), 101);
    }

    #[test]
    fn old_values_age_out_of_the_window() {
        let mut histogram = Histogram::default();
        histogram.record(100.0, T0);
        let later = T0 + INTERVAL_MS * 3;
        histogram.record(1.0, later);
        // A window of two intervals no longer holds the first value; six still do.
        assert_eq!(histogram.quantiles([1.0], later, 2), [Some(1.0)]);
        assert_eq!(histogram.quantiles([1.0], later, SLOTS), [Some(100.0)]);
        // A minute on, its slot is reused and the value is gone even from the full window.
        let minute_on = T0 + INTERVAL_MS * SLOTS as u64;
        histogram.record(2.0, minute_on);
        assert_eq!(histogram.quantiles([1.0], minute_on, SLOTS), [Some(2.0)]);
        assert_eq!(histogram.window_count(minute_on, SLOTS), 2);
        // With no new values, a window far in the future is empty.
        assert_eq!(histogram.quantiles([0.5], minute_on * 2, SLOTS), [None]);
        // The interval aggregates are exact and independent of buckets.
        let shown = histogram.interval(interval_of(minute_on)).unwrap();
        assert_eq!((shown.count, shown.sum), (1, 2.0));
        assert_eq!(histogram.totals(), (3, 103.0));
    }

    #[test]
    fn counters_count_increments_per_interval() {
        let mut counter = CounterState::default();
        counter.increment(3.0, T0);
        counter.increment(7.0, T0 + 9_999);
        counter.increment(1.0, T0 + INTERVAL_MS);
        let first = counter.intervals.get(interval_of(T0)).unwrap();
        assert_eq!((first.count, first.sum), (2, 10.0));
        assert_eq!(counter.total, 11.0);
    }
}
