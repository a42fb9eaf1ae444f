//! HTTP checks (Consul's `CheckHTTP`): one request per run; 2xx is passing, 429 warning,
//! anything else critical.
//!
//! Choices, with their reasons:
//! - Checks with the same TLS settings share one client. Consul keeps one per check, but
//!   with keep-alive off a client holds no connections between runs, so sharing changes
//!   nothing a check sees, and a client per check cost about 17 KB each (RSS with 1,000
//!   HTTP checks: 60.9 MiB with one client each, 44.4 MiB shared; `bench/checks.py`).
//!   At most `SHARED_CLIENTS` settings are shared; checks with others get their own.
//! - No keep-alive (Consul sets `DisableKeepAlives`): a connection the server closed while
//!   idle would fail the next run for no fault of the service.
//! - Redirects are never followed: the 3xx is the answer, and critical. (Consul follows
//!   them unless `DisableRedirects`; Legate's definition has no such field and takes the
//!   stricter reading, which also keeps a check from wandering off its host.)
//! - No proxy from the environment: a health check of `127.0.0.1` must not go through one.
//! - At most `output_max_size` bytes of the body are read, then the response is dropped.
//!   (Consul reads the whole body and keeps its last bytes in a circular buffer; stopping at
//!   the limit keeps the head instead, and a huge or endless body costs nothing.)

use super::probe::{Outcome, SetupError};
use super::tls;
use legate_api::local::HttpProbe;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, USER_AGENT};
use reqwest::{Client, Method, Url};
use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// Consul's `User-Agent` for health checks; some services answer it specially.
pub const USER_AGENT_VALUE: &str = "Consul Health Check";
const ACCEPT_VALUE: &str = "text/plain, text/*, */*";

#[derive(Debug)]
pub struct HttpCheck {
    client: Arc<Client>,
    method: Method,
    url: Url,
    /// The URL as the definition spelled it, for the output.
    url_text: String,
    headers: HeaderMap,
    body: String,
    body_max: usize,
}

impl HttpCheck {
    pub fn new(probe: &HttpProbe, output_max_size: usize) -> Result<Self, SetupError> {
        let method_text = if probe.method.is_empty() {
            "GET"
        } else {
            probe.method.as_str()
        };
        let method = Method::from_bytes(method_text.as_bytes())
            .map_err(|_| SetupError::Method(method_text.to_owned()))?;
        let url = Url::parse(&probe.url).map_err(|error| SetupError::Url {
            url: probe.url.clone(),
            reason: error.to_string(),
        })?;
        let headers = headers(probe)?;
        Ok(HttpCheck {
            client: shared_client(probe)?,
            method,
            url,
            url_text: probe.url.clone(),
            headers,
            body: probe.body.clone(),
            body_max: output_max_size,
        })
    }

    pub async fn run(&self, timeout: Duration) -> Outcome {
        // One deadline for the whole exchange, as Go's `http.Client.Timeout`.
        let deadline = Instant::now() + timeout;
        let mut request = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone());
        if !self.body.is_empty() {
            request = request.body(self.body.clone());
        }
        let mut response = match tokio::time::timeout_at(deadline, request.send()).await {
            Err(_) => {
                return Outcome::critical(format!(
                    "{} {:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    go_operation(&self.method),
                    self.url_text
                ))
            }
            Ok(Err(error)) => {
                return Outcome::critical(format!(
                    "{} {:?}: {}",
                    go_operation(&self.method),
                    self.url_text,
                    causes(&error)
                ))
            }
            Ok(Ok(response)) => response,
        };
        let code = response.status();
        // The server's own reason phrase when it sent a non-standard one, as Go shows it.
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|phrase| String::from_utf8_lossy(phrase.as_bytes()).into_owned())
            .unwrap_or_else(|| code.canonical_reason().unwrap_or("").to_owned());

        // A body that stalls or ends early still leaves its start as output (Consul logs the
        // read error and reports what it got).
        let mut body = Vec::new();
        let read = async {
            while body.len() < self.body_max {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = self.body_max - body.len();
                        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        };
        let _ = tokio::time::timeout_at(deadline, read).await;

        let output = format!(
            "HTTP {} {}: {} {} Output: {}",
            self.method,
            self.url_text,
            code.as_u16(),
            reason,
            String::from_utf8_lossy(&body)
        );
        match code.as_u16() {
            200..=299 => Outcome::passing(output),
            // 429 Too Many Requests: the service is up but shedding load.
            429 => Outcome::warning(output),
            _ => Outcome::critical(output),
        }
    }
}

