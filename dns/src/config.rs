//! `DnsConfig`: Consul's `dns_config` block plus the top-level DNS keys (`domain`,
//! `alt_domain`, `recursors`, `datacenter`, `node_name`, `translate_wan_addrs`), with
//! Consul's defaults.
//!
//! Defaults were checked against Consul's `agent/config/default.go` (`allow_stale = true`,
//! `udp_answer_limit = 3`, `max_stale = "87600h"`, `recursor_timeout = "2s"`,
//! `domain = "consul."`) and `agent/config/builder.go` (SOA `3600/600/86400/0`,
//! `enable_additional_node_meta_txt` defaulting to true, everything else false or zero).
//! The agent owns the parsing of its config files and flags; this module only holds the
//! resolved values and the small rules that belong to them (service TTL patterns, recursor
//! addresses, domain spelling).

use legate_catalog::Datacenter;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use thiserror::Error;

/// The DNS interface's settings, already resolved from files and flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsConfig {
    /// The primary domain, lower case and fully qualified (`consul.`). PTR answers always
    /// use it, whatever domain the client knows.
    pub domain: String,
    /// The optional second domain (`alt_domain`), lower case and fully qualified. Answers to
    /// questions asked under it are written under it.
    pub alt_domain: Option<String>,
    /// The agent's datacenter: the default for questions without a `.dc` part, and the one
    /// written into PTR and NS names.
    pub datacenter: Datacenter,
    /// The agent's node name (for logs; Consul labels its DNS metrics with it).
    pub node_name: String,
    /// TTL of node, NS, `.addr` and `.virtual` records (`dns_config.node_ttl`, default 0).
    pub node_ttl: Duration,
    /// TTLs of service records by service name (`dns_config.service_ttl`, default none = 0).
    pub service_ttl: ServiceTtl,
    /// The SOA timers (`dns_config.soa`).
    pub soa: SoaConfig,
    /// Whether reads may be answered by any server (`dns_config.allow_stale`, default true).
    /// Passed to `Lookup`, which owns the staleness check.
    pub allow_stale: bool,
    /// How stale a stale read may be before it is re-asked of the leader
    /// (`dns_config.max_stale`, default 87600h, which means "never").
    pub max_stale: Duration,
    /// Exclude instances with a warning check too (`dns_config.only_passing`, default false).
    pub only_passing: bool,
    /// Set the TC bit when an answer was trimmed (`dns_config.enable_truncate`, default
    /// false: Consul trims silently unless asked).
    pub enable_truncate: bool,
    /// The most answers in a UDP reply to a client without EDNS, further capped at 8
    /// (`dns_config.udp_answer_limit`, default 3).
    pub udp_answer_limit: usize,
    /// The most A/AAAA answers for a service, after the shuffle; 0 is unlimited
    /// (`dns_config.a_record_limit`). SRV answers are never capped by it.
    pub a_record_limit: usize,
    /// Add node-meta TXT records to the additional section of node and SRV answers
    /// (`dns_config.enable_additional_node_meta_txt`, default true).
    pub enable_additional_node_meta_txt: bool,
    /// Send answers without name compression (`dns_config.disable_compression`).
    pub disable_compression: bool,
    /// Upstream resolvers for names outside the domain (`recursors`), port 53 unless given.
    /// Recursion is available (RA set) exactly when this is not empty.
    pub recursors: Vec<SocketAddr>,
    /// In which order recursors are tried (`dns_config.recursor_strategy`).
    pub recursor_strategy: RecursorStrategy,
    /// How long one recursor is given (`dns_config.recursor_timeout`, default 2s).
    pub recursor_timeout: Duration,
    /// Answer with WAN addresses for questions about another datacenter
    /// (`translate_wan_addrs`, default false).
    pub translate_wan_addrs: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            domain: "consul.".to_owned(),
            alt_domain: None,
            datacenter: Datacenter::new("dc1"),
            node_name: String::new(),
            node_ttl: Duration::ZERO,
            service_ttl: ServiceTtl::default(),
            soa: SoaConfig::default(),
            allow_stale: true,
            max_stale: Duration::from_secs(87_600 * 3600),
            only_passing: false,
            enable_truncate: false,
            udp_answer_limit: 3,
            a_record_limit: 0,
            enable_additional_node_meta_txt: true,
            disable_compression: false,
            recursors: Vec::new(),
            recursor_strategy: RecursorStrategy::Sequential,
            recursor_timeout: Duration::from_secs(2),
            translate_wan_addrs: false,
        }
    }
}

