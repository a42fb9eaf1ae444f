use crate::harness::Agent;
use reqwest::blocking::Client;
use serde_json::Value;

#[test]
fn put_get_list_delete_over_http() {
    let agent = Agent::server(&[]);
    let http = Client::new();
    let put = http
        .put(agent.url("/v1/kv/app/config"))
        .body("hello")
        .send()
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.text().unwrap(), "true");

    let got = http.get(agent.url("/v1/kv/app/config")).send().unwrap();
    assert_eq!(got.status(), 200);
    let index: u64 = got.headers()["x-consul-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(index > 0);
    assert_eq!(got.headers()["x-consul-knownleader"], "true");
    assert!(got.headers().contains_key("x-consul-lastcontact"));
    let body: Value = got.json().unwrap();
    assert_eq!(body[0]["Key"], "app/config");
    assert_eq!(body[0]["Value"], "aGVsbG8=");
    assert_eq!(body[0]["ModifyIndex"].as_u64(), Some(index));

    let raw = http.get(agent.url("/v1/kv/app/config?raw")).send().unwrap();
    assert_eq!(raw.text().unwrap(), "hello");

    http.put(agent.url("/v1/kv/app/other?flags=42"))
        .body("x")
        .send()
        .unwrap();
    let listed: Value = http
        .get(agent.url("/v1/kv/app/?recurse"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["Flags"], 42);

    let deleted = http.delete(agent.url("/v1/kv/app/config")).send().unwrap();
    assert_eq!(deleted.text().unwrap(), "true");
    let missing = http.get(agent.url("/v1/kv/app/config")).send().unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("x-consul-index"));
    assert_eq!(missing.text().unwrap(), "");
}

#[test]
fn cas_answers_true_then_false() {
    let agent = Agent::server(&[]);
    let http = Client::new();
    let first = http
        .put(agent.url("/v1/kv/lock?cas=0"))
        .body("a")
        .send()
        .unwrap();
    assert_eq!(first.text().unwrap(), "true");
    let again = http
        .put(agent.url("/v1/kv/lock?cas=0"))
        .body("b")
        .send()
        .unwrap();
    assert_eq!(again.text().unwrap(), "false");
    let entry: Value = http
        .get(agent.url("/v1/kv/lock"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let index = entry[0]["ModifyIndex"].as_u64().unwrap();
    let right = http
        .put(agent.url(&format!("/v1/kv/lock?cas={index}")))
        .body("c")
        .send()
        .unwrap();
    assert_eq!(right.text().unwrap(), "true");
    let stale = http
        .put(agent.url(&format!("/v1/kv/lock?cas={index}")))
        .body("d")
        .send()
        .unwrap();
    assert_eq!(stale.text().unwrap(), "false");
}

#[test]
fn concurrent_writes_batched_together_keep_their_own_results() {
    // Many writers at once end up in shared Raft entries; each must still get its own
    // answer: of 32 create-only writes to one key exactly one wins, and plain writes to
    // distinct keys all land.
    let agent = Agent::server(&[]);
    let url = agent.addr();
    let handles: Vec<_> = (0..32)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let http = Client::new();
                let won = http
                    .put(format!("{url}/v1/kv/race?cas=0"))
                    .body(format!("writer-{i}"))
                    .send()
                    .unwrap()
                    .text()
                    .unwrap();
                let own = http
                    .put(format!("{url}/v1/kv/own/{i}"))
                    .body(i.to_string())
                    .send()
                    .unwrap()
                    .text()
                    .unwrap();
                (won == "true", own == "true")
            })
        })
        .collect();
    let results: Vec<(bool, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|(won, _)| *won).count(), 1);
    assert!(results.iter().all(|(_, own)| *own));
    let http = Client::new();
    let keys: Vec<String> = http
        .get(agent.url("/v1/kv/own/?keys"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(keys.len(), 32);
}
