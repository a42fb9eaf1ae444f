//! The pure core: a parsed request plus what `Lookup` found, in; the reply message, out.
//!
//! No sockets, no clock (the SOA serial is passed in), no hidden randomness (the caller
//! passes the RNG that shuffles instances), so every answer can be golden-tested.
//!
//! The shell runs it in three steps:
//! 1. `needs(request)` says which catalog read the question wants (`Need`);
//! 2. `hostnames(request, facts)` lists the host names whose records the answer will carry
//!    (instances registered with a DNS name instead of an IP); the shell resolves them,
//!    internally or through the recursors, into `Facts::resolved`;
//! 3. `answer(request, facts, ...)` builds the reply, which `trim::finalize` then fits to
//!    the transport.
//!
//! The behaviour is Consul's v1 DNS server (`agent/dns.go`), point by point:
//! - In the domain AA is set; RA is set when recursors are configured.
//! - SOA questions (for any name in the domain) answer the SOA, with NS records in the
//!   authority section and their addresses as glue; NS questions answer the NS records.
//!   NS names up to three healthy `consul` instances, shuffled. AXFR is NOTIMP.
//! - Unknown names, no healthy instance, an unknown datacenter: NXDOMAIN with the SOA in
//!   the authority section. A service that exists but has no record of the asked type:
//!   NOERROR, no answer, the SOA (NODATA). A failed read: SERVFAIL.
//! - Node questions only answer A, AAAA, ANY and TXT; other types get an empty NOERROR
//!   without SOA, as in Consul.
//! - Names outside the domain are recursed when recursors exist, else REFUSED (what the
//!   miekg mux answers for a name nobody serves).

use crate::builder::{Addressing, Builder, Context, Negative};
use crate::config::DnsConfig;
use crate::health;
use crate::lookup::{LookupError, QueryAnswer};
use crate::name::DnsQuery;
use crate::records;
use crate::request::DnsRequest;
use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{Record, RecordType};
use legate_catalog::query::Instance;
use legate_catalog::{Datacenter, Node, Service};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// The catalog read a question needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    Nothing,
    Service {
        name: String,
        dc: Option<Datacenter>,
    },
    Node {
        name: String,
        dc: Option<Datacenter>,
    },
    /// The `consul` service, for SOA and NS answers.
    Servers,
    Reverse {
        ip: IpAddr,
    },
    PreparedQuery {
        name: String,
        dc: Option<Datacenter>,
    },
}

/// What the shell learned for one question.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub found: Found,
    /// Records for host names, keyed by lower-case fully qualified name: the answer
    /// section of an internal lookup for names in the domain, of an A query to the
    /// recursors for others. Missing names simply resolve to nothing.
    pub resolved: BTreeMap<String, Vec<Record>>,
}

/// The result of the catalog read named by `Need`.
#[derive(Clone, Debug, Default)]
pub enum Found {
    #[default]
    Nothing,
    /// Shared with the lookup's cache: answering only borrows the instances.
    Instances(Arc<[Instance]>),
    Node(Option<Node>),
    Servers(Vec<Instance>),
    Reverse {
        nodes: Vec<Node>,
        services: Vec<Service>,
    },
    /// A prepared query's answer; `None` when no query has the name.
    Query(Option<QueryAnswer>),
    Failed(LookupError),
}

/// What to do with a question.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Send this message. `trim` is false for PTR answers, which Consul never trims.
    Message { message: Message, trim: bool },
    /// Forward the raw request to the recursors.
    Recurse,
}

