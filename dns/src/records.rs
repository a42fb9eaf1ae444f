//! Building single records, and choosing which address of a node or service to publish.
//!
//! Address choice follows Consul's `TranslateAddress`/`TranslateServiceAddress`
//! (`agent/translate_addr.go`): an A question prefers the `lan_ipv4` tagged address, an
//! AAAA question `lan_ipv6`, any other question `lan_ipv6` then `lan_ipv4`; otherwise the
//! plain address, whatever its family. With `translate_wan_addrs` and a question about
//! another datacenter the `wan` addresses stand in for the LAN ones.

use crate::config::DnsConfig;
use hickory_proto::rr::rdata::{self, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use legate_catalog::{Node, Service};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Which address families a question accepts (host names are always accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    V4,
    V6,
    Any,
}

impl Accept {
    pub fn for_qtype(qtype: RecordType) -> Accept {
        match qtype {
            RecordType::A => Accept::V4,
            RecordType::AAAA => Accept::V6,
            _ => Accept::Any,
        }
    }
}

/// Consul's `translateAddressAccept`: a tagged address of an accepted family first, else
/// the default address as it is.
fn pick(accept: Accept, default: &str, v4: &str, v6: &str) -> String {
    let wants_v6 = matches!(accept, Accept::V6 | Accept::Any);
    let wants_v4 = matches!(accept, Accept::V4 | Accept::Any);
    if wants_v6 && !v6.is_empty() {
        v6.to_owned()
    } else if wants_v4 && !v4.is_empty() {
        v4.to_owned()
    } else {
        default.to_owned()
    }
}

/// The address to publish for a node.
pub fn node_address(node: &Node, accept: Accept, use_wan: bool) -> String {
    let tagged = |key: &str| node.tagged_addresses.get(key).map(String::as_str);
    let mut default = node.address.as_str();
    let mut v4 = tagged("lan_ipv4").unwrap_or("");
    let mut v6 = tagged("lan_ipv6").unwrap_or("");
    if use_wan {
        default = tagged("wan").unwrap_or(default);
        v4 = tagged("wan_ipv4").unwrap_or(v4);
        v6 = tagged("wan_ipv6").unwrap_or(v6);
    }
    pick(accept, default, v4, v6)
}

/// The address to publish for a service instance; empty means "use the node's".
pub fn service_address(service: &Service, accept: Accept, use_wan: bool) -> String {
    let tagged = |key: &str| {
        service
            .tagged_addresses
            .get(key)
            .map(|a| a.address.as_str())
    };
    let mut default = service.address.as_str();
    let mut v4 = tagged("lan_ipv4").unwrap_or("");
    let mut v6 = tagged("lan_ipv6").unwrap_or("");
    if use_wan {
        default = tagged("wan").unwrap_or(default);
        v4 = tagged("wan_ipv4").unwrap_or(v4);
        v6 = tagged("wan_ipv6").unwrap_or(v6);
    }
    pick(accept, default, v4, v6)
}

/// The port to publish: the `wan` tagged port when translating and one is set.
pub fn service_port(service: &Service, use_wan: bool) -> u16 {
    match service.tagged_addresses.get("wan") {
        Some(wan) if use_wan && wan.port != 0 => wan.port,
        _ => service.port,
    }
}

/// An address as Go's `net.ParseIP` reads it; IPv4-mapped IPv6 addresses count as IPv4,
/// as `To4()` makes them.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let ip: IpAddr = text.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// A fully qualified name from text, or `None` when it is not a valid DNS name (a label
/// over 63 bytes, a name over 255). Callers skip records they cannot name.
pub fn fqdn(text: &str) -> Option<Name> {
    let mut name = Name::from_ascii(text).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// Consul's `makeARecord`: an A record for IPv4 answers SRV, A, ANY, NS and TXT questions;
/// an AAAA record for IPv6 answers SRV, AAAA, ANY, NS and TXT questions.
pub fn address_record(qtype: RecordType, ip: IpAddr, ttl: u32, name: Name) -> Option<Record> {
    use RecordType::*;
    match ip {
        IpAddr::V4(v4) if matches!(qtype, SRV | A | ANY | NS | TXT) => {
            Some(Record::from_rdata(name, ttl, RData::A(rdata::A(v4))))
        }
        IpAddr::V6(v6) if matches!(qtype, SRV | AAAA | ANY | NS | TXT) => {
            Some(Record::from_rdata(name, ttl, RData::AAAA(rdata::AAAA(v6))))
        }
        _ => None,
    }
}

pub fn cname(name: Name, ttl: u32, target: Name) -> Record {
    Record::from_rdata(name, ttl, RData::CNAME(rdata::CNAME(target)))
}

pub fn srv(name: Name, ttl: u32, weight: u16, port: u16, target: Name) -> Record {
    Record::from_rdata(name, ttl, RData::SRV(SRV::new(1, weight, port, target)))
}

pub fn ptr(name: Name, target: Name) -> Record {
    // Consul gives PTR records a TTL of 0 whatever node_ttl says.
    Record::from_rdata(name, 0, RData::PTR(rdata::PTR(target)))
}

pub fn ns(name: Name, ttl: u32, target: Name) -> Record {
    Record::from_rdata(name, ttl, RData::NS(rdata::NS(target)))
}

/// The zone's SOA record for `domain` (`ns.<domain>`, `hostmaster.<domain>`, serial = now).
/// Its own TTL is `min_ttl`, so that caches keep negative answers exactly as long as the
/// SOA says.
pub fn soa(domain: &str, config: &DnsConfig, now_unix: u32) -> Option<Record> {
    let soa = &config.soa;
    let timer = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
    let data = SOA::new(
        fqdn(&format!("ns.{domain}"))?,
        fqdn(&format!("hostmaster.{domain}"))?,
        now_unix,
        timer(soa.refresh),
        timer(soa.retry),
        timer(soa.expire),
        soa.min_ttl,
    );
    Some(Record::from_rdata(
        fqdn(domain)?,
        soa.min_ttl,
        RData::SOA(data),
    ))
}

/// `<node>.node.<dc>.<domain>`: the canonical name of a node, used as SRV target.
pub fn node_fqdn(node: &str, datacenter: &str, domain: &str) -> String {
    format!("{node}.node.{datacenter}.{domain}")
}

/// `<hex>.addr.<dc>.<domain>`: the SRV target for an instance published by IP.
pub fn addr_fqdn(ip: IpAddr, datacenter: &str, domain: &str) -> String {
    let hex: String = match ip {
        IpAddr::V4(v4) => v4.octets().iter().map(|b| format!("{b:02x}")).collect(),
        IpAddr::V6(v6) => v6.octets().iter().map(|b| format!("{b:02x}")).collect(),
    };
    format!("{hex}.addr.{datacenter}.{domain}")
}

/// TXT records for a node's meta, one per key in key order: RFC 1464 `key=value`, or the
/// bare value for keys starting with `rfc1035-`.
pub fn meta_txt(name: &Name, meta: &BTreeMap<String, String>, ttl: u32) -> Vec<Record> {
    meta.iter()
        .map(|(key, value)| {
            let text = if key.to_ascii_lowercase().starts_with("rfc1035-") {
                value.clone()
            } else {
                rfc1464(key, value)
            };
            Record::from_rdata(name.clone(), ttl, RData::TXT(TXT::new(split_255(&text))))
        })
        .collect()
}

/// RFC 1464 encoding as Consul's `encodeKVasRFC1464` writes it: in the key, backquotes and
/// `=` are escaped and leading then trailing spaces are each written as a backquoted space;
/// in the value only backquotes are escaped.
pub fn rfc1464(key: &str, value: &str) -> String {
    let key = key.replace('`', "``").replace('=', "`=");
    let key = escape_edge_spaces(&key, true);
    let key = escape_edge_spaces(&key, false);
    format!("{key}={}", value.replace('`', "``"))
}

fn escape_edge_spaces(text: &str, leading: bool) -> String {
    let trimmed = if leading {
        text.trim_start_matches(' ')
    } else {
        text.trim_end_matches(' ')
    };
    let count = text.len() - trimmed.len();
    let escaped = "` ".repeat(count);
    if leading {
        format!("{escaped}{trimmed}")
    } else {
        format!("{trimmed}{escaped}")
    }
}

/// A TXT character-string holds at most 255 bytes; longer meta values are split across
/// several strings of one record (split on character boundaries).
fn split_255(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        if current.len() + ch.len_utf8() > 255 {
            parts.push(std::mem::take(&mut current));
        }
        current.push(ch);
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// The node names Consul puts in NS answers: letters, digits, `-` (and `\`, which its
/// pattern lets through) only; others are skipped.
pub fn valid_ns_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_catalog::{NodeName, ServiceAddress};

    #[test]
    fn rfc1464_escapes_like_consul() {
        assert_eq!(rfc1464("key", "value"), "key=value");
        assert_eq!(rfc1464("k=y", "v`l"), "k`=y=v``l");
        assert_eq!(rfc1464("  k ", "v"), "` ` k` =v");
        assert_eq!(rfc1464("a`b", "=x"), "a``b==x");
    }

    #[test]
    fn long_txt_values_are_split() {
        let long = "x".repeat(600);
        let parts = split_255(&long);
        assert_eq!(
            parts.iter().map(String::len).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(split_255(""), [""]);
    }

    #[test]
    fn address_choice_prefers_tagged_family() {
        let node = Node {
            name: NodeName::new("n"),
            address: "10.0.0.1".into(),
            tagged_addresses: [
                ("lan_ipv4".to_owned(), "10.0.0.2".to_owned()),
                ("lan_ipv6".to_owned(), "2001:db8::2".to_owned()),
                ("wan".to_owned(), "198.51.100.1".to_owned()),
            ]
            .into(),
            ..Node::default()
        };
        assert_eq!(node_address(&node, Accept::V4, false), "10.0.0.2");
        assert_eq!(node_address(&node, Accept::V6, false), "2001:db8::2");
        assert_eq!(node_address(&node, Accept::Any, false), "2001:db8::2");
        let plain = Node {
            address: "10.0.0.1".into(),
            ..Node::default()
        };
        assert_eq!(node_address(&plain, Accept::V6, false), "10.0.0.1");
        let wan_only = Node {
            address: "10.0.0.1".into(),
            tagged_addresses: [("wan".to_owned(), "198.51.100.1".to_owned())].into(),
            ..Node::default()
        };
        assert_eq!(node_address(&wan_only, Accept::V4, true), "198.51.100.1");
    }

    #[test]
    fn wan_port_only_when_translating() {
        let service = Service {
            port: 80,
            tagged_addresses: [(
                "wan".to_owned(),
                ServiceAddress {
                    address: "198.51.100.9".into(),
                    port: 8080,
                },
            )]
            .into(),
            ..Service::default()
        };
        assert_eq!(service_port(&service, false), 80);
        assert_eq!(service_port(&service, true), 8080);
        assert_eq!(service_address(&service, Accept::Any, true), "198.51.100.9");
    }

    #[test]
    fn addr_names_use_hex() {
        assert_eq!(
            addr_fqdn("10.0.0.1".parse().unwrap(), "dc1", "consul."),
            "0a000001.addr.dc1.consul."
        );
        assert_eq!(
            addr_fqdn("2001:db8::1".parse().unwrap(), "dc1", "consul."),
            "20010db8000000000000000000000001.addr.dc1.consul."
        );
    }

    #[test]
    fn mapped_addresses_count_as_v4() {
        assert_eq!(
            parse_ip("::ffff:10.0.0.1"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(parse_ip("host.example"), None);
    }
}
