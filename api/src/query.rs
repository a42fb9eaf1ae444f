//! `/v1/query[/<id>[/execute|/explain]]`: prepared queries over HTTP (see `prepared_query`).

use crate::backend::Backend;
use crate::error::ApiError;
use crate::prepared_query::{self, ExecuteError, Execution, QueryJson, NOT_FOUND};
use crate::reply;
use crate::router::{unexpected, Api, Incoming};
use crate::types::ServiceEntry;
use axum::http::Method;
use axum::response::Response;
use legate_catalog::command::QuerySet;
use legate_catalog::{Command, Outcome, Query, QueryResult};
use serde::Serialize;
use std::net::IpAddr;

const LIST: &[Method] = &[Method::GET, Method::POST];
const ONE: &[Method] = &[Method::GET, Method::PUT, Method::DELETE];
const READ: &[Method] = &[Method::GET];

/// What a path under `/v1/query/` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    One(String),
    Execute(String),
    Explain(String),
}

impl Target {
    pub fn parse(rest: &str) -> Target {
        if let Some(id) = rest.strip_suffix("/execute") {
            return Target::Execute(id.to_owned());
        }
        if let Some(id) = rest.strip_suffix("/explain") {
            return Target::Explain(id.to_owned());
        }
        Target::One(rest.to_owned())
    }
}

fn refuse(request: &Incoming, allow: &'static [Method]) -> Result<(), ApiError> {
    if allow.contains(&request.method) {
        return Ok(());
    }
    Err(ApiError::MethodNotAllowed {
        method: request.method.clone(),
        allow,
    })
}

/// `GET /v1/query` (every query) and `POST /v1/query` (create: `{"ID": ...}`).
pub async fn list<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    refuse(&request, LIST)?;
    let options = api.options(&request)?;
    if request.method == Method::POST {
        let body = api.json_body(request).await?;
        let query = prepared_query::definition::parse(&body, "")?;
        let command = Command::QuerySet(QuerySet {
            query,
            create: true,
        });
        return match api.write(options.datacenter.clone(), command).await? {
            Outcome::QuerySaved(id) => Ok(reply::json(&Created { id }, options.pretty)),
            other => Err(ApiError::Refused(format!("unexpected outcome {other:?}"))),
        };
    }
    let read = api.read(&options, Query::PreparedQueries).await?;
    let QueryResult::PreparedQueries(found) = &read.value else {
        return Err(unexpected(&read.value));
    };
    let list: Vec<QueryJson> = found.iter().map(QueryJson::from_stored).collect();
    Ok(reply::read_json(&list, &read.meta, options.pretty))
}

#[derive(Serialize)]
struct Created {
    #[serde(rename = "ID")]
    id: String,
}

/// Everything under `/v1/query/`.
pub async fn item<B: Backend>(
    api: &Api<B>,
    rest: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    match Target::parse(&rest) {
        Target::One(id) => one(api, id, request).await,
        Target::Execute(id) => {
            refuse(&request, READ)?;
            execute(api, id, request).await
        }
        Target::Explain(id) => {
            refuse(&request, READ)?;
            explain(api, id, request).await
        }
    }
}

/// `GET`, `PUT` (update) and `DELETE` of `/v1/query/<id>`.
async fn one<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    refuse(&request, ONE)?;
    let options = api.options(&request)?;
    match request.method {
        Method::PUT => {
            let body = api.json_body(request).await?;
            let query = prepared_query::definition::parse(&body, &id)?;
            let command = Command::QuerySet(QuerySet {
                query,
                create: false,
            });
            api.write(options.datacenter.clone(), command).await?;
            Ok(reply::empty())
        }
        Method::DELETE => {
            api.write(options.datacenter.clone(), Command::QueryDelete(id))
                .await?;
            Ok(reply::empty())
        }
        _ => {
            // By id only: names and templates resolve for execute and explain.
            let read = api
                .read(
                    &options,
                    Query::PreparedQuery {
                        id_or_name: id.clone(),
                    },
                )
                .await?;
            let QueryResult::PreparedQueries(found) = &read.value else {
                return Err(unexpected(&read.value));
            };
            let found: Vec<QueryJson> = found
                .iter()
                .filter(|query| query.id == id)
                .map(QueryJson::from_stored)
                .collect();
            if found.is_empty() {
                return Err(ApiError::NotFound(NOT_FOUND.into()));
            }
            Ok(reply::read_json(&found, &read.meta, options.pretty))
        }
    }
}

