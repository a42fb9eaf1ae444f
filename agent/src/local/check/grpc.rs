//! gRPC checks (Consul's `CheckGRPC`): the standard `grpc.health.v1.Health/Check` call;
//! `SERVING` is passing, any other answer or failure critical.
//!
//! The call is spoken directly over HTTP/2 (h2c with prior knowledge, or TLS with ALPN `h2`)
//! rather than through a gRPC library: it is one unary call whose two messages have one field
//! each, hand-encoded below. The status comes from `grpc-status` in the trailers, or in the
//! headers of a trailers-only answer (how servers refuse, e.g. `NotFound` for an unknown
//! service). Error outputs follow grpc-go's `rpc error: code = <Code> desc = <message>`.

use super::probe::{Outcome, SetupError};
use super::tls;
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, CONTENT_TYPE, TE, USER_AGENT};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const PATH: &str = "/grpc.health.v1.Health/Check";
/// A `HealthCheckResponse` is a few bytes; anything near this is not one, and reading stops.
const MESSAGE_MAX: usize = 64 * 1024;
/// `HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: i32 = 1;

pub struct GrpcCheck {
    /// The definition's target, `host:port[/service]`, for the output.
    target: String,
    /// `host:port`.
    address: String,
    /// The encoded, length-prefixed `HealthCheckRequest`; the same on every run.
    request: Bytes,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl GrpcCheck {
    pub fn new(probe: &legate_api::local::GrpcProbe) -> Result<Self, SetupError> {
        // Consul splits at the first `/`: what follows names the service (empty: the server).
        let (address, service) = probe
            .target
            .split_once('/')
            .unwrap_or((probe.target.as_str(), ""));
        if address.is_empty() {
            return Err(SetupError::GrpcTarget(probe.target.clone()));
        }
        let tls = if probe.use_tls {
            let config =
                tls::client_config(&probe.tls_server_name, probe.tls_skip_verify, &[b"h2"])?;
            let name = if probe.tls_server_name.is_empty() {
                tls::parse_server_name(host(address))?
            } else {
                tls::parse_server_name(&probe.tls_server_name)?
            };
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(GrpcCheck {
            target: probe.target.clone(),
            address: address.to_owned(),
            request: encode_request(service),
            tls,
        })
    }

    pub async fn run(&self, timeout: Duration) -> Outcome {
        match tokio::time::timeout(timeout, self.call()).await {
            Ok(Ok(SERVING)) => Outcome::passing(format!("gRPC check {}: success", self.target)),
            Ok(Ok(status)) => Outcome::critical(format!(
                "gRPC {} serving status: {}",
                self.target,
                serving_status_name(status)
            )),
            Ok(Err(error)) => Outcome::critical(error.to_string()),
            Err(_) => Outcome::critical(
                CallError::Status {
                    code: 4,
                    message: "context deadline exceeded".into(),
                }
                .to_string(),
            ),
        }
    }

    /// One call on a fresh connection; the serving status the server answered.
    async fn call(&self) -> Result<i32, CallError> {
        let stream = TcpStream::connect(&self.address).await.map_err(|error| {
            CallError::Unavailable(format!("dial tcp {}: {error}", self.address))
        })?;
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => self.exchange(stream, "http").await,
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|error| CallError::Unavailable(format!("tls: {error}")))?;
                self.exchange(stream, "https").await
            }
        }
    }

    async fn exchange<S>(&self, stream: S, scheme: &str) -> Result<i32, CallError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|error| CallError::Unavailable(error.to_string()))?;
        let request = Request::post(format!("{scheme}://{}{PATH}", self.address))
            .header(CONTENT_TYPE, "application/grpc")
            .header(TE, "trailers")
            .header(USER_AGENT, "legate-health-check")
            .body(Full::new(self.request.clone()))
            .map_err(|error| CallError::Internal(error.to_string()))?;
        let exchange = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|error| CallError::Unavailable(error.to_string()))?;
            read_response(response).await
        };
        // The connection is driven here rather than spawned, so that nothing outlives the
        // run: a stopped check drops both.
        tokio::pin!(connection, exchange);
        tokio::select! {
            result = &mut exchange => result,
            ended = &mut connection => match ended {
                Err(error) => Err(CallError::Unavailable(error.to_string())),
                // Closed cleanly: the answer may already be buffered.
                Ok(()) => exchange.await,
            },
        }
    }
}

