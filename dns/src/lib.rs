//! legate-dns: Consul's DNS interface for Legate.
//!
//! `dig @127.0.0.1 -p 8600 web.service.consul SRV` must answer as Consul would, so this
//! crate reproduces Consul's v1 DNS server (`agent/dns.go`): the name forms (`.service`,
//! RFC 2782, `.node`, `.addr`, `.query`, `.dc` suffixes, reverse lookups), health
//! filtering, shuffling, SRV targets and additional records, NXDOMAIN and NODATA with the
//! SOA, the UDP and TCP size rules, TTLs, and recursion for other names. It never sees the
//! agent: it reads the catalog through the narrow `Lookup` trait.
//!
//! ```text
//!  UDP/TCP ─▶ server (limits) ─▶ DnsHandler::respond ─▶ request::decode ─▶ name::parse
//!                                      │                                 (DnsQuery)
//!                     Lookup ◀── answer::needs          recursor::forward ◀── Recurse
//!                        │                                    ▲
//!                        └─▶ Facts ─▶ answer::answer ─▶ Reply ┘─▶ trim::finalize ─▶ bytes
//! ```
//!
//! Wiring (the agent's job):
//!
//! ```text
//! let config = DnsConfig { datacenter, node_name, recursors, node_ttl, .. }
//!     .with_domain(&domain).with_alt_domain(&alt_domain);
//! let handler = Arc::new(DnsHandler::new(lookup, config));   // lookup: impl Lookup
//! let udp = bind_udp_reuseport(addr, 2)?;                     // inside the runtime
//! let tcp = TcpListener::bind(addr).await?;
//! tokio::spawn(serve(udp, Some(tcp), handler, shutdown));
//! ```
//!
//! Layout:
//! - `config`: `DnsConfig`, Consul's `dns_config` keys and defaults, service TTL patterns,
//!   recursor addresses.
//! - `name`: question names parsed once into `DnsQuery` (pure).
//! - `request`: raw bytes decoded into `DnsRequest`, or FORMERR/NOTIMP/drop (pure).
//! - `lookup`: the `Lookup` trait the agent implements, and `LookupError`.
//! - `answer`: the pure core: what to look up, which host names to resolve, the reply.
//! - `builder`: how instances, nodes, `.addr` names and name servers become records.
//! - `records`: single records, address choice (tagged/WAN addresses), RFC 1464 TXT.
//! - `health`: which instances DNS may name, SRV weights, tag filtering.
//! - `trim`: UDP/TCP size limits, the TC rule, encoding with or without compression.
//! - `recursor`: forwarding to `recursors` and resolving external host names.
//! - `handler`: `DnsHandler`, the I/O shell tying the above together.
//! - `server`: `serve()` on agent-bound sockets with limits; `bind_udp_reuseport`.
//! - `hickory`: `DnsHandler` as a hickory-server `RequestHandler`, for embedding in
//!   `hickory_server::Server` (`serve` is preferred: it caps connections and stays quiet).
//! - `testing`: `FakeCatalog`, a `Lookup` over a small in-memory catalog, for tests.

pub mod answer;
pub mod builder;
pub mod config;
pub mod handler;
pub mod health;
pub mod hickory;
pub mod lookup;
pub mod name;
pub mod records;
pub mod recursor;
pub mod request;
pub mod server;
pub mod testing;
pub mod trim;

pub use answer::{answer, Facts, Found, Need, Reply};
pub use config::{ConfigError, DnsConfig, RecursorStrategy, ServiceTtl, SoaConfig};
pub use handler::DnsHandler;
pub use lookup::{Lookup, LookupError, QueryAnswer, ReadOptions};
pub use name::{DnsQuery, ParsedName};
pub use request::DnsRequest;
pub use server::{bind_udp_reuseport, serve, serve_with_limits, ServeLimits};
pub use trim::Transport;
