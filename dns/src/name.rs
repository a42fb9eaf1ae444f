//! Question names parsed once into `DnsQuery`, the enum every later step matches on.
//!
//! The rules follow Consul's v1 dispatcher (`agent/dns.go` `dispatch`, `dns_ce.go`
//! `parseLocality`), read there and re-implemented from behaviour:
//! - Names compare case-insensitively; the parts handed on are lower case.
//! - The domain is the longer of `domain`/`alt_domain` that ends the name; answers are
//!   written under the domain as the question spelled it.
//! - Labels are scanned right to left for `service`, `connect`, `virtual`, `ingress`, `node`,
//!   `query` or `addr`. For an SRV question a label starting with `_` also ends the scan,
//!   which makes the `.service` label optional in RFC 2782 names (`_web._tcp.consul`).
//! - What follows the keyword is the locality: nothing, `<dc>`, or pairs `<dc>.dc`,
//!   `<peer>.peer`, `<port>.port` (up to three pairs). Anything else is not a valid name.
//! - Names under `arpa.` are reverse lookups; everything else is outside the domain.

use crate::config::DnsConfig;
use hickory_proto::rr::{Name, RecordType};
use legate_catalog::Datacenter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a question name asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsQuery {
    /// `[<tag>.]<service>.service[.<dc>].<domain>`, and RFC 2782
    /// `_<service>._<tag>[.service][.<dc>].<domain>` where the tag `tcp` means no tag.
    Service {
        name: String,
        /// Filters instances by tag (case-insensitively); may contain dots.
        tag: Option<String>,
        dc: Option<Datacenter>,
    },
    /// `<node>.node[.<dc>].<domain>`; the node name may contain dots.
    Node {
        name: String,
        dc: Option<Datacenter>,
    },
    /// `<hex>.addr[...].<domain>`: 8 hex digits are an IPv4 address, 32 an IPv6 address.
    /// Whatever follows `addr` is ignored, as in Consul.
    Addr { ip: IpAddr },
    /// `<query>.query[.<dc>].<domain>` and `_<query>._<proto>.query...`: a prepared query
    /// by id or name (templates by prefix); NXDOMAIN when none answers the name.
    PreparedQuery {
        name: String,
        dc: Option<Datacenter>,
    },
    /// `<service>.connect...`: mesh-capable instances. Legate has no service mesh, so there
    /// are never any (NXDOMAIN).
    Connect {
        name: String,
        dc: Option<Datacenter>,
    },
    /// `<service>.ingress...`: ingress gateways for a service; likewise never any.
    Ingress {
        name: String,
        dc: Option<Datacenter>,
    },
    /// `<service>.virtual[.<peer>]...`: a transparent-proxy virtual IP; Legate allocates
    /// none, so the answer is empty, as Consul's is for a service without one.
    Virtual { name: String },
    /// A node or service name qualified with `.<peer>.peer`: cluster peering is not
    /// supported, so nothing is found there.
    Peered,
    /// `<reversed ip>.in-addr.arpa.` or `<nibbles>.ip6.arpa.`; `None` when the labels do
    /// not spell a whole address.
    Reverse { ip: Option<IpAddr> },
    /// The domain itself (`consul.`): only SOA and NS questions find anything there.
    Apex,
    /// Under the domain, but no valid form (NXDOMAIN with the SOA).
    Invalid,
    /// Outside the domain and outside `arpa.`: forwarded to the recursors, if any.
    NotInDomain,
}

/// A parsed question name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedName {
    pub query: DnsQuery,
    /// The matched domain as the question spelled it (`Consul.`), fully qualified; empty
    /// for names outside both domains. SRV targets, NS names and `.addr` names are written
    /// under it, so that a client asking under `alt_domain` stays under `alt_domain`.
    pub domain: String,
}

impl ParsedName {
    /// Whether the name is under `domain` or `alt_domain`.
    pub fn in_domain(&self) -> bool {
        !self.domain.is_empty()
    }
}

/// The label that names the kind of lookup, found by scanning right to left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Service,
    Connect,
    Virtual,
    Ingress,
    Node,
    Query,
    Addr,
}

impl Kind {
    fn from_label(label: &str) -> Option<Kind> {
        Some(match label {
            "service" => Kind::Service,
            "connect" => Kind::Connect,
            "virtual" => Kind::Virtual,
            "ingress" => Kind::Ingress,
            "node" => Kind::Node,
            "query" => Kind::Query,
            "addr" => Kind::Addr,
            _ => return None,
        })
    }
}

/// Parses a question name. `qtype` matters only for the optional `.service` label of
/// RFC 2782 SRV names.
pub fn parse(name: &Name, qtype: RecordType, config: &DnsConfig) -> ParsedName {
    let labels: Vec<String> = name
        .iter()
        .map(|label| String::from_utf8_lossy(label).into_owned())
        .collect();
    parse_labels(&labels, qtype == RecordType::SRV, config)
}

