//! `/v1/agent/metrics`: Consul's JSON shape, the Prometheus text form (by `?format=` and by
//! `Accept`), and the method table.

use crate::harness::Harness;
use axum::body::Body;
use axum::http::{Method, Request};
use legate_api::telemetry::{
    Aggregate, CounterValue, GaugeValue, MetricId, MetricsSnapshot, SampleValue,
};
use legate_api::testing::exposition;
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};

fn aggregate(values: &[f64]) -> Aggregate {
    let mut aggregate = Aggregate::default();
    for value in values {
        aggregate.ingest(*value);
    }
    aggregate
}

/// A snapshot with one metric of each kind, plus one sample absent from the interval shown.
fn snapshot() -> MetricsSnapshot {
    MetricsSnapshot {
        interval_start: UNIX_EPOCH + Duration::from_secs(1_796_175_000),
        interval: Duration::from_secs(10),
        gauges: vec![GaugeValue {
            id: MetricId::named("legate.raft.fsync.slow"),
            value: 0.0,
        }],
        counters: vec![CounterValue {
            id: MetricId::named("consul.raft.apply"),
            interval: Some(aggregate(&[4.0, 6.0])),
            total: 30.0,
        }],
        samples: vec![
            SampleValue {
                id: MetricId::named("legate.raft.log.fsync"),
                interval: Some(aggregate(&[0.5, 1.5])),
                count: 20,
                sum: 14.0,
                quantiles: [Some(0.5), Some(1.5), Some(1.5)],
            },
            SampleValue {
                id: MetricId {
                    name: "consul.api.http".to_owned(),
                    labels: vec![
                        ("method".to_owned(), "GET".to_owned()),
                        ("path".to_owned(), "v1_kv_".to_owned()),
                    ],
                },
                interval: None,
                count: 3,
                sum: 0.75,
                quantiles: [None; 3],
            },
        ],
    }
}

fn with_snapshot() -> Harness {
    let api = Harness::new();
    *api.backend.metrics.lock().unwrap() = Some(snapshot());
    api
}

/// Asserts `value` is go-metrics' `MetricsSummary`: the five keys and each entry's fields.
fn assert_consul_shape(value: &Value) {
    let object = value.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["Counters", "Gauges", "Points", "Samples", "Timestamp"]
    );
    assert!(value["Timestamp"].as_str().unwrap().ends_with(" +0000 UTC"));
    assert_eq!(value["Points"], serde_json::json!([]));
    for gauge in value["Gauges"].as_array().unwrap() {
        let mut fields: Vec<&str> = gauge
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(fields, ["Labels", "Name", "Value"]);
    }
    for list in ["Counters", "Samples"] {
        for entry in value[list].as_array().unwrap() {
            let mut fields: Vec<&str> = entry
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            fields.sort_unstable();
            assert_eq!(
                fields,
                ["Count", "Labels", "Max", "Mean", "Min", "Name", "Rate", "Stddev", "Sum"],
                "{list}"
            );
            assert!(entry["Labels"].is_object());
        }
    }
}

#[tokio::test]
async fn json_has_consuls_shape() {
    let api = with_snapshot();
    let reply = api.get("/v1/agent/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.assert_no_read_headers();
    let value = reply.json();
    assert_consul_shape(&value);
    assert_eq!(value["Timestamp"], "2026-12-02 01:30:00 +0000 UTC");
    assert_eq!(value["Gauges"][0]["Name"], "legate.raft.fsync.slow");
    let counter = &value["Counters"][0];
    assert_eq!(
        (
            &counter["Name"],
            &counter["Count"],
            &counter["Sum"],
            &counter["Rate"]
        ),
        (
            &"consul.raft.apply".into(),
            &2.into(),
            &10.0.into(),
            &1.0.into()
        )
    );
    // The HTTP sample had nothing in the interval shown, so only the fsync one is listed.
    let samples = value["Samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0]["Name"], "legate.raft.log.fsync");
    assert_eq!(samples[0]["Mean"], 1.0);
    // `?pretty` indents as Consul does.
    let pretty = api.get("/v1/agent/metrics?pretty").await;
    assert!(pretty.text().starts_with("{\n    \"Timestamp\""));
}

#[tokio::test]
async fn json_with_nothing_recorded_is_still_consuls_shape() {
    let api = Harness::new();
    let value = api.get("/v1/agent/metrics").await.json();
    assert_consul_shape(&value);
    for list in ["Gauges", "Counters", "Samples"] {
        assert_eq!(value[list], serde_json::json!([]), "{list}");
    }
}

#[tokio::test]
async fn prometheus_format_parses_as_exposition_text() {
    let api = with_snapshot();
    let reply = api.get("/v1/agent/metrics?format=prometheus").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let parsed = exposition::parse(&reply.text()).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(parsed.types["consul_raft_apply"], "counter");
    assert_eq!(parsed.types["legate_raft_log_fsync"], "summary");
    assert_eq!(parsed.types["legate_raft_fsync_slow"], "gauge");
    assert_eq!(parsed.value("consul_raft_apply", &[]), Some(30.0));
    assert_eq!(parsed.value("legate_raft_log_fsync_count", &[]), Some(20.0));
    assert_eq!(
        parsed.value("legate_raft_log_fsync", &[("quantile", "0.99")]),
        Some(1.5)
    );
    // Totals are shown whether or not the interval had values; empty quantiles are NaN.
    let http = [("method", "GET"), ("path", "v1_kv_")];
    assert_eq!(parsed.value("consul_api_http_count", &http), Some(3.0));
    let p50 = parsed
        .value(
            "consul_api_http",
            &[("method", "GET"), ("path", "v1_kv_"), ("quantile", "0.5")],
        )
        .unwrap();
    assert!(p50.is_nan());
}

#[tokio::test]
async fn a_prometheus_scrape_gets_text_without_the_format_parameter() {
    let api = with_snapshot();
    // What Prometheus sends; Consul answers it with the Prometheus form too.
    let accept = "application/openmetrics-text;version=1.0.0;q=0.5,\
                  application/openmetrics-text;version=0.0.1;q=0.4,\
                  text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let reply = api
        .call_with(
            Request::builder()
                .method(Method::GET)
                .uri("/v1/agent/metrics")
                .header("Accept", accept),
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, 200);
    exposition::parse(&reply.text()).unwrap_or_else(|error| panic!("{error}"));
    // Any other format value is the JSON form, as in Consul.
    let reply = api.get("/v1/agent/metrics?format=json").await;
    assert_consul_shape(&reply.json());
}

#[tokio::test]
async fn only_get_is_allowed() {
    let api = with_snapshot();
    let reply = api.put("/v1/agent/metrics", "").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("OPTIONS,GET"));
}