/// Why a call failed, displayed as grpc-go displays a failed call's error.
#[derive(Debug, Error)]
enum CallError {
    #[error("rpc error: code = Unavailable desc = {0}")]
    Unavailable(String),
    #[error("rpc error: code = Internal desc = {0}")]
    Internal(String),
    #[error("rpc error: code = {} desc = {message}", code_name(*.code))]
    Status { code: u32, message: String },
}

async fn read_response(response: Response<Incoming>) -> Result<i32, CallError> {
    let (parts, mut body) = response.into_parts();
    if parts.status != StatusCode::OK {
        return Err(CallError::Status {
            code: code_for_http_status(parts.status),
            message: format!(
                "unexpected HTTP status code received from server: {} ({})",
                parts.status.as_u16(),
                parts.status.canonical_reason().unwrap_or("")
            ),
        });
    }
    // A trailers-only answer carries the status in its headers.
    if let Some(error) = status_error(&parts.headers) {
        return Err(error);
    }
    let mut data = BytesMut::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| CallError::Unavailable(error.to_string()))?;
        match frame.into_data() {
            Ok(chunk) => {
                if data.len() + chunk.len() > MESSAGE_MAX {
                    return Err(CallError::Internal(format!(
                        "response larger than {MESSAGE_MAX} bytes"
                    )));
                }
                data.extend_from_slice(&chunk);
            }
            Err(frame) => {
                if let Ok(map) = frame.into_trailers() {
                    trailers = Some(map);
                }
            }
        }
    }
    // The status is in the trailers (or, for an answer without a body, in the headers).
    let status_in = trailers
        .as_ref()
        .filter(|map| map.contains_key("grpc-status"))
        .unwrap_or(&parts.headers);
    if !status_in.contains_key("grpc-status") {
        return Err(CallError::Internal(
            "server closed the stream without sending trailers".into(),
        ));
    }
    if let Some(error) = status_error(status_in) {
        return Err(error);
    }
    decode_response(&data).map_err(CallError::Internal)
}

/// The error a `grpc-status` other than OK stands for.
fn status_error(headers: &HeaderMap) -> Option<CallError> {
    let code = headers.get("grpc-status")?;
    let code = match code.to_str().ok().and_then(|text| text.parse::<u32>().ok()) {
        Some(0) => return None,
        Some(code) => code,
        None => 2,
    };
    let message = headers
        .get("grpc-message")
        .map(|value| percent_decode(value.as_bytes()))
        .unwrap_or_default();
    Some(CallError::Status { code, message })
}

/// The host of `host:port` or `[v6]:port`, for the TLS name.
fn host(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A length-prefixed `HealthCheckRequest { string service = 1; }`.
pub(crate) fn encode_request(service: &str) -> Bytes {
    let mut message = BytesMut::new();
    if !service.is_empty() {
        // Proto3 leaves a default (empty) field out.
        message.put_u8(0x0a); // field 1, wire type 2 (length-delimited)
        put_varint(&mut message, service.len() as u64);
        message.put_slice(service.as_bytes());
    }
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0); // not compressed
    frame.put_u32(message.len() as u32);
    frame.put_slice(&message);
    frame.freeze()
}

