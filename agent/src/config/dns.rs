//! The DNS interface's configuration: Consul's top-level `domain`, `alt_domain` and
//! `recursors` and its `dns_config{}` block, resolved into `legate_dns::DnsConfig`.
//!
//! Durations take Go's syntax (`"10s"`), as in Consul's files.

use legate_dns::{config::parse_recursor, DnsConfig, RecursorStrategy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;

/// `dns_config{}` as written in a file; `None` means "not set here".
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileDnsConfig {
    pub node_ttl: Option<String>,
    pub service_ttl: Option<BTreeMap<String, String>>,
    pub soa: Option<FileSoa>,
    pub allow_stale: Option<bool>,
    pub max_stale: Option<String>,
    pub only_passing: Option<bool>,
    pub enable_truncate: Option<bool>,
    pub udp_answer_limit: Option<usize>,
    pub a_record_limit: Option<usize>,
    pub enable_additional_node_meta_txt: Option<bool>,
    pub disable_compression: Option<bool>,
    pub recursor_strategy: Option<String>,
    pub recursor_timeout: Option<String>,
}

/// Keys of `dns_config{}` parsed above, for unknown-key warnings.
pub const KNOWN_DNS: &[&str] = &[
    "node_ttl",
    "service_ttl",
    "soa",
    "allow_stale",
    "max_stale",
    "only_passing",
    "enable_truncate",
    "udp_answer_limit",
    "a_record_limit",
    "enable_additional_node_meta_txt",
    "disable_compression",
    "recursor_strategy",
    "recursor_timeout",
];

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileSoa {
    pub refresh: Option<u32>,
    pub retry: Option<u32>,
    pub expire: Option<u32>,
    pub min_ttl: Option<u32>,
}

impl FileDnsConfig {
    /// Overlays `later` on `self`, key by key.
    pub fn merge(&mut self, later: FileDnsConfig) {
        macro_rules! take {
            ($($field:ident),+) => {$(
                if later.$field.is_some() {
                    self.$field = later.$field;
                }
            )+};
        }
        take!(
            node_ttl,
            service_ttl,
            soa,
            allow_stale,
            max_stale,
            only_passing,
            enable_truncate,
            udp_answer_limit,
            a_record_limit,
            enable_additional_node_meta_txt,
            disable_compression,
            recursor_strategy,
            recursor_timeout
        );
    }
}

/// A DNS setting that cannot be used. The agent does not start.
#[derive(Debug, Error)]
pub enum DnsConfigError {
    #[error("dns_config.{key}: invalid duration {value:?}")]
    Duration { key: String, value: String },
    #[error("recursors: {0}")]
    Recursor(String),
}

fn duration(key: &str, value: &str) -> Result<Duration, DnsConfigError> {
    legate_api::duration::parse_std(value).map_err(|_| DnsConfigError::Duration {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// Everything the DNS interface is configured from.
pub struct DnsInputs<'a> {
    pub file: &'a FileDnsConfig,
    pub domain: &'a str,
    pub alt_domain: Option<&'a str>,
    pub recursors: &'a [String],
    pub datacenter: &'a str,
    pub node_name: &'a str,
}

pub fn resolve(inputs: DnsInputs<'_>) -> Result<DnsConfig, DnsConfigError> {
    let file = inputs.file;
    let mut config = DnsConfig {
        datacenter: inputs.datacenter.into(),
        node_name: inputs.node_name.to_owned(),
        ..DnsConfig::default()
    }
    .with_domain(inputs.domain);
    if let Some(alt) = inputs.alt_domain.filter(|alt| !alt.is_empty()) {
        config = config.with_alt_domain(alt);
    }
    for recursor in inputs.recursors {
        let address =
            parse_recursor(recursor).map_err(|e| DnsConfigError::Recursor(e.to_string()))?;
        config.recursors.push(address);
    }
    if let Some(value) = &file.node_ttl {
        config.node_ttl = duration("node_ttl", value)?;
    }
    for (pattern, value) in file.service_ttl.iter().flatten() {
        let ttl = duration(&format!("service_ttl.{pattern}"), value)?;
        config.service_ttl.insert(pattern, ttl);
    }
    if let Some(soa) = &file.soa {
        let defaults = config.soa;
        config.soa.refresh = soa.refresh.unwrap_or(defaults.refresh);
        config.soa.retry = soa.retry.unwrap_or(defaults.retry);
        config.soa.expire = soa.expire.unwrap_or(defaults.expire);
        config.soa.min_ttl = soa.min_ttl.unwrap_or(defaults.min_ttl);
    }
    if let Some(value) = &file.max_stale {
        config.max_stale = duration("max_stale", value)?;
    }
    if let Some(value) = &file.recursor_timeout {
        config.recursor_timeout = duration("recursor_timeout", value)?;
    }
    if let Some(value) = &file.recursor_strategy {
        config.recursor_strategy = RecursorStrategy::parse(value);
    }
    config.allow_stale = file.allow_stale.unwrap_or(config.allow_stale);
    config.only_passing = file.only_passing.unwrap_or(config.only_passing);
    config.enable_truncate = file.enable_truncate.unwrap_or(config.enable_truncate);
    config.udp_answer_limit = file.udp_answer_limit.unwrap_or(config.udp_answer_limit);
    config.a_record_limit = file.a_record_limit.unwrap_or(config.a_record_limit);
    config.enable_additional_node_meta_txt = file
        .enable_additional_node_meta_txt
        .unwrap_or(config.enable_additional_node_meta_txt);
    config.disable_compression = file
        .disable_compression
        .unwrap_or(config.disable_compression);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_reach_the_dns_config() {
        let file: FileDnsConfig = serde_json::from_str(
            r#"{"node_ttl":"10s","service_ttl":{"*":"5s","web":"30s"},"only_passing":true,
                "udp_answer_limit":5,"soa":{"min_ttl":60},"recursor_strategy":"random"}"#,
        )
        .unwrap();
        let config = resolve(DnsInputs {
            file: &file,
            domain: "Consul",
            alt_domain: Some("example"),
            recursors: &["127.0.0.1:5353".to_owned(), "10.0.0.1".to_owned()],
            datacenter: "dc1",
            node_name: "n1",
        })
        .unwrap();
        assert_eq!(config.domain, "consul.");
        assert_eq!(config.node_ttl, Duration::from_secs(10));
        assert_eq!(config.service_ttl_secs("web"), 30);
        assert_eq!(config.service_ttl_secs("db"), 5);
        assert!(config.only_passing);
        assert_eq!(config.udp_answer_limit, 5);
        assert_eq!(config.soa.min_ttl, 60);
        assert_eq!(config.soa.refresh, 3600);
        assert_eq!(config.recursors.len(), 2);
        assert_eq!(config.recursor_strategy, RecursorStrategy::Random);
    }

    #[test]
    fn a_bad_duration_is_an_error() {
        let file = FileDnsConfig {
            node_ttl: Some("soon".into()),
            ..FileDnsConfig::default()
        };
        let inputs = DnsInputs {
            file: &file,
            domain: "consul",
            alt_domain: None,
            recursors: &[],
            datacenter: "dc1",
            node_name: "n",
        };
        assert!(resolve(inputs).is_err());
    }
}