impl DnsConfig {
    /// Sets `domain` from a user's spelling (`consul`, `Consul.`), as Consul does: lower case,
    /// fully qualified.
    pub fn with_domain(mut self, domain: &str) -> Self {
        self.domain = normalize_domain(domain);
        self
    }

    /// Sets `alt_domain`; an empty or root spelling means none, as in Consul.
    pub fn with_alt_domain(mut self, alt_domain: &str) -> Self {
        let alt = normalize_domain(alt_domain);
        self.alt_domain = (alt != ".").then_some(alt);
        self
    }

    /// Whether RA is set and names outside the domain are forwarded.
    pub fn recursion_available(&self) -> bool {
        !self.recursors.is_empty()
    }

    /// The TTL of a service's records, in whole seconds as Consul truncates it.
    pub fn service_ttl_secs(&self, service: &str) -> u32 {
        secs(self.service_ttl.ttl_for(service).unwrap_or(Duration::ZERO))
    }

    /// The TTL of node-like records in whole seconds.
    pub fn node_ttl_secs(&self) -> u32 {
        secs(self.node_ttl)
    }
}

/// Whole seconds, saturating, as a DNS TTL.
pub(crate) fn secs(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

/// Lower case and a trailing dot: the form every domain comparison here assumes.
pub fn normalize_domain(domain: &str) -> String {
    let mut domain = domain.trim().to_ascii_lowercase();
    if !domain.ends_with('.') {
        domain.push('.');
    }
    domain
}

/// `dns_config.soa`: the timers of the SOA record. `min_ttl` is also the SOA record's own
/// TTL and so the negative-caching time of NXDOMAIN and NODATA answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoaConfig {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub min_ttl: u32,
}

impl Default for SoaConfig {
    fn default() -> Self {
        SoaConfig {
            refresh: 3600,
            retry: 600,
            expire: 86400,
            min_ttl: 0,
        }
    }
}

/// `dns_config.recursor_strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecursorStrategy {
    /// Try the recursors in the configured order (Consul's default).
    #[default]
    Sequential,
    /// Try them in a fresh random order for every question.
    Random,
}

impl RecursorStrategy {
    /// Consul treats any value other than `random` as sequential.
    pub fn parse(text: &str) -> RecursorStrategy {
        if text == "random" {
            RecursorStrategy::Random
        } else {
            RecursorStrategy::Sequential
        }
    }
}

/// `dns_config.service_ttl`: TTLs by exact service name, or by prefix for keys ending in `*`
/// (`"*"` itself is the empty prefix and matches every service). An exact key beats every
/// prefix; among prefixes the longest wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceTtl {
    exact: BTreeMap<String, Duration>,
    /// Kept sorted by prefix so that the longest match is the last one found.
    prefixes: BTreeMap<String, Duration>,
}

impl ServiceTtl {
    /// Adds one `service_ttl` entry.
    pub fn insert(&mut self, pattern: &str, ttl: Duration) {
        match pattern.strip_suffix('*') {
            Some(prefix) => self.prefixes.insert(prefix.to_owned(), ttl),
            None => self.exact.insert(pattern.to_owned(), ttl),
        };
    }

    /// The TTL configured for `service`, if any entry matches.
    pub fn ttl_for(&self, service: &str) -> Option<Duration> {
        if let Some(ttl) = self.exact.get(service) {
            return Some(*ttl);
        }
        self.prefixes
            .iter()
            .filter(|(prefix, _)| service.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, ttl)| *ttl)
    }
}

impl<'a> FromIterator<(&'a str, Duration)> for ServiceTtl {
    fn from_iter<I: IntoIterator<Item = (&'a str, Duration)>>(iter: I) -> Self {
        let mut ttl = ServiceTtl::default();
        for (pattern, duration) in iter {
            ttl.insert(pattern, duration);
        }
        ttl
    }
}

/// A configuration value that cannot be used. Nothing was changed; fix the value.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("Invalid recursor address: {0}")]
    InvalidRecursor(String),
}

