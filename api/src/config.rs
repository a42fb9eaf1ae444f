//! `ApiConfig`: the knobs of the HTTP frontend, with Consul's defaults.

use std::time::Duration;

/// How the router behaves. `Default` gives Consul's defaults for a non-dev agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// Consul's `kv_max_value_size`: a larger KV value is refused with 413.
    pub kv_max_value_size: u64,
    /// Consul's `max_query_time`: the cap on a blocking query's `?wait`.
    pub max_query_time: Duration,
    /// Consul's `default_query_time`: the wait of a blocking query that sends none.
    pub default_query_time: Duration,
    /// Indent every JSON answer, as `-dev` agents do (`?pretty` asks for it per request).
    pub pretty_default: bool,
    /// The largest JSON request body accepted (catalog registrations and the like). Consul
    /// has no such limit; ours keeps one request from holding unbounded memory.
    pub max_request_body: u64,
    /// How much of an oversized body is read and thrown away before answering 413, so that
    /// a client still writing its body sees the answer instead of a reset connection.
    /// Beyond this the connection is simply closed.
    pub max_discarded_body: u64,
    /// A request that takes longer than this is abandoned with 503. It must exceed the
    /// longest blocking query (`max_query_time` plus its 1/16 jitter); `request_timeout()`
    /// enforces that whatever is set here.
    pub request_timeout: Duration,
    /// Consul's `translate_wan_addrs`: answers about another datacenter's nodes show their
    /// `wan` tagged addresses, and say so with `X-Consul-Translate-Addresses: true`.
    pub translate_wan_addrs: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            kv_max_value_size: 512 * 1024,
            max_query_time: Duration::from_secs(600),
            default_query_time: Duration::from_secs(300),
            pretty_default: false,
            max_request_body: 4 * 1024 * 1024,
            max_discarded_body: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(12 * 60),
            translate_wan_addrs: false,
        }
    }
}

impl ApiConfig {
    /// The effective per-request timeout: the configured one, but never shorter than the
    /// longest blocking query plus a minute for the backend to answer.
    pub fn request_timeout(&self) -> Duration {
        let longest_wait = self.max_query_time + self.max_query_time / 16;
        self.request_timeout
            .max(longest_wait + Duration::from_secs(60))
    }
}