fn execute_error(error: ExecuteError) -> ApiError {
    match error {
        ExecuteError::NotFound => ApiError::NotFound(NOT_FOUND.into()),
        ExecuteError::Render(text) => ApiError::BadRequest(text),
        ExecuteError::Backend(error) => ApiError::Backend(error),
    }
}

/// `GET /v1/query/<id or name>/execute[?near=&limit=]`.
async fn execute<B: Backend>(
    api: &Api<B>,
    id_or_name: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let limit = match request.params.non_empty("limit") {
        None => None,
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            ApiError::BadRequest(format!(
                "Bad limit: strconv.Atoi: parsing {text:?}: invalid syntax"
            ))
        })?),
    };
    let info = api.info();
    let execution = Execution {
        id_or_name,
        datacenter: crate::options::remote_datacenter(
            options.datacenter.as_ref(),
            &info.datacenter,
        ),
        consistency: options.consistency,
        near: options.near.clone(),
        limit: limit.filter(|limit| *limit > 0),
        agent_node: info.node_name.clone(),
        source_ip: forwarded_for(&request).or(request.peer),
    };
    let executed = prepared_query::execute(&*api.backend, &execution)
        .await
        .map_err(execute_error)?;
    // Answers from another datacenter (asked for, or failed over to) are translated.
    let translate =
        api.config.translate_wan_addrs && executed.datacenter != info.datacenter.as_str();
    let answer = ExecuteAnswer {
        service: executed.query.definition.service.service.clone(),
        nodes: executed
            .nodes
            .iter()
            .map(|instance| {
                let mut instance = instance.clone();
                if translate {
                    crate::translate::instance(&mut instance);
                }
                ServiceEntry::from_instance(&instance, &executed.datacenter)
            })
            .collect(),
        dns: Dns {
            ttl: executed.query.definition.dns.ttl.clone(),
        },
        datacenter: executed.datacenter,
        failovers: executed.failovers,
    };
    Ok(crate::translate::mark(
        api,
        reply::json(&answer, options.pretty),
    ))
}

/// The client's address as a proxy in front reports it, for `Near: "_ip"` (else the
/// connection's own peer address is used).
fn forwarded_for(request: &Incoming) -> Option<IpAddr> {
    let header = request.headers.get("X-Forwarded-For")?.to_str().ok()?;
    header.split(',').next()?.trim().parse().ok()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExecuteAnswer {
    service: String,
    nodes: Vec<ServiceEntry>,
    #[serde(rename = "DNS")]
    dns: Dns,
    datacenter: String,
    failovers: usize,
}

#[derive(Serialize)]
struct Dns {
    #[serde(rename = "TTL")]
    ttl: String,
}

/// `GET /v1/query/<name>/explain`: the query as it would run for that name.
async fn explain<B: Backend>(
    api: &Api<B>,
    id_or_name: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let datacenter =
        crate::options::remote_datacenter(options.datacenter.as_ref(), &api.info().datacenter);
    let (stored, definition) =
        prepared_query::resolve(&*api.backend, datacenter, options.consistency, &id_or_name)
            .await
            .map_err(execute_error)?;
    let mut query = QueryJson::from_stored(&stored);
    query.definition = definition;
    Ok(reply::json(&Explained { query }, options.pretty))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Explained {
    query: QueryJson,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_query_name_their_target() {
        assert_eq!(Target::parse("abc"), Target::One("abc".into()));
        assert_eq!(Target::parse("web/execute"), Target::Execute("web".into()));
        assert_eq!(
            Target::parse("geo-db/explain"),
            Target::Explain("geo-db".into())
        );
    }
}
