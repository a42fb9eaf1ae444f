//! The record-building half of the pure core: how instances, nodes, `.addr` names and name
//! servers become answer and additional records (Consul's `addServiceSRVRecordsToMessage`,
//! `addServiceNodeRecordsToMessage`, `makeNodeServiceRecords`, `handleNodeQuery`,
//! `getNameserversAndNodeRecord`).
//!
//! Two details clients notice:
//! - SRV answers carry, per target, its A/AAAA record (or the records of its host name) and,
//!   with `enable_additional_node_meta_txt`, the node's meta as TXT, all in the additional
//!   section; duplicates are kept, as Consul keeps them, and trimming later drops them.
//! - A/AAAA answers are deduplicated by record, stop after `a_record_limit` instances, and
//!   fall back to the first CNAME only when no instance had an address record.

use crate::answer::{Facts, Found};
use crate::config::DnsConfig;
use crate::health;
use crate::lookup::LookupError;
use crate::name::DnsQuery;
use crate::records::{self, Accept};
use crate::request::DnsRequest;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use legate_catalog::query::Instance;
use legate_catalog::Node;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashSet;
use std::net::IpAddr;

/// How many records resolving one host name may add to an answer for a client without
/// EDNS (Consul's `maxRecurseRecords`).
const MAX_RECURSE_RECORDS: usize = 5;

/// How many NS records an answer names at most.
const MAX_NAME_SERVERS: usize = 3;

/// Why a dispatched question has no positive answer.
pub(crate) enum Negative {
    /// NXDOMAIN with the SOA.
    NameError,
    /// NOERROR, no answers, the SOA.
    NoData,
    /// SERVFAIL.
    ServerFailure,
}

impl From<&LookupError> for Negative {
    fn from(error: &LookupError) -> Negative {
        match error {
            LookupError::UnknownDatacenter(_) => Negative::NameError,
            LookupError::Unavailable(_) => Negative::ServerFailure,
        }
    }
}

/// How one instance is published for one question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Addressing {
    /// No address of an accepted kind.
    Nothing,
    /// By the node's own IP; SRV targets name the node.
    NodeIp(IpAddr),
    /// By an IP of its own (or a translated node address); SRV targets are `.addr` names.
    Ip(IpAddr),
    /// By a host name (with its trailing dot), CNAMEd for address questions and used as
    /// the SRV target.
    Hostname(String),
}

/// What every record builder needs to know about the question.
pub(crate) struct Context<'a> {
    pub config: &'a DnsConfig,
    pub query: DnsQuery,
    pub qname: Name,
    pub qtype: RecordType,
    /// The domain as the question spelled it.
    pub domain: String,
    /// The datacenter the question is about: its `.dc` part, else the agent's.
    pub dc: String,
    /// Whether WAN addresses stand in for LAN ones (another datacenter, with
    /// `translate_wan_addrs`).
    pub use_wan: bool,
    /// Whether the client sent EDNS (it then gets every record of a resolved host name).
    pub edns: bool,
}

