//! Prepared queries over DNS (`<query>.query[.<dc>].consul`): the HTTP `execute` run for
//! the DNS server's own agent and the asker's address, its answer handed to the DNS
//! frontend.

use legate_api::backend::{Backend, BackendError, Consistency};
use legate_api::prepared_query::{self, ExecuteError, Execution};
use legate_dns::{LookupError, QueryAnswer, ReadOptions};
use std::time::Duration;

/// Runs query `name` (an id or a name, templates by prefix) as `backend`'s agent would.
pub async fn prepared_query<B: Backend>(
    backend: &B,
    name: String,
    options: &ReadOptions,
) -> Result<Option<QueryAnswer>, LookupError> {
    let execution = Execution {
        id_or_name: name,
        datacenter: options.datacenter.clone(),
        consistency: if options.allow_stale {
            Consistency::Stale
        } else {
            Consistency::Default
        },
        // The query's own `Near` applies; `_agent` is this agent, `_ip` the asker (its EDNS
        // client subnet, else the question's source address).
        near: None,
        limit: None,
        agent_node: backend.agent_info().node_name,
        source_ip: options.client,
    };
    match prepared_query::execute(backend, &execution).await {
        Ok(executed) => {
            let definition = &executed.query.definition;
            Ok(Some(QueryAnswer {
                service: definition.service.service.clone(),
                instances: executed.nodes,
                ttl: ttl(&definition.dns.ttl),
            }))
        }
        // Consul answers NXDOMAIN for a query that does not exist or cannot render.
        Err(ExecuteError::NotFound | ExecuteError::Render(_)) => Ok(None),
        Err(ExecuteError::Backend(BackendError::NoPathToDatacenter)) => Err(
            LookupError::UnknownDatacenter(options.datacenter.clone().unwrap_or_default()),
        ),
        Err(ExecuteError::Backend(error)) => Err(LookupError::Unavailable(error.to_string())),
    }
}

/// The query's DNS TTL, when it sets one (checked when the query was written).
fn ttl(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    legate_api::duration::parse_std(text).ok()
}