/// Parses a name given as its labels in the question's spelling (no root label).
pub fn parse_labels(labels: &[String], is_srv: bool, config: &DnsConfig) -> ParsedName {
    let lower: Vec<String> = labels.iter().map(|l| l.to_ascii_lowercase()).collect();
    let Some(domain_len) = matched_domain_len(&lower, config) else {
        let query = if lower.last().is_some_and(|l| l == "arpa") {
            DnsQuery::Reverse {
                ip: ip_from_arpa(&lower),
            }
        } else {
            DnsQuery::NotInDomain
        };
        return ParsedName {
            query,
            domain: String::new(),
        };
    };
    let split = labels.len() - domain_len;
    let mut domain = labels[split..].join(".");
    domain.push('.');
    let inner = &lower[..split];
    let query = if inner.is_empty() {
        DnsQuery::Apex
    } else {
        dispatch(inner, is_srv).unwrap_or(DnsQuery::Invalid)
    };
    ParsedName { query, domain }
}

/// How many trailing labels form the longest configured domain that ends the name.
fn matched_domain_len(lower: &[String], config: &DnsConfig) -> Option<usize> {
    let domains = std::iter::once(config.domain.as_str()).chain(config.alt_domain.as_deref());
    domains
        .filter_map(|domain| {
            let domain_labels: Vec<&str> = domain
                .split('.')
                .filter(|label| !label.is_empty())
                .collect();
            let n = domain_labels.len();
            let ends_with = n <= lower.len()
                && lower[lower.len() - n..]
                    .iter()
                    .zip(&domain_labels)
                    .all(|(a, b)| a == b);
            ends_with.then_some(n)
        })
        .max()
}

/// Parses the labels in front of the domain; `None` is an invalid name.
fn dispatch(labels: &[String], is_srv: bool) -> Option<DnsQuery> {
    let (kind, parts, suffixes) = find_kind(labels, is_srv)?;
    match kind {
        Kind::Service => {
            let locality = parse_locality(suffixes)?;
            if locality.peer.is_some() {
                return Some(DnsQuery::Peered);
            }
            let (name, tag) = service_and_tag(parts)?;
            Some(DnsQuery::Service {
                name,
                tag,
                dc: locality.dc,
            })
        }
        Kind::Node => {
            let locality = parse_locality(suffixes)?;
            if parts.is_empty() {
                return None;
            }
            if locality.peer.is_some() {
                return Some(DnsQuery::Peered);
            }
            Some(DnsQuery::Node {
                name: parts.join("."),
                dc: locality.dc,
            })
        }
        Kind::Connect | Kind::Ingress => {
            let name = parts.last()?.clone();
            let locality = parse_locality(suffixes)?;
            Some(match kind {
                Kind::Connect => DnsQuery::Connect {
                    name,
                    dc: locality.dc,
                },
                _ => DnsQuery::Ingress {
                    name,
                    dc: locality.dc,
                },
            })
        }
        Kind::Virtual => {
            let name = parts.last()?.clone();
            parse_locality(suffixes)?;
            Some(DnsQuery::Virtual { name })
        }
        Kind::Query => {
            let n = parts.len();
            if n == 0 || suffixes.len() > 1 {
                return None;
            }
            let dc = suffixes.first().map(|dc| Datacenter::new(dc.as_str()));
            // RFC 2782 form: the last part is the protocol and is ignored; the name may
            // itself contain dots.
            let name = if n >= 2 && parts[0].starts_with('_') && parts[n - 1].starts_with('_') {
                parts[..n - 1].join(".")[1..].to_owned()
            } else {
                parts.join(".")
            };
            Some(DnsQuery::PreparedQuery { name, dc })
        }
        Kind::Addr => {
            let [hex] = parts else {
                return None;
            };
            Some(DnsQuery::Addr {
                ip: ip_from_hex(hex)?,
            })
        }
    }
}

type Split<'a> = (Kind, &'a [String], &'a [String]);

fn find_kind(labels: &[String], is_srv: bool) -> Option<Split<'_>> {
    for (i, label) in labels.iter().enumerate().rev() {
        if let Some(kind) = Kind::from_label(label) {
            return Some((kind, &labels[..i], &labels[i + 1..]));
        }
        if is_srv && label.starts_with('_') {
            return Some((Kind::Service, &labels[..=i], &labels[i + 1..]));
        }
    }
    None
}