/// Which catalog read `request` needs.
pub fn needs(request: &DnsRequest) -> Need {
    let qtype = request.qtype();
    match &request.parsed.query {
        DnsQuery::NotInDomain => Need::Nothing,
        DnsQuery::Reverse { ip } => ip.map_or(Need::Nothing, |ip| Need::Reverse { ip }),
        _ if matches!(qtype, RecordType::SOA | RecordType::NS) => Need::Servers,
        _ if qtype == RecordType::AXFR => Need::Nothing,
        DnsQuery::Service { name, dc, .. } => Need::Service {
            name: name.clone(),
            dc: dc.clone(),
        },
        DnsQuery::Node { name, dc } if answers_node_type(qtype) => Need::Node {
            name: name.clone(),
            dc: dc.clone(),
        },
        DnsQuery::PreparedQuery { name, dc } => Need::PreparedQuery {
            name: name.clone(),
            dc: dc.clone(),
        },
        _ => Need::Nothing,
    }
}

fn answers_node_type(qtype: RecordType) -> bool {
    matches!(
        qtype,
        RecordType::A | RecordType::AAAA | RecordType::ANY | RecordType::TXT
    )
}

/// The host names `answer` will look up in `Facts::resolved`, lower case and fully
/// qualified.
pub fn hostnames(request: &DnsRequest, found: &Found, config: &DnsConfig) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let qtype = request.qtype();
    let ctx = Context::new(request, config);
    match (found, &request.parsed.query) {
        (Found::Instances(instances), DnsQuery::Service { tag, .. }) => {
            for instance in instances.iter() {
                if !health::has_tag(instance, tag.as_deref())
                    || !health::is_healthy(instance, config.only_passing)
                {
                    continue;
                }
                if let Addressing::Hostname(host) = ctx.addressing(instance, qtype) {
                    names.insert(host.to_ascii_lowercase());
                }
            }
        }
        (Found::Query(Some(answer)), _) => {
            for instance in &answer.instances {
                if let Addressing::Hostname(host) = ctx.addressing(instance, qtype) {
                    names.insert(host.to_ascii_lowercase());
                }
            }
        }
        (Found::Node(Some(node)), _) if qtype != RecordType::TXT => {
            if let Some(host) = ctx.node_hostname(node, qtype, ctx.use_wan) {
                names.insert(host);
            }
        }
        (Found::Servers(servers), _) => {
            for instance in servers {
                if !health::is_healthy(instance, config.only_passing) {
                    continue;
                }
                if let Some(host) = ctx.node_hostname(&instance.node, RecordType::ANY, false) {
                    names.insert(host);
                }
            }
        }
        _ => {}
    }
    names
}

/// Builds the reply to `request`. `now_unix` is the SOA serial.
pub fn answer(
    request: &DnsRequest,
    facts: &Facts,
    config: &DnsConfig,
    now_unix: u32,
    rng: &mut impl Rng,
) -> Reply {
    let mut message = reply_to(request);
    match &request.parsed.query {
        DnsQuery::NotInDomain => {
            if config.recursion_available() {
                return Reply::Recurse;
            }
            message.metadata.response_code = ResponseCode::Refused;
            return Reply::Message {
                message,
                trim: false,
            };
        }
        DnsQuery::Reverse { .. } => return reverse(request, facts, config, now_unix, message),
        _ => {}
    }
    message.metadata.authoritative = true;
    message.metadata.recursion_available = config.recursion_available();
    let ctx = Context::new(request, config);
    let mut builder = Builder::new(&ctx, facts, message, now_unix);
    let ecs_global = !matches!(request.parsed.query, DnsQuery::PreparedQuery { .. });
    match request.qtype() {
        RecordType::SOA => {
            let (ns, glue) = builder.name_servers(rng);
            let soa = builder.soa();
            builder.message.answers.extend(soa);
            builder.message.authorities = ns;
            builder.message.additionals = glue;
        }
        RecordType::NS => {
            let (ns, glue) = builder.name_servers(rng);
            builder.message.answers = ns;
            builder.message.additionals = glue;
        }
        RecordType::AXFR => builder.message.metadata.response_code = ResponseCode::NotImp,
        _ => match builder.dispatch(rng) {
            Ok(()) => {}
            Err(Negative::NameError) => {
                builder.message.metadata.response_code = ResponseCode::NXDomain;
                let soa = builder.soa();
                builder.message.authorities.extend(soa);
            }
            Err(Negative::NoData) => {
                let soa = builder.soa();
                builder.message.authorities.extend(soa);
            }
            Err(Negative::ServerFailure) => {
                builder.message.metadata.response_code = ResponseCode::ServFail;
            }
        },
    }
    let mut message = builder.message;
    set_edns(request, &mut message, ecs_global);
    Reply::Message {
        message,
        trim: true,
    }
}