/// Parses one `recursors` entry: an IP with an optional port (`8.8.8.8`, `8.8.8.8:5353`,
/// `2001:db8::1`, `[2001:db8::1]:53`), port 53 when none is given, as Consul's
/// `recursorAddr` does. Consul also resolves host names here; Legate takes addresses only,
/// so that configuration never waits on DNS.
pub fn parse_recursor(text: &str) -> Result<SocketAddr, ConfigError> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| ConfigError::InvalidRecursor(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn service_ttl_exact_beats_longest_prefix() {
        let ttl: ServiceTtl = [
            ("*", s(5)),
            ("db-*", s(10)),
            ("db-main*", s(20)),
            ("db", s(1)),
        ]
        .into_iter()
        .collect();
        assert_eq!(ttl.ttl_for("web"), Some(s(5)));
        assert_eq!(ttl.ttl_for("db-replica"), Some(s(10)));
        assert_eq!(ttl.ttl_for("db-main-2"), Some(s(20)));
        assert_eq!(ttl.ttl_for("db"), Some(s(1)));
        assert_eq!(ttl.ttl_for(""), Some(s(5)));
    }

    #[test]
    fn service_ttl_without_wildcard_leaves_others_unset() {
        let ttl: ServiceTtl = [("api", s(3)), ("api-*", s(4))].into_iter().collect();
        assert_eq!(ttl.ttl_for("api"), Some(s(3)));
        assert_eq!(ttl.ttl_for("api-v2"), Some(s(4)));
        assert_eq!(ttl.ttl_for("apis"), None);
        let config = DnsConfig {
            service_ttl: ttl,
            ..DnsConfig::default()
        };
        assert_eq!(config.service_ttl_secs("apis"), 0);
        assert_eq!(config.service_ttl_secs("api-v2"), 4);
    }

    #[test]
    fn defaults_follow_consul() {
        let config = DnsConfig::default();
        assert_eq!(config.domain, "consul.");
        assert!(config.allow_stale);
        assert_eq!(config.udp_answer_limit, 3);
        assert_eq!(config.a_record_limit, 0);
        assert!(config.enable_additional_node_meta_txt);
        assert!(!config.enable_truncate);
        assert_eq!(config.recursor_timeout, s(2));
        assert_eq!(config.max_stale, s(87_600 * 3600));
        assert_eq!(
            config.soa,
            SoaConfig {
                refresh: 3600,
                retry: 600,
                expire: 86400,
                min_ttl: 0
            }
        );
        assert!(!config.recursion_available());
    }

    #[test]
    fn domains_are_normalized() {
        let config = DnsConfig::default()
            .with_domain("Legate")
            .with_alt_domain("");
        assert_eq!(config.domain, "legate.");
        assert_eq!(config.alt_domain, None);
        let config = config.with_alt_domain("ALT.example.");
        assert_eq!(config.alt_domain.as_deref(), Some("alt.example."));
    }

    #[test]
    fn recursor_addresses_get_port_53() {
        assert_eq!(
            parse_recursor("8.8.8.8").unwrap(),
            "8.8.8.8:53".parse().unwrap()
        );
        assert_eq!(
            parse_recursor("8.8.8.8:5353").unwrap(),
            "8.8.8.8:5353".parse().unwrap()
        );
        assert_eq!(
            parse_recursor("2001:db8::1").unwrap(),
            "[2001:db8::1]:53".parse().unwrap()
        );
        assert_eq!(
            parse_recursor("[2001:db8::1]").unwrap(),
            "[2001:db8::1]:53".parse().unwrap()
        );
        assert_eq!(
            parse_recursor("[2001:db8::1]:54").unwrap(),
            "[2001:db8::1]:54".parse().unwrap()
        );
        assert!(matches!(
            parse_recursor("dns.example"),
            Err(ConfigError::InvalidRecursor(_))
        ));
    }

    #[test]
    fn recursor_strategy_parses_like_consul() {
        assert_eq!(RecursorStrategy::parse("random"), RecursorStrategy::Random);
        assert_eq!(
            RecursorStrategy::parse("sequential"),
            RecursorStrategy::Sequential
        );
        assert_eq!(
            RecursorStrategy::parse("other"),
            RecursorStrategy::Sequential
        );
    }
}