impl<'a> Context<'a> {
    pub fn new(request: &DnsRequest, config: &'a DnsConfig) -> Context<'a> {
        let asked_dc = match &request.parsed.query {
            DnsQuery::Service { dc, .. } | DnsQuery::Node { dc, .. } => dc.clone(),
            _ => None,
        };
        let dc = asked_dc.unwrap_or_else(|| config.datacenter.clone());
        Context {
            config,
            query: request.parsed.query.clone(),
            qname: request.query.name.clone(),
            qtype: request.qtype(),
            domain: request.parsed.domain.clone(),
            use_wan: config.translate_wan_addrs && dc != config.datacenter,
            dc: dc.as_str().to_owned(),
            edns: request.edns.is_some(),
        }
    }

    /// Consul's choice between node address, service IP and host name.
    pub fn addressing(&self, instance: &Instance, qtype: RecordType) -> Addressing {
        let accept = Accept::for_qtype(qtype);
        let service_addr = records::service_address(&instance.service, accept, self.use_wan);
        let node_addr = records::node_address(&instance.node, accept, self.use_wan);
        if service_addr.is_empty() && node_addr.is_empty() {
            return Addressing::Nothing;
        }
        let node_ip = records::parse_ip(&node_addr);
        if service_addr.is_empty() {
            return match node_ip {
                // A translated (tagged or WAN) node address is published like a service
                // address, so that the SRV target does not claim to be the node itself.
                Some(ip) if instance.node.address != node_addr => Addressing::Ip(ip),
                Some(ip) => Addressing::NodeIp(ip),
                None => Addressing::Hostname(dotted(&node_addr)),
            };
        }
        if let Some(ip) = records::parse_ip(&service_addr) {
            return Addressing::Ip(ip);
        }
        // A service whose address is the very name asked would CNAME to itself; Consul
        // publishes the node's address instead.
        if let Some(ip) = node_ip {
            if dotted(&service_addr) == self.qname.to_ascii() {
                return Addressing::NodeIp(ip);
            }
        }
        Addressing::Hostname(dotted(&service_addr))
    }

    /// The host name a node's records would CNAME to (lower case), when its address for
    /// this question is not an IP.
    pub fn node_hostname(&self, node: &Node, qtype: RecordType, use_wan: bool) -> Option<String> {
        let address = records::node_address(node, Accept::for_qtype(qtype), use_wan);
        if node.address.is_empty() || records::parse_ip(&address).is_some() {
            return None;
        }
        Some(dotted(&node.address).to_ascii_lowercase())
    }
}

/// A name with its trailing dot.
fn dotted(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

pub(crate) struct Builder<'a> {
    ctx: &'a Context<'a>,
    facts: &'a Facts,
    pub message: Message,
    now_unix: u32,
}

impl<'a> Builder<'a> {
    pub fn new(ctx: &'a Context<'a>, facts: &'a Facts, message: Message, now_unix: u32) -> Self {
        Builder {
            ctx,
            facts,
            message,
            now_unix,
        }
    }

    /// The SOA for this question: under the primary domain, or under `alt_domain` when the
    /// question ends in it (spelled in lower case, as Consul compares).
    pub fn soa(&self) -> Option<Record> {
        let config = self.ctx.config;
        let qname = self.ctx.qname.to_ascii();
        let domain = match &config.alt_domain {
            Some(alt) if qname.ends_with(&format!(".{alt}")) => alt.as_str(),
            _ => config.domain.as_str(),
        };
        records::soa(domain, config, self.now_unix)
    }

