//! HTTP from clients: requests to the `/v1` API, routed and answered as the agent's HTTP server
//! does, over the in-memory `FakeBackend` (the router, the query-string and body decoders and
//! the handlers are the real ones; only the store behind them is a fake).

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use legate_api::testing::FakeBackend;
use legate_api::{router, ApiConfig};
use std::sync::Arc;
use tower::ServiceExt;

const METHODS: [Method; 5] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::HEAD,
];

/// Up to four requests in a row against one fresh agent, separated by a 0xFF byte; in each,
/// the first byte picks the method, the bytes up to the first newline are the path and query
/// string (`kv/a?cas=3`, `/v1/` added when missing), and the rest is the body. No request may
/// panic or hang, and an error answer says why in plain text.
pub fn requests(data: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        // Blocking queries and timeouts run on paused time, so a `?wait=10m` costs nothing.
        .start_paused(true)
        .build()
        .expect("a runtime");
    let app = router(Arc::new(FakeBackend::new()), ApiConfig::default());
    runtime.block_on(async {
        for one in data.split(|byte| *byte == 0xff).take(4) {
            let Some(request) = request(one) else {
                continue;
            };
            let shown = format!("{} {}", request.method(), request.uri());
            let response = app.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|body| body.to_bytes())
                .unwrap_or_default();
            // Consul answers some client mistakes with 500 ("Missing node registration", a
            // bad `filter`), and Legate keeps its codes; what no error may be is mute.
            if status.is_server_error() {
                let text = std::str::from_utf8(&body).unwrap_or_default();
                assert!(
                    !text.trim().is_empty(),
                    "{shown} was answered {status} without saying why"
                );
            }
        }
    });
}

fn request(bytes: &[u8]) -> Option<Request<Body>> {
    let (&method, rest) = bytes.split_first()?;
    let method = METHODS[usize::from(method) % METHODS.len()].clone();
    let (target, body) = match rest.iter().position(|byte| *byte == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let target = String::from_utf8_lossy(target);
    let target = if target.starts_with("/v1/") {
        target.into_owned()
    } else {
        format!("/v1/{}", target.trim_start_matches('/'))
    };
    // A target that is not a URI never reaches the router: hyper refuses it first.
    Request::builder()
        .method(method)
        .uri(target)
        .body(Body::from(body.to_vec()))
        .ok()
}
