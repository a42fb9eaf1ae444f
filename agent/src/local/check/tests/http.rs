//! HTTP probes against a real axum server, and HTTPS against a self-signed one.

use super::super::probe::Probe;
use super::{closed_address, tls_acceptor};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use legate_api::local::{CheckKind, HttpProbe};
use legate_catalog::Health;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Counts the requests that reach the redirect's target, which must stay at zero.
#[derive(Clone, Default)]
struct Server {
    redirect_target_hits: Arc<AtomicUsize>,
}

async fn serve() -> (String, Server) {
    let server = Server::default();
    let app = Router::new()
        .route("/ok", get(|| async { "all good" }))
        .route(
            "/busy",
            get(|| async { (StatusCode::TOO_MANY_REQUESTS, "slow down") }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }),
        )
        .route(
            "/redirect",
            get(|| async { (StatusCode::FOUND, [("location", "/target")], "moved") }),
        )
        .route(
            "/target",
            get(|server: State<Server>| async move {
                server.redirect_target_hits.fetch_add(1, Ordering::SeqCst);
                "target"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .route("/large", get(large))
        .route("/echo", any(echo))
        .with_state(server.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), server)
}

/// A body far larger than any output: 64 MiB, streamed, so that reading it whole would show.
async fn large() -> Response {
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let stream = futures::stream::iter((0..1024).map(move |_| Ok::<_, Infallible>(chunk.clone())));
    Body::from_stream(stream).into_response()
}

/// Answers with what it was sent.
async fn echo(method: Method, headers: HeaderMap, body: String) -> String {
    let header = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "method={method} ua={} accept={} x-test={} body={body}",
        header("user-agent"),
        header("accept"),
        header("x-test")
    )
}

fn probe(url: String) -> HttpProbe {
    HttpProbe {
        url,
        ..HttpProbe::default()
    }
}

async fn run(probe: HttpProbe, output_max_size: usize, timeout: Duration) -> (Health, String) {
    let probe = Probe::new(&CheckKind::Http(probe), output_max_size).unwrap();
    let outcome = probe.run(timeout).await;
    (outcome.status, outcome.output)
}

#[tokio::test]
async fn success_is_passing_with_consuls_output() {
    let (base, _) = serve().await;
    let url = format!("{base}/ok");
    let (status, output) = run(probe(url.clone()), 4096, TIMEOUT).await;
    assert_eq!(status, Health::Passing);
    assert_eq!(output, format!("HTTP GET {url}: 200 OK Output: all good"));
}

#[tokio::test]
async fn too_many_requests_is_warning() {
    let (base, _) = serve().await;
    let url = format!("{base}/busy");
    let (status, output) = run(probe(url.clone()), 4096, TIMEOUT).await;
    assert_eq!(status, Health::Warning);
    assert_eq!(
        output,
        format!("HTTP GET {url}: 429 Too Many Requests Output: slow down")
    );
}

#[tokio::test]
async fn server_error_is_critical() {
    let (base, _) = serve().await;
    let url = format!("{base}/fail");
    let (status, output) = run(probe(url.clone()), 4096, TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert_eq!(
        output,
        format!("HTTP GET {url}: 500 Internal Server Error Output: broken")
    );
}

#[tokio::test]
async fn a_redirect_is_the_answer_and_is_not_followed() {
    let (base, server) = serve().await;
    let url = format!("{base}/redirect");
    let (status, output) = run(probe(url.clone()), 4096, TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert_eq!(output, format!("HTTP GET {url}: 302 Found Output: moved"));
    assert_eq!(server.redirect_target_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_slow_answer_times_out_critical() {
    let (base, _) = serve().await;
    let url = format!("{base}/slow");
    let started = std::time::Instant::now();
    let (status, output) = run(probe(url.clone()), 4096, Duration::from_millis(300)).await;
    assert_eq!(status, Health::Critical);
    assert_eq!(
        output,
        format!(
            "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_large_body_is_capped() {
    let (base, _) = serve().await;
    let url = format!("{base}/large");
    let started = std::time::Instant::now();
    let (status, output) = run(probe(url.clone()), 100, TIMEOUT).await;
    assert_eq!(status, Health::Passing);
    // Exactly the first 100 bytes of the body were read; the runner then cuts the whole
    // output to the size (see the runner tests).
    assert_eq!(
        output,
        format!("HTTP GET {url}: 200 OK Output: {}", "x".repeat(100))
    );
    // Reading 64 MiB would take far longer than stopping at 100 bytes.
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connection_refused_is_critical_with_the_cause() {
    let url = format!("http://{}/ok", closed_address().await);
    let (status, output) = run(probe(url.clone()), 4096, TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert!(output.starts_with(&format!("Get {url:?}: ")), "{output}");
    assert!(output.contains("onnection refused"), "{output}");
}

#[tokio::test]
async fn method_headers_and_body_are_sent_with_consuls_defaults() {
    let (base, _) = serve().await;
    let url = format!("{base}/echo");
    let (_, output) = run(probe(url.clone()), 4096, TIMEOUT).await;
    assert_eq!(
        output,
        format!(
            "HTTP GET {url}: 200 OK Output: method=GET ua=Consul Health Check \
             accept=text/plain, text/*, */* x-test= body="
        )
    );

    let mut header = BTreeMap::new();
    header.insert("X-Test".to_owned(), vec!["a".to_owned(), "b".to_owned()]);
    header.insert("User-Agent".to_owned(), vec!["mine".to_owned()]);
    let custom = HttpProbe {
        url: url.clone(),
        method: "POST".into(),
        header,
        body: "{\"ping\":1}".into(),
        ..HttpProbe::default()
    };
    let (status, output) = run(custom, 4096, TIMEOUT).await;
    assert_eq!(status, Health::Passing);
    assert_eq!(
        output,
        format!(
            "HTTP POST {url}: 200 OK Output: method=POST ua=mine \
             accept=text/plain, text/*, */* x-test=a,b body={{\"ping\":1}}"
        )
    );
}

/// An HTTPS server with a self-signed certificate for `localhost`.
async fn serve_tls() -> String {
    let acceptor = tls_acceptor(&[b"http/1.1"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(|_request| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("secure"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("https://localhost:{port}/health")
}

#[tokio::test]
async fn https_with_skip_verify_accepts_a_self_signed_certificate() {
    let url = serve_tls().await;
    let secure = HttpProbe {
        url: url.clone(),
        tls_skip_verify: true,
        ..HttpProbe::default()
    };
    let (status, output) = run(secure, 4096, TIMEOUT).await;
    assert_eq!(status, Health::Passing, "{output}");
    assert_eq!(output, format!("HTTP GET {url}: 200 OK Output: secure"));
}

#[tokio::test]
async fn https_without_skip_verify_refuses_an_unknown_issuer() {
    let url = serve_tls().await;
    let (status, output) = run(probe(url.clone()), 4096, TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert!(output.contains("certificate"), "{output}");

    // A server name does not make an untrusted certificate trusted.
    let named = HttpProbe {
        url,
        tls_server_name: "localhost".into(),
        ..HttpProbe::default()
    };
    let (status, output) = run(named, 4096, TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert!(output.contains("certificate"), "{output}");
}
