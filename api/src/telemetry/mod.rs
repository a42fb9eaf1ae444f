//! Metrics as `/v1/agent/metrics` serves them: a `MetricsSnapshot` that the backend takes of
//! its recorder, and its two renderings, Consul's JSON (`json`) and the Prometheus text
//! exposition format (`prometheus`).
//!
//! The snapshot is plain data, so both renderers are pure functions of it and the frontend
//! never sees the recorder. Names are dotted as go-metrics writes them
//! (`consul.raft.commitTime`); timings are in milliseconds, as go-metrics' `MeasureSince`
//! records them.
//!
//! Layout:
//! - `json`: go-metrics' `DisplayMetrics` shape (`Timestamp`, `Gauges`, `Points`, `Counters`,
//!   `Samples`).
//! - `prometheus`: text exposition 0.0.4, with samples as summaries.

pub mod json;
pub mod prometheus;

use std::time::{Duration, SystemTime};

/// The quantiles a sample reports, as go-metrics' Prometheus sink configures its summaries.
pub const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// A metric's identity: its dotted name and its labels, in the order they were recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricId {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl MetricId {
    /// A metric without labels.
    pub fn named(name: &str) -> MetricId {
        MetricId {
            name: name.to_owned(),
            labels: Vec::new(),
        }
    }
}

/// Values folded together: go-metrics' `AggregateSample`, without its clock.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Aggregate {
    pub count: u64,
    pub sum: f64,
    /// Kept for `stddev`.
    pub sum_sq: f64,
    pub min: f64,
    pub max: f64,
}

impl Aggregate {
    pub fn ingest(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.sum_sq += value * value;
        if self.count == 1 || value < self.min {
            self.min = value;
        }
        if self.count == 1 || value > self.max {
            self.max = value;
        }
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.sum / self.count as f64
    }

    /// The sample standard deviation, by go-metrics' formula (zero below two values).
    pub fn stddev(&self) -> f64 {
        let count = self.count as f64;
        let divisor = count * (count - 1.0);
        if divisor <= 0.0 {
            return 0.0;
        }
        // Rounding can make the numerator a hair negative for identical values.
        ((count * self.sum_sq - self.sum * self.sum) / divisor)
            .max(0.0)
            .sqrt()
    }
}

/// A gauge's last value.
#[derive(Clone, Debug, PartialEq)]
pub struct GaugeValue {
    pub id: MetricId,
    pub value: f64,
}

/// A counter: what it gained in the interval shown, and since the agent started.
#[derive(Clone, Debug, PartialEq)]
pub struct CounterValue {
    pub id: MetricId,
    /// Each increment in the interval shown is one value; `None` when there was none.
    pub interval: Option<Aggregate>,
    pub total: f64,
}

/// A sample (a timing or a size): the interval shown, the totals since start, and quantiles
/// over a recent window.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleValue {
    pub id: MetricId,
    pub interval: Option<Aggregate>,
    pub count: u64,
    pub sum: f64,
    /// One estimate per entry of `QUANTILES`; `None` when the window holds no value.
    pub quantiles: [Option<f64>; 3],
}

/// Every metric at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    /// The start of the interval the JSON form shows (the last complete one, or the current
    /// one in an agent's first interval, as go-metrics' in-memory sink does).
    pub interval_start: SystemTime,
    /// Its length (go-metrics' `Rate` is the sum over this many seconds).
    pub interval: Duration,
    pub gauges: Vec<GaugeValue>,
    pub counters: Vec<CounterValue>,
    pub samples: Vec<SampleValue>,
}

impl MetricsSnapshot {
    /// A snapshot with nothing recorded (metrics are off, or a test wants an empty one).
    pub fn empty(now: SystemTime) -> MetricsSnapshot {
        MetricsSnapshot {
            interval_start: now,
            interval: Duration::from_secs(10),
            gauges: Vec::new(),
            counters: Vec::new(),
            samples: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Aggregate;

    #[test]
    fn aggregates_like_go_metrics() {
        let mut aggregate = Aggregate::default();
        assert_eq!(aggregate.mean(), 0.0);
        assert_eq!(aggregate.stddev(), 0.0);
        for value in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            aggregate.ingest(value);
        }
        assert_eq!(aggregate.count, 8);
        assert_eq!(aggregate.sum, 40.0);
        assert_eq!((aggregate.min, aggregate.max), (2.0, 9.0));
        assert_eq!(aggregate.mean(), 5.0);
        // The sample standard deviation: sqrt(32 / 7).
        assert!((aggregate.stddev() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        let mut one = Aggregate::default();
        one.ingest(-3.0);
        assert_eq!((one.min, one.max, one.stddev()), (-3.0, -3.0, 0.0));
    }
}