    fn resolved(&self, host: &str) -> &'a [Record] {
        self.facts
            .resolved
            .get(&host.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// Answers every question that is not SOA, NS or AXFR.
    pub fn dispatch(&mut self, rng: &mut impl Rng) -> Result<(), Negative> {
        let ctx = self.ctx;
        match (&self.facts.found, &ctx.query) {
            (Found::Failed(error), _) => Err(error.into()),
            (Found::Instances(instances), DnsQuery::Service { name, tag, .. }) => {
                let mut selected =
                    health::select(instances, tag.as_deref(), ctx.config.only_passing);
                if selected.is_empty() {
                    return Err(Negative::NameError);
                }
                selected.shuffle(rng);
                self.instances(&selected, ctx.config.service_ttl_secs(name))
            }
            (Found::Query(None), _) => Err(Negative::NameError),
            // The query filtered and ordered its instances; they are answered as they come.
            (Found::Query(Some(answer)), DnsQuery::PreparedQuery { .. }) => {
                let selected: Vec<&Instance> = answer.instances.iter().collect();
                if selected.is_empty() {
                    return Err(Negative::NameError);
                }
                let ttl = answer.ttl.map_or_else(
                    || ctx.config.service_ttl_secs(&answer.service),
                    |ttl| ttl.as_secs().min(u64::from(u32::MAX)) as u32,
                );
                self.instances(&selected, ttl)
            }
            (Found::Node(None), _) => Err(Negative::NameError),
            (Found::Node(Some(node)), _) => {
                self.node(node);
                Ok(())
            }
            (_, DnsQuery::Addr { ip }) => {
                self.addr(*ip);
                Ok(())
            }
            // Node questions of other types, and virtual IPs (Legate allocates none):
            // an empty NOERROR without SOA, as Consul answers them.
            (_, DnsQuery::Node { .. } | DnsQuery::Virtual { .. }) => Ok(()),
            _ => Err(Negative::NameError),
        }
    }

    /// A service's (or a prepared query's) instances, in the order given: SRV records for
    /// an SRV question, addresses otherwise.
    fn instances(&mut self, selected: &[&Instance], ttl: u32) -> Result<(), Negative> {
        if self.ctx.qtype == RecordType::SRV {
            self.service_srv(selected, ttl);
        } else {
            self.service_addresses(selected, ttl);
        }
        if self.message.answers.is_empty() {
            return Err(Negative::NoData);
        }
        Ok(())
    }

    fn service_srv(&mut self, instances: &[&Instance], ttl: u32) {
        let ctx = self.ctx;
        let mut seen = HashSet::new();
        for instance in instances {
            // Two instances on one node with the same address and port would be the same
            // SRV record.
            let address = records::service_address(&instance.service, Accept::Any, ctx.use_wan);
            let port = records::service_port(&instance.service, ctx.use_wan);
            if !seen.insert((instance.node.name.as_str(), address, port)) {
                continue;
            }
            self.instance_srv(instance, port, ttl);
            if ctx.config.enable_additional_node_meta_txt {
                let node_name =
                    records::node_fqdn(instance.node.name.as_str(), &ctx.dc, &ctx.domain);
                if let Some(name) = records::fqdn(&node_name) {
                    let txt = records::meta_txt(&name, &instance.node.meta, ttl);
                    self.message.additionals.extend(txt);
                }
            }
        }
    }

    fn instance_srv(&mut self, instance: &Instance, port: u16, ttl: u32) {
        let ctx = self.ctx;
        let weight = health::srv_weight(instance);
        let (target, extra) = match ctx.addressing(instance, RecordType::SRV) {
            Addressing::Nothing => return,
            Addressing::NodeIp(ip) => {
                let target = records::node_fqdn(instance.node.name.as_str(), &ctx.dc, &ctx.domain);
                (target, Some(ip))
            }
            Addressing::Ip(ip) => (records::addr_fqdn(ip, &ctx.dc, &ctx.domain), Some(ip)),
            Addressing::Hostname(host) => (host, None),
        };
        let Some(target_name) = records::fqdn(&target) else {
            return;
        };
        let srv = records::srv(ctx.qname.clone(), ttl, weight, port, target_name.clone());
        self.message.answers.push(srv);
        match extra {
            Some(ip) => {
                let record = records::address_record(RecordType::SRV, ip, ttl, target_name);
                self.message.additionals.extend(record);
            }
            None => {
                let resolved = self.resolved_for_service(&target, ttl);
                self.message.additionals.extend(resolved);
            }
        }
    }

    /// A host name's records as Consul's `makeRecordFromFQDN` keeps them: CNAME, A and
    /// AAAA only, with the service's TTL, at most five for a client without EDNS.
    fn resolved_for_service(&self, host: &str, ttl: u32) -> Vec<Record> {
        let mut out = Vec::new();
        for record in self.resolved(host) {
            if !matches!(
                record.record_type(),
                RecordType::CNAME | RecordType::A | RecordType::AAAA
            ) {
                continue;
            }
            let mut record = record.clone();
            record.ttl = ttl;
            out.push(record);
            if out.len() == MAX_RECURSE_RECORDS && !self.ctx.edns {
                break;
            }
        }
        out
    }

    fn service_addresses(&mut self, instances: &[&Instance], ttl: u32) {
        let ctx = self.ctx;
        let mut seen = HashSet::new();
        let mut first_cname: Vec<Record> = Vec::new();
        let mut count = 0usize;
        for instance in instances {
            let records = match ctx.addressing(instance, ctx.qtype) {
                Addressing::Nothing => continue,
                Addressing::NodeIp(ip) | Addressing::Ip(ip) => {
                    match records::address_record(ctx.qtype, ip, ttl, ctx.qname.clone()) {
                        Some(record) => vec![record],
                        None => continue,
                    }
                }
                Addressing::Hostname(host) => {
                    let Some(target) = records::fqdn(&host) else {
                        continue;
                    };
                    let mut records = vec![records::cname(ctx.qname.clone(), ttl, target)];
                    records.extend(self.resolved_for_service(&host, ttl));
                    records
                }
            };
            if !seen.insert(records[0].to_string()) {
                continue;
            }
            if matches!(records[0].data, RData::CNAME(_)) {
                if first_cname.is_empty() {
                    first_cname = records;
                }
                continue;
            }
            self.message.answers.extend(records);
            count += 1;
            if count == ctx.config.a_record_limit {
                return;
            }
        }
        if self.message.answers.is_empty() {
            self.message.answers = first_cname;
        }
    }

    /// Node questions: address records (or a CNAME and its records) plus the node meta as
    /// TXT, in the answer for TXT and ANY questions, else in the additional section.
    fn node(&mut self, node: &Node) {
        let ctx = self.ctx;
        let ttl = ctx.config.node_ttl_secs();
        let meta_in_answer = matches!(ctx.qtype, RecordType::TXT | RecordType::ANY);
        if ctx.qtype != RecordType::TXT {
            let records = self.node_records(node, ctx.qtype, ctx.qname.clone(), ttl, ctx.use_wan);
            self.message.answers.extend(records);
        }
        if ctx.config.enable_additional_node_meta_txt || meta_in_answer {
            let txt = records::meta_txt(&ctx.qname, &node.meta, ttl);
            if meta_in_answer {
                self.message.answers.extend(txt);
            } else {
                self.message.additionals.extend(txt);
            }
        }
    }

    /// Consul's `makeRecordFromNode`: the node's address record under `name`, or a CNAME to
    /// its host name followed by that name's records.
    fn node_records(
        &self,
        node: &Node,
        qtype: RecordType,
        name: Name,
        ttl: u32,
        use_wan: bool,
    ) -> Vec<Record> {
        let address = records::node_address(node, Accept::for_qtype(qtype), use_wan);
        if let Some(ip) = records::parse_ip(&address) {
            return records::address_record(qtype, ip, ttl, name)
                .into_iter()
                .collect();
        }
        if node.address.is_empty() {
            return Vec::new();
        }
        let target = dotted(&node.address);
        let Some(target_name) = records::fqdn(&target) else {
            return Vec::new();
        };
        let mut out = vec![records::cname(name, ttl, target_name)];
        out.extend(self.resolved(&target).iter().cloned());
        out
    }

    /// `.addr` questions: the address itself, in the answer when the type matches, else
    /// (a Consul quirk kept for fidelity) in the additional section of an empty NOERROR.
    fn addr(&mut self, ip: IpAddr) {
        let ctx = self.ctx;
        let ttl = ctx.config.node_ttl_secs();
        let asked = ctx.qname.to_ascii();
        let lower = asked.to_ascii_lowercase();
        let keep = lower.len().saturating_sub(ctx.domain.len());
        let Some(name) = records::fqdn(&format!("{}{}", &lower[..keep], ctx.domain)) else {
            return;
        };
        let (record, wanted) = match ip {
            IpAddr::V4(v4) => (
                Record::from_rdata(name, ttl, RData::A(v4.into())),
                matches!(ctx.qtype, RecordType::A | RecordType::ANY),
            ),
            IpAddr::V6(v6) => (
                Record::from_rdata(name, ttl, RData::AAAA(v6.into())),
                matches!(ctx.qtype, RecordType::AAAA | RecordType::ANY),
            ),
        };
        if wanted {
            self.message.answers.push(record);
        } else {
            self.message.additionals.push(record);
        }
    }

    /// Up to three healthy servers, shuffled, as NS records under the question's domain,
    /// with their address records as glue.
    pub fn name_servers(&self, rng: &mut impl Rng) -> (Vec<Record>, Vec<Record>) {
        let ctx = self.ctx;
        let Found::Servers(servers) = &self.facts.found else {
            return (Vec::new(), Vec::new());
        };
        let mut servers = health::select(servers, None, ctx.config.only_passing);
        servers.shuffle(rng);
        let Some(zone) = records::fqdn(&ctx.domain) else {
            return (Vec::new(), Vec::new());
        };
        let ttl = ctx.config.node_ttl_secs();
        let dc = ctx.config.datacenter.as_str();
        let (mut ns, mut glue) = (Vec::new(), Vec::new());
        for instance in &servers {
            let node = &instance.node;
            if !records::valid_ns_name(node.name.as_str()) {
                continue;
            }
            let target =
                records::node_fqdn(node.name.as_str(), dc, &ctx.domain).to_ascii_lowercase();
            let Some(target) = records::fqdn(&target) else {
                continue;
            };
            ns.push(records::ns(zone.clone(), ttl, target.clone()));
            glue.extend(self.node_records(node, RecordType::ANY, target, ttl, false));
            if ns.len() >= MAX_NAME_SERVERS {
                break;
            }
        }
        (ns, glue)
    }
}