/// The definition's headers, then Consul's `User-Agent` and `Accept` where it sets none.
/// Distinct TLS settings whose clients are shared; bounded so that checks registered with
/// ever-new server names cannot grow the table without end.
const SHARED_CLIENTS: usize = 64;

type TlsSettings = (String, bool);

/// The client for `probe`'s TLS settings, shared with every check that has the same ones.
fn shared_client(probe: &HttpProbe) -> Result<Arc<Client>, SetupError> {
    static CLIENTS: OnceLock<Mutex<HashMap<TlsSettings, Arc<Client>>>> = OnceLock::new();
    let settings = (probe.tls_server_name.clone(), probe.tls_skip_verify);
    let clients = CLIENTS.get_or_init(Mutex::default);
    // Nothing panics while the lock is held, and a client is valid whatever happened.
    let mut clients = clients
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(client) = clients.get(&settings) {
        return Ok(client.clone());
    }
    let client = Arc::new(new_client(probe)?);
    if clients.len() < SHARED_CLIENTS {
        clients.insert(settings, client.clone());
    }
    Ok(client)
}

fn new_client(probe: &HttpProbe) -> Result<Client, SetupError> {
    let tls = tls::client_config(
        &probe.tls_server_name,
        probe.tls_skip_verify,
        &[b"http/1.1"],
    )?;
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(0)
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|error| SetupError::Client(error.to_string()))
}

fn headers(probe: &HttpProbe) -> Result<HeaderMap, SetupError> {
    let mut headers = HeaderMap::new();
    for (name, values) in &probe.header {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| SetupError::Header(name.clone()))?;
        for value in values {
            let value =
                HeaderValue::from_str(value).map_err(|_| SetupError::Header(name.clone()))?;
            headers.append(header_name.clone(), value);
        }
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    }
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_VALUE));
    }
    Ok(headers)
}

/// Go names the failed operation after the method, capitalized: `Get "http://…": …`.
fn go_operation(method: &Method) -> String {
    let text = method.as_str();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// The causes under reqwest's top-level error (which only repeats the URL), joined as Go
/// joins wrapped errors: `client error (Connect): tcp connect error: Connection refused`.
fn causes(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_is_capitalized_like_go() {
        assert_eq!(go_operation(&Method::GET), "Get");
        assert_eq!(go_operation(&Method::POST), "Post");
    }

    #[test]
    fn defaults_are_added_unless_given() {
        let mut probe = HttpProbe::default();
        let defaults = headers(&probe).unwrap();
        assert_eq!(defaults[USER_AGENT], USER_AGENT_VALUE);
        assert_eq!(defaults[ACCEPT], ACCEPT_VALUE);

        probe
            .header
            .insert("user-agent".into(), vec!["mine".into()]);
        probe
            .header
            .insert("X-Two".into(), vec!["a".into(), "b".into()]);
        let given = headers(&probe).unwrap();
        assert_eq!(given[USER_AGENT], "mine");
        assert_eq!(given.get_all("x-two").iter().count(), 2);
    }

    #[test]
    fn checks_with_the_same_tls_settings_share_a_client_up_to_the_bound() {
        let probe = |name: &str, skip: bool| HttpProbe {
            url: "https://127.0.0.1:1/".to_owned(),
            tls_server_name: name.to_owned(),
            tls_skip_verify: skip,
            ..HttpProbe::default()
        };
        let shared = |p: &HttpProbe| shared_client(p).expect("client");
        let plain = shared(&probe("", false));
        assert!(Arc::ptr_eq(&plain, &shared(&probe("", false))));
        assert!(!Arc::ptr_eq(&plain, &shared(&probe("", true))));
        assert!(!Arc::ptr_eq(&plain, &shared(&probe("db.internal", false))));
        // Past the bound, new settings get a client of their own each time.
        for n in 0..SHARED_CLIENTS {
            shared(&probe(&format!("host-{n}.example"), false));
        }
        let late = probe("late.example", false);
        assert!(!Arc::ptr_eq(&shared(&late), &shared(&late)));
        // Settings shared before the bound was reached stay shared.
        assert!(Arc::ptr_eq(&plain, &shared(&probe("", false))));
    }

    #[test]
    fn bad_definitions_are_refused() {
        let probe = HttpProbe {
            url: "not a url".into(),
            ..HttpProbe::default()
        };
        assert!(matches!(
            HttpCheck::new(&probe, 100),
            Err(SetupError::Url { .. })
        ));
        let probe = HttpProbe {
            url: "http://127.0.0.1/".into(),
            method: "GE T".into(),
            ..HttpProbe::default()
        };
        assert!(matches!(
            HttpCheck::new(&probe, 100),
            Err(SetupError::Method(_))
        ));
    }
}
