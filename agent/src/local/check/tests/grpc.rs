//! gRPC probes against a small `grpc.health.v1` server written on hyper's HTTP/2 server,
//! over h2c and over TLS.

use super::super::probe::Probe;
use super::{closed_address, tls_acceptor};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use legate_api::local::{CheckKind, GrpcProbe};
use legate_catalog::Health;
use std::convert::Infallible;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Infallible>;

/// The health service: the server (`""`) and `db` are SERVING, `down` NOT_SERVING, `slow`
/// never answers in time, `gone` answers HTTP 404, `bare` sends no status, and other names
/// are unknown (NotFound, as grpc-go's health server answers).
async fn health(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let headers_ok = request.uri().path() == "/grpc.health.v1.Health/Check"
        && request.headers()["content-type"] == "application/grpc"
        && request.headers()["te"] == "trailers";
    let body = request.into_body().collect().await.unwrap().to_bytes();
    if !headers_ok {
        return Ok(trailers_only(3, "bad request headers"));
    }
    Ok(match requested_service(&body).as_str() {
        "" | "db" => answer(1),
        "down" => answer(2),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            answer(1)
        }
        "bare" => Response::builder()
            .header("content-type", "application/grpc")
            .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 2, 0x08, 1])).boxed())
            .unwrap(),
        "gone" => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new()).boxed())
            .unwrap(),
        _ => trailers_only(5, "unknown%20service"),
    })
}

/// The `service` of a length-prefixed `HealthCheckRequest` (short names only).
fn requested_service(frame: &[u8]) -> String {
    let message = &frame[5..];
    if message.is_empty() {
        return String::new();
    }
    assert_eq!(message[0], 0x0a);
    let length = message[1] as usize;
    String::from_utf8(message[2..2 + length].to_vec()).unwrap()
}

/// A `HealthCheckResponse` with `status`, then `grpc-status: 0` in the trailers.
fn answer(status: u8) -> Response<Body> {
    let message = Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let frames = futures::stream::iter([
        Ok::<_, Infallible>(Frame::data(message)),
        Ok(Frame::trailers(trailers)),
    ]);
    Response::builder()
        .header("content-type", "application/grpc")
        .body(StreamBody::new(frames).boxed())
        .unwrap()
}

/// A refusal: the status in the headers, no body.
fn trailers_only(code: u32, message: &'static str) -> Response<Body> {
    Response::builder()
        .header("content-type", "application/grpc")
        .header("grpc-status", code.to_string())
        .header("grpc-message", message)
        .body(Full::new(Bytes::new()).boxed())
        .unwrap()
}

async fn serve_connection<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service_fn(health))
        .await;
}

/// Serves the health service over h2c (or TLS with ALPN `h2`); returns `127.0.0.1:<port>`.
async fn serve(tls: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let acceptor = tls.then(|| tls_acceptor(&[b"h2"]));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve_connection(stream).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve_connection(stream).await;
                        }
                    }
                }
            });
        }
    });
    address
}

async fn check(probe: GrpcProbe, timeout: Duration) -> (Health, String) {
    let probe = Probe::new(&CheckKind::Grpc(probe), 4096).unwrap();
    let outcome = probe.run(timeout).await;
    (outcome.status, outcome.output)
}

fn target(target: String) -> GrpcProbe {
    GrpcProbe {
        target,
        ..GrpcProbe::default()
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn serving_is_passing() {
    let address = serve(false).await;
    let (status, output) = check(target(address.clone()), TIMEOUT).await;
    assert_eq!(status, Health::Passing, "{output}");
    assert_eq!(output, format!("gRPC check {address}: success"));

    let named = format!("{address}/db");
    let (status, output) = check(target(named.clone()), TIMEOUT).await;
    assert_eq!(status, Health::Passing, "{output}");
    assert_eq!(output, format!("gRPC check {named}: success"));
}

#[tokio::test]
async fn not_serving_is_critical() {
    let address = serve(false).await;
    let named = format!("{address}/down");
    let (status, output) = check(target(named.clone()), TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert_eq!(output, format!("gRPC {named} serving status: NOT_SERVING"));
}

#[tokio::test]
async fn an_unknown_service_is_critical_with_the_servers_status() {
    let address = serve(false).await;
    let (status, output) = check(target(format!("{address}/nope")), TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert_eq!(output, "rpc error: code = NotFound desc = unknown service");
}

#[tokio::test]
async fn an_http_error_is_critical() {
    let address = serve(false).await;
    let (status, output) = check(target(format!("{address}/gone")), TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert_eq!(
        output,
        "rpc error: code = Unimplemented desc = unexpected HTTP status code received from \
         server: 404 (Not Found)"
    );
}

#[tokio::test]
async fn an_answer_without_a_status_is_critical() {
    let address = serve(false).await;
    let (status, output) = check(target(format!("{address}/bare")), TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert_eq!(
        output,
        "rpc error: code = Internal desc = server closed the stream without sending trailers"
    );
}

#[tokio::test]
async fn a_slow_server_times_out_critical() {
    let address = serve(false).await;
    let (status, output) = check(
        target(format!("{address}/slow")),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(status, Health::Critical);
    assert_eq!(
        output,
        "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
    );
}

#[tokio::test]
async fn a_closed_port_is_critical() {
    let address = closed_address().await;
    let (status, output) = check(target(address.clone()), TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert!(
        output.starts_with(&format!(
            "rpc error: code = Unavailable desc = dial tcp {address}: "
        )),
        "{output}"
    );
}

#[tokio::test]
async fn tls_with_skip_verify_is_passing() {
    let address = serve(true).await;
    let probe = GrpcProbe {
        target: format!("{address}/db"),
        use_tls: true,
        tls_skip_verify: true,
        ..GrpcProbe::default()
    };
    let (status, output) = check(probe, TIMEOUT).await;
    assert_eq!(status, Health::Passing, "{output}");
}

#[tokio::test]
async fn tls_with_an_untrusted_certificate_is_critical() {
    let address = serve(true).await;
    let probe = GrpcProbe {
        target: address,
        use_tls: true,
        tls_server_name: "localhost".into(),
        ..GrpcProbe::default()
    };
    let (status, output) = check(probe, TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert!(
        output.starts_with("rpc error: code = Unavailable desc = tls: "),
        "{output}"
    );
    assert!(output.contains("certificate"), "{output}");
}
