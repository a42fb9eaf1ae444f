//! Reading request bodies with a limit.
//!
//! A body is read into memory only up to the endpoint's limit. Past it, the rest is read
//! and thrown away (up to `ApiConfig::max_discarded_body`) so that the client, which may
//! still be writing, receives the 413 instead of a reset connection; past that the
//! connection is abandoned.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

#[derive(Debug)]
pub enum BodyError {
    /// The body is longer than the limit. `length` is the declared `Content-Length`, or
    /// the bytes seen when there is none.
    TooLarge { length: u64 },
    /// The connection failed while the body was read.
    Read(String),
}

/// The declared `Content-Length`, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads at most `limit` bytes of `body`.
pub async fn read_limited(
    body: Body,
    headers: &HeaderMap,
    limit: u64,
    discard_limit: u64,
) -> Result<Bytes, BodyError> {
    let declared = declared_length(headers);
    // A body declared larger than what would be drained is refused without reading any of
    // it; the connection closes after the answer.
    if let Some(length) = declared.filter(|length| *length > discard_limit.max(limit)) {
        return Err(BodyError::TooLarge { length });
    }
    let mut body = body;
    let mut kept = BytesMut::new();
    let mut seen: u64 = 0;
    let mut too_large = declared.is_some_and(|length| length > limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| BodyError::Read(error.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen > limit {
            too_large = true;
        }
        if too_large {
            if seen > discard_limit {
                break;
            }
            continue;
        }
        kept.extend_from_slice(&data);
    }
    if too_large {
        return Err(BodyError::TooLarge {
            length: declared.unwrap_or(seen),
        });
    }
    Ok(kept.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_small_bodies_and_refuses_large_ones() {
        let headers = HeaderMap::new();
        let ok = read_limited(Body::from("hello"), &headers, 5, 100)
            .await
            .unwrap();
        assert_eq!(&ok[..], b"hello");
        let refused = read_limited(Body::from("hello!"), &headers, 5, 100).await;
        assert!(matches!(refused, Err(BodyError::TooLarge { length: 6 })));
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, "1000".parse().unwrap());
        let refused = read_limited(Body::from("x"), &declared, 5, 100).await;
        assert!(matches!(refused, Err(BodyError::TooLarge { length: 1000 })));
    }
}
