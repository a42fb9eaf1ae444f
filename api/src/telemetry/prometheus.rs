//! The Prometheus form of `/v1/agent/metrics` (`?format=prometheus`): text exposition format
//! 0.0.4, as go-metrics' Prometheus sink feeds it to Consul's `promhttp` handler.
//!
//! Rules:
//! 1. A name is flattened as go-metrics does: every character outside `[a-zA-Z0-9_:]`
//!    becomes `_` (`consul.raft.commitTime` → `consul_raft_commitTime`). Label names are
//!    flattened the same way; label values are escaped (`\\`, `\"`, `\n`).
//! 2. Gauges are `gauge`s; counters are `counter`s holding their total since the agent
//!    started; samples are `summary`s with the 0.5, 0.9 and 0.99 quantiles over a recent
//!    window (`NaN` when it is empty) and `_sum`/`_count` since start.
//! 3. Each family is written once, `# HELP` and `# TYPE` then its series sorted by labels;
//!    families are sorted by name within each type.

use super::{MetricId, MetricsSnapshot, QUANTILES};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The content type of the answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Rule 1, for metric and label names.
pub fn flatten(name: &str) -> String {
    let mut flat: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if flat.is_empty() || flat.starts_with(|c: char| c.is_ascii_digit()) {
        flat.insert(0, '_');
    }
    flat
}

fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A value as the format spells it (`NaN`, `+Inf`, `-Inf`, or a plain number).
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{value}")
    }
}

/// `{a="1",b="2"}` with `extra` last, or nothing when there are no labels.
fn label_set(id: &MetricId, extra: Option<(&str, &str)>) -> String {
    let pairs: Vec<String> = id
        .labels
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain(extra)
        .map(|(name, value)| format!("{}=\"{}\"", flatten(name), escape_label_value(value)))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

/// One family: its flattened name, the dotted name for `# HELP`, and its series.
struct Family<'a, T> {
    help: &'a str,
    series: Vec<(&'a MetricId, &'a T)>,
}

/// Groups metrics by flattened name (rule 3).
fn families<'a, T>(
    items: impl Iterator<Item = (&'a MetricId, &'a T)>,
) -> BTreeMap<String, Family<'a, T>> {
    let mut families: BTreeMap<String, Family<'a, T>> = BTreeMap::new();
    for (id, item) in items {
        families
            .entry(flatten(&id.name))
            .or_insert_with(|| Family {
                help: &id.name,
                series: Vec::new(),
            })
            .series
            .push((id, item));
    }
    for family in families.values_mut() {
        family.series.sort_by(|a, b| a.0.labels.cmp(&b.0.labels));
    }
    families
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {}", help.replace('\\', "\\\\"));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The exposition text of `snapshot` (rules 1 to 3).
pub fn render(snapshot: &MetricsSnapshot) -> String {
    let mut out = String::new();
    let gauges = families(snapshot.gauges.iter().map(|gauge| (&gauge.id, gauge)));
    for (name, family) in &gauges {
        header(&mut out, name, family.help, "gauge");
        for (id, gauge) in &family.series {
            let _ = writeln!(out, "{name}{} {}", label_set(id, None), number(gauge.value));
        }
    }
    let counters = families(
        snapshot
            .counters
            .iter()
            .map(|counter| (&counter.id, counter)),
    );
    for (name, family) in &counters {
        header(&mut out, name, family.help, "counter");
        for (id, counter) in &family.series {
            let _ = writeln!(
                out,
                "{name}{} {}",
                label_set(id, None),
                number(counter.total)
            );
        }
    }
    let samples = families(snapshot.samples.iter().map(|sample| (&sample.id, sample)));
    for (name, family) in &samples {
        header(&mut out, name, family.help, "summary");
        for (id, sample) in &family.series {
            for (quantile, value) in QUANTILES.iter().zip(sample.quantiles) {
                let quantile = quantile.to_string();
                let _ = writeln!(
                    out,
                    "{name}{} {}",
                    label_set(id, Some(("quantile", &quantile))),
                    number(value.unwrap_or(f64::NAN))
                );
            }
            let labels = label_set(id, None);
            let _ = writeln!(out, "{name}_sum{labels} {}", number(sample.sum));
            let _ = writeln!(out, "{name}_count{labels} {}", sample.count);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{CounterValue, GaugeValue, SampleValue};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn flattens_like_go_metrics() {
        assert_eq!(flatten("consul.raft.commitTime"), "consul_raft_commitTime");
        assert_eq!(flatten("consul.api.http"), "consul_api_http");
        assert_eq!(flatten("a-b/c d=e"), "a_b_c_d_e");
        assert_eq!(flatten("9lives"), "_9lives");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(3.0), "3");
    }

    #[test]
    fn renders_families_in_order() {
        let http = |method: &str| MetricId {
            name: "consul.api.http".to_owned(),
            labels: vec![
                ("method".to_owned(), method.to_owned()),
                ("path".to_owned(), "v1_kv_\"x\"".to_owned()),
            ],
        };
        let snapshot = MetricsSnapshot {
            interval_start: UNIX_EPOCH,
            interval: Duration::from_secs(10),
            gauges: vec![GaugeValue {
                id: MetricId::named("legate.raft.fsync.slow"),
                value: 0.0,
            }],
            counters: vec![CounterValue {
                id: MetricId::named("consul.raft.apply"),
                interval: None,
                total: 12.0,
            }],
            samples: vec![
                SampleValue {
                    id: http("PUT"),
                    interval: None,
                    count: 3,
                    sum: 1.5,
                    quantiles: [Some(0.25), Some(0.5), None],
                },
                SampleValue {
                    id: http("GET"),
                    interval: None,
                    count: 1,
                    sum: 0.125,
                    quantiles: [Some(0.125); 3],
                },
            ],
        };
        let expected = "\
# HELP legate_raft_fsync_slow legate.raft.fsync.slow
# TYPE legate_raft_fsync_slow gauge
legate_raft_fsync_slow 0
# HELP consul_raft_apply consul.raft.apply
# TYPE consul_raft_apply counter
consul_raft_apply 12
# HELP consul_api_http consul.api.http
# TYPE consul_api_http summary
consul_api_http{method=\"GET\",path=\"v1_kv_\\\"x\\\"\",quantile=\"0.5\"} 0.125
consul_api_http{method=\"GET\",path=\"v1_kv_\\\"x\\\"\",quantile=\"0.9\"} 0.125
consul_api_http{method=\"GET\",path=\"v1_kv_\\\"x\\\"\",quantile=\"0.99\"} 0.125
consul_api_http_sum{method=\"GET\",path=\"v1_kv_\\\"x\\\"\"} 0.125
consul_api_http_count{method=\"GET\",path=\"v1_kv_\\\"x\\\"\"} 1
consul_api_http{method=\"PUT\",path=\"v1_kv_\\\"x\\\"\",quantile=\"0.5\"} 0.25
consul_api_http{method=\"PUT\",path=\"v1_kv_\\\"x\\\"\",quantile=\"0.9\"} 0.5
consul_api_http{method=\"PUT\",path=\"v1_kv_\\\"x\\\"\",quantile=\"0.99\"} NaN
consul_api_http_sum{method=\"PUT\",path=\"v1_kv_\\\"x\\\"\"} 1.5
consul_api_http_count{method=\"PUT\",path=\"v1_kv_\\\"x\\\"\"} 3
";
        assert_eq!(render(&snapshot), expected);
    }
}
