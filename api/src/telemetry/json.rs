//! The JSON form of `/v1/agent/metrics`: go-metrics' `MetricsSummary`, which Consul's
//! `AgentMetrics` answers from its in-memory sink (`inmem_endpoint.go`).
//!
//! Rules, as go-metrics has them:
//! 1. Counters and samples are those of one interval (`MetricsSnapshot::interval_start`); a
//!    metric with no value in it is absent. `Rate` is the interval's sum per second.
//! 2. Each list is sorted by name, then labels, so the order is stable.
//! 3. `Labels` is an object, `{}` when there are none; `Points` is always `[]` (nothing in
//!    Consul emits points).
//!
//! One difference: go-metrics lists a gauge only in the interval it was last set in, while
//! here every gauge shows its current value, so a gauge set rarely never drops out.

use super::{Aggregate, MetricId, MetricsSnapshot};
use crate::timestamp::go_utc_rounded;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    pub timestamp: String,
    pub gauges: Vec<Gauge>,
    /// Always empty; see rule 3.
    pub points: Vec<Point>,
    pub counters: Vec<Sampled>,
    pub samples: Vec<Sampled>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Gauge {
    pub name: String,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Point {
    pub name: String,
    pub points: Vec<f64>,
}

/// go-metrics' `SampledValue`: the embedded `AggregateSample` fields, then `Mean`, `Stddev`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sampled {
    pub name: String,
    pub count: u64,
    pub rate: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub stddev: f64,
    pub labels: BTreeMap<String, String>,
}

fn labels(id: &MetricId) -> BTreeMap<String, String> {
    id.labels.iter().cloned().collect()
}

fn sampled(id: &MetricId, aggregate: &Aggregate, interval_seconds: f64) -> Sampled {
    Sampled {
        name: id.name.clone(),
        count: aggregate.count,
        rate: if interval_seconds > 0.0 {
            aggregate.sum / interval_seconds
        } else {
            0.0
        },
        sum: aggregate.sum,
        min: aggregate.min,
        max: aggregate.max,
        mean: aggregate.mean(),
        stddev: aggregate.stddev(),
        labels: labels(id),
    }
}

/// The summary of `snapshot` (rules 1 to 3).
pub fn summary(snapshot: &MetricsSnapshot) -> Summary {
    let seconds = snapshot.interval.as_secs_f64();
    let mut gauges: Vec<(&MetricId, Gauge)> = snapshot
        .gauges
        .iter()
        .map(|gauge| {
            let shown = Gauge {
                name: gauge.id.name.clone(),
                value: gauge.value,
                labels: labels(&gauge.id),
            };
            (&gauge.id, shown)
        })
        .collect();
    gauges.sort_by(|a, b| a.0.cmp(b.0));
    let mut counters: Vec<(&MetricId, Sampled)> = snapshot
        .counters
        .iter()
        .filter_map(|counter| {
            let aggregate = counter.interval.as_ref()?;
            Some((&counter.id, sampled(&counter.id, aggregate, seconds)))
        })
        .collect();
    counters.sort_by(|a, b| a.0.cmp(b.0));
    let mut samples: Vec<(&MetricId, Sampled)> = snapshot
        .samples
        .iter()
        .filter_map(|sample| {
            let aggregate = sample.interval.as_ref()?;
            Some((&sample.id, sampled(&sample.id, aggregate, seconds)))
        })
        .collect();
    samples.sort_by(|a, b| a.0.cmp(b.0));
    Summary {
        timestamp: go_utc_rounded(snapshot.interval_start),
        gauges: gauges.into_iter().map(|(_, gauge)| gauge).collect(),
        points: Vec::new(),
        counters: counters.into_iter().map(|(_, counter)| counter).collect(),
        samples: samples.into_iter().map(|(_, sample)| sample).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{CounterValue, GaugeValue, SampleValue};
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    fn aggregate(values: &[f64]) -> Aggregate {
        let mut aggregate = Aggregate::default();
        for value in values {
            aggregate.ingest(*value);
        }
        aggregate
    }

    #[test]
    fn renders_go_metrics_summary() {
        let http = MetricId {
            name: "consul.api.http".to_owned(),
            labels: vec![
                ("method".to_owned(), "PUT".to_owned()),
                ("path".to_owned(), "v1_kv_".to_owned()),
            ],
        };
        let snapshot = MetricsSnapshot {
            // 2026-12-02 01:30:00 UTC.
            interval_start: UNIX_EPOCH + Duration::from_secs(1_796_175_000),
            interval: Duration::from_secs(10),
            gauges: vec![GaugeValue {
                id: MetricId::named("consul.raft.last_index"),
                value: 42.0,
            }],
            counters: vec![
                CounterValue {
                    id: MetricId::named("consul.raft.state.leader"),
                    interval: None,
                    total: 1.0,
                },
                CounterValue {
                    id: MetricId::named("consul.raft.apply"),
                    interval: Some(aggregate(&[3.0, 7.0])),
                    total: 12.0,
                },
            ],
            samples: vec![
                SampleValue {
                    id: MetricId::named("legate.raft.log.fsync"),
                    interval: Some(aggregate(&[1.0, 3.0])),
                    count: 9,
                    sum: 20.0,
                    quantiles: [Some(2.0), Some(3.0), Some(3.0)],
                },
                SampleValue {
                    id: http,
                    interval: Some(aggregate(&[0.5])),
                    count: 1,
                    sum: 0.5,
                    quantiles: [Some(0.5); 3],
                },
            ],
        };
        let value = serde_json::to_value(summary(&snapshot)).unwrap();
        assert_eq!(
            value,
            json!({
                "Timestamp": "2026-12-02 01:30:00 +0000 UTC",
                "Gauges": [{"Name": "consul.raft.last_index", "Value": 42.0, "Labels": {}}],
                "Points": [],
                "Counters": [{
                    "Name": "consul.raft.apply", "Count": 2, "Rate": 1.0, "Sum": 10.0,
                    "Min": 3.0, "Max": 7.0, "Mean": 5.0, "Stddev": 8.0f64.sqrt(), "Labels": {}
                }],
                "Samples": [
                    {
                        "Name": "consul.api.http", "Count": 1, "Rate": 0.05, "Sum": 0.5,
                        "Min": 0.5, "Max": 0.5, "Mean": 0.5, "Stddev": 0.0,
                        "Labels": {"method": "PUT", "path": "v1_kv_"}
                    },
                    {
                        "Name": "legate.raft.log.fsync", "Count": 2, "Rate": 0.4, "Sum": 4.0,
                        "Min": 1.0, "Max": 3.0, "Mean": 2.0, "Stddev": 2.0f64.sqrt(),
                        "Labels": {}
                    }
                ]
            })
        );
    }
}
