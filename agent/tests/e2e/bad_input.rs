//! Bad input gets Consul's status and a plain-text message, and the server keeps serving.

use crate::harness::Agent;
use reqwest::blocking::Client;

fn expect(response: reqwest::blocking::Response, status: u16, text: &str) {
    assert_eq!(response.status().as_u16(), status);
    let body = response.text().unwrap();
    assert!(body.contains(text), "expected {text:?} in {body:?}");
}

#[test]
fn bad_requests_get_consul_answers_and_the_server_keeps_serving() {
    let agent = Agent::server(&[]);
    let http = Client::new();
    let send = |method: reqwest::Method, path: &str, body: Vec<u8>| {
        http.request(method, agent.url(path))
            .body(body)
            .send()
            .unwrap()
    };
    use reqwest::Method;

    expect(
        send(Method::PUT, "/v1/catalog/register", b"{not json".to_vec()),
        400,
        "decode",
    );
    expect(
        send(Method::PUT, "/v1/kv/big", vec![b'x'; 600 * 1024]),
        413,
        "too large",
    );
    expect(
        send(Method::GET, "/v1/kv/k?index=1&wait=forever", vec![]),
        400,
        "Invalid wait time",
    );
    expect(
        send(Method::GET, "/v1/kv/k?index=abc", vec![]),
        400,
        "Invalid index",
    );
    expect(
        send(Method::GET, "/v1/kv/", vec![]),
        400,
        "Missing key name",
    );
    expect(
        send(Method::GET, "/v1/kv/k?stale&consistent", vec![]),
        400,
        "stale",
    );
    expect(
        send(Method::PUT, "/v1/kv/k?cas=1&acquire=x", vec![]),
        400,
        "Conflicting flags",
    );
    expect(
        send(Method::GET, "/v1/kv/k?ns=team", vec![]),
        400,
        "Enterprise",
    );
    expect(send(Method::GET, "/v1/no/such/path", vec![]), 404, "");
    let wrong_method = send(Method::POST, "/v1/status/leader", vec![]);
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert!(wrong_method.headers().contains_key("allow"));

    // A body far over every limit is refused without being read into memory.
    let huge = send(
        Method::PUT,
        "/v1/catalog/register",
        vec![b' '; 32 * 1024 * 1024],
    );
    assert!(huge.status().as_u16() == 413 || huge.status().as_u16() == 400);

    // Still serving, and nothing half-applied.
    let put = send(Method::PUT, "/v1/kv/after", b"ok".to_vec());
    assert_eq!(put.text().unwrap(), "true");
    assert_eq!(
        send(Method::GET, "/v1/kv/big", vec![]).status().as_u16(),
        404
    );
}