/// The `status` of a length-prefixed `HealthCheckResponse { ServingStatus status = 1; }`;
/// UNKNOWN (0) when the field is absent, as proto3 reads it.
pub(crate) fn decode_response(frame: &[u8]) -> Result<i32, String> {
    let [compressed, length @ ..] = frame.get(..5).ok_or("response has no message")? else {
        return Err("response has no message".into());
    };
    if *compressed != 0 {
        return Err("compressed response not supported".into());
    }
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
    let mut message = frame
        .get(5..5 + length)
        .ok_or("response message is truncated")?;
    let mut status = 0;
    while !message.is_empty() {
        let key = take_varint(&mut message)?;
        match (key >> 3, key & 7) {
            (1, 0) => status = take_varint(&mut message)? as i32,
            (_, 0) => {
                take_varint(&mut message)?;
            }
            (_, 1) => skip(&mut message, 8)?,
            (_, 2) => {
                let length = take_varint(&mut message)?;
                skip(
                    &mut message,
                    usize::try_from(length).map_err(|_| "bad length")?,
                )?;
            }
            (_, 5) => skip(&mut message, 4)?,
            (_, wire_type) => return Err(format!("unsupported wire type {wire_type}")),
        }
    }
    Ok(status)
}

fn put_varint(buffer: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buffer.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buffer.put_u8(value as u8);
}

fn take_varint(input: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first().ok_or("truncated varint")?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

fn skip(input: &mut &[u8], count: usize) -> Result<(), String> {
    *input = input.get(count..).ok_or("truncated field")?;
    Ok(())
}

fn serving_status_name(status: i32) -> String {
    match status {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        other => other.to_string(),
    }
}

/// grpc-go's names for the status codes.
fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES
        .get(code as usize)
        .map_or_else(|| format!("Code({code})"), |name| (*name).to_owned())
}

/// The gRPC status a non-200 HTTP answer stands for (gRPC's "HTTP to gRPC status mapping").
fn code_for_http_status(status: StatusCode) -> u32 {
    match status.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => 2,
    }
}

/// `grpc-message` is percent-encoded.
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        let hex = raw
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (raw[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_encodes_the_service() {
        assert_eq!(&encode_request("")[..], &[0, 0, 0, 0, 0]);
        assert_eq!(
            &encode_request("db")[..],
            &[0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
        // A name of 200 bytes takes a two-byte length varint.
        let long = "x".repeat(200);
        let frame = encode_request(&long);
        assert_eq!(&frame[..8], &[0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
    }

    #[test]
    fn response_decodes_the_status() {
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 1]), Ok(1));
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 2]), Ok(2));
        // The default is left out: UNKNOWN.
        assert_eq!(decode_response(&[0, 0, 0, 0, 0]), Ok(0));
        // Unknown fields of every wire type are skipped.
        let message = [
            0x10, 0x96, 0x01, // field 2 varint
            0x19, 1, 2, 3, 4, 5, 6, 7, 8, // field 3 fixed64
            0x22, 2, b'h', b'i', // field 4 bytes
            0x2d, 1, 2, 3, 4, // field 5 fixed32
            0x08, 1, // status SERVING
        ];
        let mut frame = vec![0, 0, 0, 0, message.len() as u8];
        frame.extend_from_slice(&message);
        assert_eq!(decode_response(&frame), Ok(1));
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(decode_response(&[]).is_err());
        assert!(decode_response(&[1, 0, 0, 0, 0]).is_err());
        assert!(decode_response(&[0, 0, 0, 0, 3, 0x08]).is_err());
        assert!(decode_response(&[0, 0, 0, 0, 1, 0x08]).is_err());
        assert!(decode_response(&[0, 0, 0, 0, 1, 0x0b]).is_err());
    }

    #[test]
    fn names_and_mappings() {
        assert_eq!(code_name(5), "NotFound");
        assert_eq!(code_name(99), "Code(99)");
        assert_eq!(serving_status_name(3), "SERVICE_UNKNOWN");
        assert_eq!(code_for_http_status(StatusCode::NOT_FOUND), 12);
        assert_eq!(percent_decode(b"unknown%20service%"), "unknown service%");
        assert_eq!(host("127.0.0.1:50051"), "127.0.0.1");
        assert_eq!(host("[::1]:50051"), "::1");
        assert_eq!(host("grpc.example"), "grpc.example");
    }
}