/// A service name and optional tag from the parts before `service`.
fn service_and_tag(parts: &[String]) -> Option<(String, Option<String>)> {
    let n = parts.len();
    if n == 0 {
        return None;
    }
    if n == 2 && parts[0].starts_with('_') && parts[1].starts_with('_') {
        let tag = &parts[1][1..];
        let tag = (tag != "tcp" && !tag.is_empty()).then(|| tag.to_owned());
        return Some((parts[0][1..].to_owned(), tag));
    }
    let tag = (n >= 2).then(|| parts[..n - 1].join("."));
    Some((parts[n - 1].clone(), tag))
}

#[derive(Default)]
struct Locality {
    dc: Option<Datacenter>,
    peer: Option<String>,
}

/// Consul CE's `parseLocality`: nothing, one bare label (a datacenter), or up to three
/// `<value>.<dc|peer|port>` pairs, never both a datacenter and a peer. The port pair is
/// accepted and ignored, as it is by Consul for catalog lookups.
fn parse_locality(labels: &[String]) -> Option<Locality> {
    match labels.len() {
        0 => Some(Locality::default()),
        1 => Some(Locality {
            dc: Some(Datacenter::new(labels[0].as_str())),
            peer: None,
        }),
        2 | 4 | 6 => {
            let mut locality = Locality::default();
            for pair in labels.chunks(2) {
                match pair[1].as_str() {
                    "dc" => locality.dc = Some(Datacenter::new(pair[0].as_str())),
                    "peer" => locality.peer = Some(pair[0].clone()),
                    "port" => {}
                    _ => return None,
                }
            }
            if locality.dc.is_some() && locality.peer.is_some() {
                return None;
            }
            Some(locality)
        }
        _ => None,
    }
}

/// An `.addr` label: 8 hex digits for IPv4, 32 for IPv6.
fn ip_from_hex(hex: &str) -> Option<IpAddr> {
    fn bytes<const N: usize>(hex: &str) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(bytes::<4>(hex)?))),
        32 => Some(IpAddr::V6(Ipv6Addr::from(bytes::<16>(hex)?))),
        _ => None,
    }
}

/// The address a whole reverse name spells: four decimal labels under `in-addr.arpa` or
/// thirty-two nibbles under `ip6.arpa`, least significant first.
fn ip_from_arpa(lower: &[String]) -> Option<IpAddr> {
    let n = lower.len();
    if n < 2 {
        return None;
    }
    let (zone, digits) = (lower[n - 2].as_str(), &lower[..n - 2]);
    match zone {
        "in-addr" if digits.len() == 4 => {
            let mut octets = [0u8; 4];
            for (octet, label) in octets.iter_mut().zip(digits.iter().rev()) {
                if label.is_empty() || !label.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                *octet = label.parse().ok()?;
            }
            Some(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        "ip6" if digits.len() == 32 => {
            let mut value: u128 = 0;
            for label in digits.iter().rev() {
                let [nibble] = label.as_bytes() else {
                    return None;
                };
                let nibble = (*nibble as char).to_digit(16)?;
                value = (value << 4) | u128::from(nibble);
            }
            Some(IpAddr::V6(Ipv6Addr::from(value)))
        }
        _ => None,
    }
}

/// The reverse name of an address (`1.0.0.10.in-addr.arpa.`), as `dig -x` asks it.
pub fn arpa_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name.push_str("ip6.arpa.");
            name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str, is_srv: bool) -> ParsedName {
        let labels: Vec<String> = text
            .split('.')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        parse_labels(
            &labels,
            is_srv,
            &DnsConfig::default().with_alt_domain("alt.example"),
        )
    }

    #[test]
    fn arpa_round_trips() {
        for ip in ["10.1.2.3", "2001:db8::1", "::ffff:1.2.3.4"] {
            let ip: IpAddr = ip.parse().unwrap();
            let parsed = parse_text(&arpa_name(ip), false);
            assert_eq!(parsed.query, DnsQuery::Reverse { ip: Some(ip) });
        }
    }

    #[test]
    fn addr_needs_exact_hex_lengths() {
        assert_eq!(
            parse_text("7f000001.addr.consul", false).query,
            DnsQuery::Addr {
                ip: "127.0.0.1".parse().unwrap()
            }
        );
        assert_eq!(
            parse_text("7f00001.addr.consul", false).query,
            DnsQuery::Invalid
        );
        assert_eq!(
            parse_text("7f0000011.addr.consul", false).query,
            DnsQuery::Invalid
        );
        assert_eq!(
            parse_text("zz000001.addr.consul", false).query,
            DnsQuery::Invalid
        );
    }

    #[test]
    fn alt_domain_is_remembered_as_spelled() {
        let parsed = parse_text("web.service.ALT.Example", false);
        assert_eq!(parsed.domain, "ALT.Example.");
        assert!(matches!(parsed.query, DnsQuery::Service { .. }));
    }
}