/// SERVFAIL for a question no recursor could answer: RA set, EDNS echoed.
pub fn recursion_failed(request: &DnsRequest) -> Message {
    let mut message = reply_to(request);
    message.metadata.response_code = ResponseCode::ServFail;
    message.metadata.recursion_available = true;
    set_edns(request, &mut message, true);
    message
}

/// A reply header and question, as miekg's `SetReply` makes it.
fn reply_to(request: &DnsRequest) -> Message {
    let mut metadata = Metadata::new(request.id, MessageType::Response, OpCode::Query);
    metadata.recursion_desired = request.recursion_desired;
    metadata.checking_disabled = request.checking_disabled;
    let mut message = Message::new(request.id, MessageType::Response, OpCode::Query);
    message.metadata = metadata;
    message.queries.push(request.query.clone());
    message
}

/// Echoes the client's EDNS: its UDP size and, if it sent one, its client-subnet option,
/// with scope 0 when the answer is the same for every client (everything but prepared
/// queries, and every error).
pub(crate) fn set_edns(request: &DnsRequest, message: &mut Message, ecs_global: bool) {
    let Some(edns) = &request.edns else {
        return;
    };
    let mut reply = Edns::new();
    reply.set_max_payload(edns.max_payload());
    if let Some(EdnsOption::Subnet(subnet)) = edns.option(EdnsCode::Subnet) {
        let rcode = message.metadata.response_code;
        let global = ecs_global
            || matches!(
                rcode,
                ResponseCode::NXDomain
                    | ResponseCode::ServFail
                    | ResponseCode::Refused
                    | ResponseCode::NotImp
            );
        let scope = if global { 0 } else { subnet.source_prefix() };
        reply
            .options_mut()
            .insert(EdnsOption::Subnet(ClientSubnet::new(
                subnet.addr(),
                subnet.source_prefix(),
                scope,
            )));
    }
    message.edns = Some(reply);
}

/// PTR questions (Consul's `handlePtr`): the first node with the address, else the first
/// service instance with it; names always under the primary domain; never trimmed.
fn reverse(
    request: &DnsRequest,
    facts: &Facts,
    config: &DnsConfig,
    now_unix: u32,
    mut message: Message,
) -> Reply {
    message.metadata.authoritative = true;
    message.metadata.recursion_available = config.recursion_available();
    let qname = request.query.name.clone();
    let soa = || records::soa(&config.domain, config, now_unix);
    if request.qtype() == RecordType::SOA {
        message.authorities.extend(soa());
    }
    let dc = config.datacenter.as_str();
    let target = match &facts.found {
        Found::Reverse { nodes, services } => nodes
            .first()
            .map(|node| records::node_fqdn(node.name.as_str(), dc, &config.domain))
            .or_else(|| {
                services
                    .first()
                    .map(|service| format!("{}.service.{dc}.{}", service.name, config.domain))
            }),
        _ => None,
    };
    match target.as_deref().and_then(records::fqdn) {
        Some(target) => message.answers.push(records::ptr(qname, target)),
        None if config.recursion_available() => return Reply::Recurse,
        None => {
            message.metadata.response_code = ResponseCode::NXDomain;
            message.authorities.extend(soa());
        }
    }
    set_edns(request, &mut message, true);
    Reply::Message {
        message,
        trim: false,
    }
}
