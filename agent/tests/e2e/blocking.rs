//! Blocking queries against a real server: released by a write to what they read, and not
//! by writes elsewhere.

use crate::harness::Agent;
use reqwest::blocking::Client;
use std::sync::mpsc;
use std::time::Duration;

fn index_of(response: &reqwest::blocking::Response) -> u64 {
    response.headers()["x-consul-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_blocked_get_is_released_by_a_write_to_its_key_only() {
    let agent = Agent::server(&[]);
    let http = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    http.put(agent.url("/v1/kv/watched"))
        .body("1")
        .send()
        .unwrap();
    let first = http.get(agent.url("/v1/kv/watched")).send().unwrap();
    let index = index_of(&first);

    let (done, released) = mpsc::channel();
    let url = agent.url(&format!("/v1/kv/watched?index={index}&wait=60s"));
    let waiter = std::thread::spawn(move || {
        let response = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap()
            .get(url)
            .send()
            .unwrap();
        let new_index = index_of(&response);
        let body = response.text().unwrap();
        done.send((new_index, body)).unwrap();
    });

    // Writes to other keys, including ones that share a prefix, must not release it.
    for key in ["other", "watched2", "watche", "watched/child"] {
        http.put(agent.url(&format!("/v1/kv/{key}")))
            .body("x")
            .send()
            .unwrap();
    }
    assert!(
        released.recv_timeout(Duration::from_millis(1500)).is_err(),
        "released by a write to another key"
    );

    http.put(agent.url("/v1/kv/watched"))
        .body("2")
        .send()
        .unwrap();
    let (new_index, body) = released
        .recv_timeout(Duration::from_secs(30))
        .expect("released promptly by the write to its key");
    assert!(new_index > index);
    assert!(body.contains("\"Mg==\""), "answers the new value: {body}");
    waiter.join().unwrap();
}

#[test]
fn a_blocked_query_times_out_with_the_current_answer() {
    let agent = Agent::server(&[]);
    let http = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    http.put(agent.url("/v1/kv/still"))
        .body("1")
        .send()
        .unwrap();
    let index = index_of(&http.get(agent.url("/v1/kv/still")).send().unwrap());
    let started = std::time::Instant::now();
    let response = http
        .get(agent.url(&format!("/v1/kv/still?index={index}&wait=1s")))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(index_of(&response), index);
    // The wait is honoured (at least the requested second; jitter adds at most 1/16).
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[test]
fn a_blocked_service_query_wakes_on_its_service_only() {
    let agent = Agent::server(&[]);
    let http = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let register = |node: &str, service: &str| {
        let body = serde_json::json!({
            "Node": node, "Address": "10.0.0.1",
            "Service": {"Service": service, "Port": 80}
        });
        let response = http
            .put(agent.url("/v1/catalog/register"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().unwrap());
    };
    register("n1", "web");
    let index = index_of(
        &http
            .get(agent.url("/v1/health/service/web"))
            .send()
            .unwrap(),
    );
    let (done, released) = mpsc::channel();
    let url = agent.url(&format!("/v1/health/service/web?index={index}&wait=60s"));
    std::thread::spawn(move || {
        let response = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap()
            .get(url)
            .send()
            .unwrap();
        done.send(response.text().unwrap()).unwrap();
    });
    register("n2", "db");
    assert!(released.recv_timeout(Duration::from_millis(1500)).is_err());
    register("n2", "web");
    let body = released
        .recv_timeout(Duration::from_secs(30))
        .expect("released");
    assert!(body.contains("\"n2\""), "{body}");
}
