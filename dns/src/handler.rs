//! `DnsHandler`: the I/O shell around the pure core. One raw request in, one raw reply (or
//! nothing) out:
//!
//! ```text
//!  bytes ─decode─▶ DnsRequest ─needs─▶ Lookup ─▶ Found ─hostnames─▶ resolve (internal
//!        │                                                         or recursors)
//!        └─ FORMERR / NOTIMP / drop          answer(request, facts, config, now, rng)
//!                                              ├─ Message ─▶ trim::finalize ─▶ bytes
//!                                              └─ Recurse ─▶ recursor::forward ─▶ bytes
//! ```
//!
//! The request is parsed once; nothing here decides what an answer contains. Logging is
//! at debug level at most per query, so a busy agent's logs stay quiet.

use crate::answer::{self, Facts, Found, Need, Reply};
use crate::config::DnsConfig;
use crate::lookup::{Lookup, LookupError, ReadOptions};
use crate::records;
use crate::recursor;
use crate::request::{self, DnsRequest, Rejection};
use crate::trim::{self, Transport};
use hickory_proto::op::Query;
use hickory_proto::rr::{Record, RecordType};
use legate_catalog::{Datacenter, ServiceName};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How deep CNAME targets inside the domain are followed (Consul's
/// `maxRecursionLevelDefault`), so that two services pointing at each other end.
const MAX_RECURSION_LEVEL: u8 = 3;

/// How many distinct host names one answer resolves; the rest are answered without their
/// records. Consul has no such cap; it bounds the work one datagram can cause.
const MAX_HOSTNAMES: usize = 32;

/// How long one catalog read may take before the question is answered SERVFAIL. Clients
/// give up after a few seconds anyway, and a stuck read must not hold a UDP slot forever.
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers DNS requests from a `Lookup`.
pub struct DnsHandler<L> {
    lookup: L,
    config: DnsConfig,
    lookup_timeout: Duration,
}

impl<L: Lookup> DnsHandler<L> {
    pub fn new(lookup: L, config: DnsConfig) -> Self {
        DnsHandler {
            lookup,
            config,
            lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
        }
    }

    /// Sets the deadline of each catalog read (default `DEFAULT_LOOKUP_TIMEOUT`).
    pub fn with_lookup_timeout(mut self, lookup_timeout: Duration) -> Self {
        self.lookup_timeout = lookup_timeout;
        self
    }

    pub fn config(&self) -> &DnsConfig {
        &self.config
    }

    pub fn lookup(&self) -> &L {
        &self.lookup
    }

    /// Answers one raw request that arrived on `transport`. `None` means send nothing.
    pub async fn respond(&self, raw: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let mut rng =
            StdRng::from_rng(rand::thread_rng()).unwrap_or_else(|_| StdRng::seed_from_u64(0));
        self.respond_at(raw, transport, unix_now(), &mut rng).await
    }

    /// `respond` to a question that came from `source` (a prepared query's `Near: "_ip"`
    /// sorts by it when the question carries no EDNS client subnet).
    pub async fn respond_from(
        &self,
        raw: &[u8],
        transport: Transport,
        source: IpAddr,
    ) -> Option<Vec<u8>> {
        let mut rng =
            StdRng::from_rng(rand::thread_rng()).unwrap_or_else(|_| StdRng::seed_from_u64(0));
        self.answer_raw(raw, transport, Some(source), unix_now(), &mut rng)
            .await
    }

    /// `respond` with the clock and the randomness passed in, so that tests get the same
    /// bytes every run. `now_unix` is the SOA serial; `rng` shuffles answers, chooses the
    /// recursor order and the ids of questions sent to recursors.
    pub async fn respond_at<R: Rng + Send>(
        &self,
        raw: &[u8],
        transport: Transport,
        now_unix: u32,
        rng: &mut R,
    ) -> Option<Vec<u8>> {
        self.answer_raw(raw, transport, None, now_unix, rng).await
    }

    async fn answer_raw<R: Rng + Send>(
        &self,
        raw: &[u8],
        transport: Transport,
        source: Option<IpAddr>,
        now_unix: u32,
        rng: &mut R,
    ) -> Option<Vec<u8>> {
        let request = match request::decode(raw, &self.config) {
            Ok(request) => request,
            Err(Rejection::Ignore) => return None,
            Err(Rejection::Reply(reply)) => return Some(reply),
        };
        tracing::trace!(name = %request.query.name, qtype = %request.qtype(), "dns question");
        let client = request.client_subnet().or(source);
        let facts = self
            .gather(&request, client, MAX_RECURSION_LEVEL, now_unix, rng)
            .await;
        let reply = answer::answer(&request, &facts, &self.config, now_unix, rng);
        match reply {
            Reply::Message { message, trim } => Some(trim::finalize(
                message,
                trim,
                &request,
                transport,
                &self.config,
            )),
            Reply::Recurse => Some(self.recurse(raw, &request, transport, rng).await),
        }
    }

    async fn recurse<R: Rng + Send>(
        &self,
        raw: &[u8],
        request: &DnsRequest,
        transport: Transport,
        rng: &mut R,
    ) -> Vec<u8> {
        let order = self.recursor_order(rng);
        match recursor::forward(raw, &self.config, transport, &order).await {
            Some(reply) => reply,
            None => {
                tracing::debug!(name = %request.query.name, "all recursors failed");
                let failure = answer::recursion_failed(request);
                trim::finalize(failure, false, request, transport, &self.config)
            }
        }
    }

    fn recursor_order(&self, rng: &mut impl Rng) -> Vec<usize> {
        recursor::order(
            self.config.recursor_strategy,
            self.config.recursors.len(),
            rng,
        )
    }

    /// Reads the catalog for a request and resolves the host names its answer will name.
    /// Boxed because resolving a name inside the domain gathers facts for it in turn.
    fn gather<'a, R: Rng + Send>(
        &'a self,
        request: &'a DnsRequest,
        client: Option<IpAddr>,
        level: u8,
        now_unix: u32,
        rng: &'a mut R,
    ) -> Pin<Box<dyn Future<Output = Facts> + Send + 'a>> {
        Box::pin(async move {
            let found = self.find(answer::needs(request), client).await;
            let mut resolved = BTreeMap::new();
            let names = answer::hostnames(request, &found, &self.config);
            for name in names.into_iter().take(MAX_HOSTNAMES) {
                let records = self.resolve(&name, level, now_unix, &mut *rng).await;
                if !records.is_empty() {
                    resolved.insert(name, records);
                }
            }
            Facts { found, resolved }
        })
    }

    /// The records of a host name: answered internally when it is under the domain (one
    /// level shallower), else by the recursors' A records.
    async fn resolve<R: Rng + Send>(
        &self,
        host: &str,
        level: u8,
        now_unix: u32,
        rng: &mut R,
    ) -> Vec<Record> {
        let Some(name) = records::fqdn(host) else {
            return Vec::new();
        };
        let internal =
            DnsRequest::internal(Query::query(name.clone(), RecordType::ANY), &self.config);
        if internal.parsed.in_domain() {
            if level == 0 {
                tracing::debug!(%host, "CNAME chain too deep; not resolving");
                return Vec::new();
            }
            let facts = self
                .gather(&internal, None, level - 1, now_unix, &mut *rng)
                .await;
            let reply = answer::answer(&internal, &facts, &self.config, now_unix, rng);
            return match reply {
                Reply::Message { message, .. } => message.answers,
                Reply::Recurse => Vec::new(),
            };
        }
        if self.config.recursors.is_empty() {
            return Vec::new();
        }
        let order = self.recursor_order(rng);
        let id: u16 = rng.gen();
        recursor::resolve_a(&name, &self.config, &order, id).await
    }

    /// Runs one catalog read under the lookup deadline.
    async fn bounded<T>(
        &self,
        read: impl Future<Output = Result<T, LookupError>>,
    ) -> Result<T, LookupError> {
        match tokio::time::timeout(self.lookup_timeout, read).await {
            Ok(result) => result,
            Err(_) => Err(LookupError::Unavailable("catalog read timed out".into())),
        }
    }

    async fn find(&self, need: Need, client: Option<IpAddr>) -> Found {
        let lookup = &self.lookup;
        match need {
            Need::Nothing => Found::Nothing,
            Need::Service { name, dc } => {
                let read = lookup.shared_service_instances(ServiceName::new(name), self.read(dc));
                match self.bounded(read).await {
                    Ok(instances) => Found::Instances(instances),
                    Err(error) => Found::Failed(error),
                }
            }
            Need::PreparedQuery { name, dc } => {
                let options = ReadOptions {
                    client,
                    ..self.read(dc)
                };
                match self.bounded(lookup.prepared_query(name, options)).await {
                    Ok(answer) => Found::Query(answer),
                    Err(error) => Found::Failed(error),
                }
            }
            Need::Node { name, dc } => match self.bounded(lookup.node(name, self.read(dc))).await {
                Ok(node) => Found::Node(node),
                Err(error) => Found::Failed(error),
            },
            // Consul answers SOA and NS without name servers when the read fails.
            Need::Servers => match self.bounded(lookup.servers(self.read(None))).await {
                Ok(servers) => Found::Servers(servers),
                Err(error) => {
                    tracing::debug!(%error, "no servers for NS records");
                    Found::Servers(Vec::new())
                }
            },
            // A failed reverse read is treated as "not found", as Consul does.
            Need::Reverse { ip } => {
                let nodes = self
                    .bounded(lookup.nodes_by_address(ip, self.read(None)))
                    .await
                    .unwrap_or_default();
                let services = if nodes.is_empty() {
                    self.bounded(lookup.services_by_address(ip, self.read(None)))
                        .await
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                Found::Reverse { nodes, services }
            }
        }
    }

    /// Read options for a question about `dc` (`None` for the agent's own, also when the
    /// question names it explicitly).
    fn read(&self, dc: Option<Datacenter>) -> ReadOptions {
        ReadOptions {
            datacenter: dc.filter(|dc| *dc != self.config.datacenter),
            allow_stale: self.config.allow_stale,
            max_stale: self.config.max_stale,
            client: None,
        }
    }
}

fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    // The SOA serial is 32 bits; Consul truncates the same way.
    secs as u32
}
