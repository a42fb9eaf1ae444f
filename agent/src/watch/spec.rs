//! What a watch is: its parameters, parsed once into typed values, with Consul's texts for
//! every mistake (`api/watch/watch.go`, `api/watch/funcs.go`, and `agent/agent.go` for the
//! `watches` of agent config files).
//!
//! Both `legate watch` and config files describe a watch as a map of parameters, as Consul
//! does: the command builds it from its flags, a file holds it as JSON. Parsing takes the
//! keys it knows and refuses the map if any are left over.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a watch reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchKind {
    /// One KV entry (`null` while absent).
    Key { key: String },
    /// Every KV entry under a prefix.
    KeyPrefix { prefix: String },
    /// The catalog's services and their tags.
    Services,
    /// The catalog's nodes.
    Nodes,
    /// The healthy-or-not instances of one service, as `/v1/health/service` lists them.
    Service {
        service: String,
        tags: Vec<String>,
        passing_only: bool,
    },
    /// Health checks, of one service or in one state (`any` when neither is given).
    Checks(ChecksOf),
    /// User events, of one name or of every name.
    Event { name: String },
}

/// Which checks a `checks` watch reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChecksOf {
    Service(String),
    State(String),
}

/// A watch's query: its kind and the options of its reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchQuery {
    pub kind: WatchKind,
    pub datacenter: Option<String>,
    pub token: Option<String>,
    /// `stale`: any server may answer (ignored by `event` watches, as in Consul).
    pub stale: bool,
}

/// What runs when a watch fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handler {
    /// `"handler": "cmd"` (deprecated in Consul) or `legate watch ... cmd` with `-shell`:
    /// the text is run by `$SHELL -c` (`/bin/sh` without `SHELL`).
    Shell(String),
    /// `"args": [...]`, or `legate watch -shell=false ...`: run without a shell.
    Args(Vec<String>),
    /// `"handler_type": "http"`: the JSON is sent to a URL.
    Http(HttpHandler),
}

/// `http_handler_config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpHandler {
    pub path: String,
    /// `POST` unless given.
    pub method: String,
    /// Ten seconds unless given.
    pub timeout: Duration,
    pub header: BTreeMap<String, Vec<String>>,
    pub tls_skip_verify: bool,
}

/// A watch from an agent config file: a query and its handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchDefinition {
    pub query: WatchQuery,
    pub handler: Handler,
}

/// Consul's default timeout of an HTTP handler.
const HTTP_HANDLER_TIMEOUT: Duration = Duration::from_secs(10);

fn take_string(params: &mut Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match params.remove(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("Expecting {name} to be a string")),
    }
}

fn take_bool(params: &mut Map<String, Value>, name: &str) -> Result<bool, String> {
    match params.remove(name) {
        None => Ok(false),
        Some(Value::Bool(value)) => Ok(value),
        Some(_) => Err(format!("Expecting {name} to be a boolean")),
    }
}

fn take_strings(params: &mut Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    match params.remove(name) {
        None => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text]),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(at, item)| match item {
                Value::String(text) => Ok(text),
                _ => Err(format!("Index {at} of {name} expected to be string")),
            })
            .collect(),
        Some(_) => Err(format!("Expecting {name} to be a string or []string")),
    }
}

fn required(value: Option<String>, what: &str) -> Result<String, String> {
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| format!("Must specify a single {what} to watch"))
}

/// Parses the watch's own keys out of `params` (Consul's `watch.ParseExempt`): `type`,
/// `datacenter`, `token`, `stale` and the type's keys. `handler_type` and
/// `http_handler_config` are taken too when present; what is left is for the caller.
fn parse_query(params: &mut Map<String, Value>) -> Result<WatchQuery, String> {
    let datacenter = take_string(params, "datacenter")?.filter(|dc| !dc.is_empty());
    let token = take_string(params, "token")?.filter(|token| !token.is_empty());
    let kind_name = take_string(params, "type")?.unwrap_or_default();
    if kind_name.is_empty() {
        return Err("Watch type must be specified".to_owned());
    }
    // Every type but `event` takes `stale`; Consul reads it first.
    let stale = if kind_name == "event" {
        false
    } else {
        take_bool(params, "stale")?
    };
    let kind = match kind_name.as_str() {
        "key" => WatchKind::Key {
            key: required(take_string(params, "key")?, "key")?,
        },
        "keyprefix" => WatchKind::KeyPrefix {
            prefix: required(take_string(params, "prefix")?, "prefix")?,
        },
        "services" => WatchKind::Services,
        "nodes" => WatchKind::Nodes,
        "service" => {
            let service = required(take_string(params, "service")?, "service")?;
            let tags = take_strings(params, "tag")?;
            let passing_only = take_bool(params, "passingonly")?;
            WatchKind::Service {
                service,
                tags,
                passing_only,
            }
        }
        "checks" => {
            let service = take_string(params, "service")?.unwrap_or_default();
            let state = take_string(params, "state")?.unwrap_or_default();
            // Consul takes `tag` too, but only as a filter on states no server applies.
            take_strings(params, "tag")?;
            match (service.is_empty(), state.is_empty()) {
                (false, false) => return Err("Cannot specify service and state".to_owned()),
                (false, true) => WatchKind::Checks(ChecksOf::Service(service)),
                (true, false) => WatchKind::Checks(ChecksOf::State(state)),
                (true, true) => WatchKind::Checks(ChecksOf::State("any".to_owned())),
            }
        }
        "event" => WatchKind::Event {
            name: take_string(params, "name")?.unwrap_or_default(),
        },
        other => return Err(format!("Unsupported watch type: {other}")),
    };
    Ok(WatchQuery {
        kind,
        datacenter,
        token,
        stale,
    })
}

/// Refuses what parsing left over, naming the keys in order.
fn no_leftovers(params: &Map<String, Value>) -> Result<(), String> {
    if params.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<&str> = params.keys().map(String::as_str).collect();
    keys.sort_unstable();
    Err(format!("Invalid parameters: [{}]", keys.join(" ")))
}

/// The parameters of `legate watch`, which has no handler keys.
pub fn parse_command(mut params: Map<String, Value>) -> Result<WatchQuery, String> {
    let query = parse_query(&mut params)?;
    no_leftovers(&params)?;
    Ok(query)
}

fn parse_http_handler(config: Value) -> Result<HttpHandler, String> {
    let Value::Object(mut config) = config else {
        return Err("expected a map".to_owned());
    };
    let path = take_string(&mut config, "path")?.unwrap_or_default();
    if path.is_empty() {
        return Err("Requires 'path' to be set".to_owned());
    }
    let method = take_string(&mut config, "method")?
        .filter(|method| !method.is_empty())
        .unwrap_or_else(|| "POST".to_owned());
    let timeout = match take_string(&mut config, "timeout")?.filter(|t| !t.is_empty()) {
        None => HTTP_HANDLER_TIMEOUT,
        Some(text) => legate_api::duration::parse_std(&text)
            .map_err(|error| format!("Failed to parse timeout: {error}"))?,
    };
    let mut header = BTreeMap::new();
    if let Some(value) = config.remove("header") {
        let Value::Object(entries) = value else {
            return Err("header must be a map".to_owned());
        };
        for (name, values) in entries {
            let mut single = Map::new();
            single.insert(name.clone(), values);
            header.insert(name.clone(), take_strings(&mut single, &name)?);
        }
    }
    let tls_skip_verify = take_bool(&mut config, "tls_skip_verify")?;
    Ok(HttpHandler {
        path,
        method,
        timeout,
        header,
        tls_skip_verify,
    })
}

/// A `watches` entry of an agent config file, with Consul's rules: `handler_type` is
/// `script` (the default) or `http`; a script watch has exactly one of `args` (a list of
/// strings) and the deprecated `handler` (a string); `connect_` types are refused.
pub fn parse_config(params: &Map<String, Value>) -> Result<WatchDefinition, String> {
    let shown = Value::Object(params.clone()).to_string();
    let mut params = params.clone();
    let handler_type = match params.remove("handler_type") {
        None => "script".to_owned(),
        Some(Value::String(kind)) if kind == "script" || kind == "http" => kind,
        Some(Value::String(kind)) => return Err(format!("Handler type '{kind}' not recognized")),
        Some(other) => return Err(format!("Handler type '{other}' not recognized")),
    };
    if let Some(Value::String(kind)) = params.get("type") {
        if kind.starts_with("connect_") {
            return Err(format!("Watch type {kind} is not allowed in agent config"));
        }
    }
    let failed = |error: String| format!("Failed to parse watch ({shown}): {error}");
    let http = if handler_type == "http" {
        let config = params.remove("http_handler_config").ok_or_else(|| {
            failed("Handler type 'http' requires 'http_handler_config' to be set".to_owned())
        })?;
        let http = parse_http_handler(config)
            .map_err(|error| failed(format!("Failed to parse 'http_handler_config': {error}")))?;
        Some(http)
    } else {
        None
    };
    let handler = params.remove("handler");
    let args = params.remove("args");
    let query = parse_query(&mut params)
        .and_then(|query| no_leftovers(&params).map(|()| query))
        .map_err(failed)?;
    let handler = match (handler, args, http) {
        (Some(_), Some(_), _) | (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => {
            return Err("Only one watch handler allowed".to_owned())
        }
        (Some(Value::String(command)), None, None) => Handler::Shell(command),
        (Some(_), None, None) => return Err("Watch handler must be a string".to_owned()),
        (None, Some(args), None) => {
            let mut single = Map::new();
            single.insert("args".to_owned(), args);
            let args = take_strings(&mut single, "args")
                .map_err(|_| "Watch args must be a list of strings".to_owned())?;
            Handler::Args(args)
        }
        (None, None, Some(http)) => Handler::Http(http),
        (None, None, None) => return Err("Must define a watch handler".to_owned()),
    };
    Ok(WatchDefinition { query, handler })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn command(value: Value) -> Result<WatchQuery, String> {
        parse_command(map(value))
    }

    #[test]
    fn each_type_takes_its_parameters() {
        let key = command(json!({"type": "key", "key": "a/b", "stale": true, "datacenter": "dc2"}))
            .unwrap();
        assert_eq!(key.kind, WatchKind::Key { key: "a/b".into() });
        assert!(key.stale);
        assert_eq!(key.datacenter.as_deref(), Some("dc2"));
        assert_eq!(
            command(
                json!({"type": "service", "service": "web", "tag": ["a", "b"], "passingonly": true})
            )
            .unwrap()
            .kind,
            WatchKind::Service {
                service: "web".into(),
                tags: vec!["a".into(), "b".into()],
                passing_only: true
            }
        );
        assert_eq!(
            command(json!({"type": "checks"})).unwrap().kind,
            WatchKind::Checks(ChecksOf::State("any".into()))
        );
        assert_eq!(
            command(json!({"type": "checks", "service": "web"}))
                .unwrap()
                .kind,
            WatchKind::Checks(ChecksOf::Service("web".into()))
        );
        assert_eq!(
            command(json!({"type": "event"})).unwrap().kind,
            WatchKind::Event {
                name: String::new()
            }
        );
        for kind in ["services", "nodes"] {
            assert!(command(json!({ "type": kind })).is_ok(), "{kind}");
        }
    }

    #[test]
    fn mistakes_get_consuls_texts() {
        let error = |value: Value| command(value).unwrap_err();
        assert_eq!(error(json!({})), "Watch type must be specified");
        assert_eq!(
            error(json!({"type": "bogus"})),
            "Unsupported watch type: bogus"
        );
        assert_eq!(
            error(json!({"type": "key"})),
            "Must specify a single key to watch"
        );
        assert_eq!(
            error(json!({"type": "keyprefix"})),
            "Must specify a single prefix to watch"
        );
        assert_eq!(
            error(json!({"type": "service"})),
            "Must specify a single service to watch"
        );
        assert_eq!(
            error(json!({"type": "checks", "service": "a", "state": "passing"})),
            "Cannot specify service and state"
        );
        assert_eq!(
            error(json!({"type": "key", "key": 1})),
            "Expecting key to be a string"
        );
        assert_eq!(
            error(json!({"type": "nodes", "stale": "yes"})),
            "Expecting stale to be a boolean"
        );
        assert_eq!(
            error(json!({"type": "nodes", "key": "x", "bogus": 1})),
            "Invalid parameters: [bogus key]"
        );
        assert_eq!(
            error(json!({"type": "event", "stale": true})),
            "Invalid parameters: [stale]",
            "events take no stale"
        );
    }

    #[test]
    fn config_watches_need_exactly_one_handler() {
        let parse = |value: Value| parse_config(&map(value));
        let args = parse(json!({"type": "key", "key": "k", "handler_type": "script",
                                "args": ["/bin/h", "-x"]}))
        .unwrap();
        assert_eq!(
            args.handler,
            Handler::Args(vec!["/bin/h".into(), "-x".into()])
        );
        let legacy = parse(json!({"type": "key", "key": "k", "handler": "cat > /tmp/x"})).unwrap();
        assert_eq!(legacy.handler, Handler::Shell("cat > /tmp/x".into()));
        let http = parse(json!({"type": "nodes", "handler_type": "http",
            "http_handler_config": {"path": "http://h/x", "header": {"A": ["b"]}, "timeout": "2s"}}))
        .unwrap();
        assert_eq!(
            http.handler,
            Handler::Http(HttpHandler {
                path: "http://h/x".into(),
                method: "POST".into(),
                timeout: Duration::from_secs(2),
                header: BTreeMap::from([("A".into(), vec!["b".into()])]),
                tls_skip_verify: false,
            })
        );

        let error = |value: Value| parse(value).unwrap_err();
        assert_eq!(
            error(json!({"type": "key", "key": "k"})),
            "Must define a watch handler"
        );
        assert_eq!(
            error(json!({"type": "key", "key": "k", "handler": "a", "args": ["b"]})),
            "Only one watch handler allowed"
        );
        assert_eq!(
            error(json!({"type": "key", "key": "k", "handler": ["a"]})),
            "Watch handler must be a string"
        );
        assert_eq!(
            error(json!({"type": "key", "key": "k", "args": [1]})),
            "Watch args must be a list of strings"
        );
        assert_eq!(
            error(json!({"type": "key", "key": "k", "handler_type": "grpc", "args": ["a"]})),
            "Handler type 'grpc' not recognized"
        );
        assert_eq!(
            error(json!({"type": "connect_roots", "args": ["a"]})),
            "Watch type connect_roots is not allowed in agent config"
        );
        assert!(error(json!({"type": "nodes", "handler_type": "http"}))
            .ends_with("}): Handler type 'http' requires 'http_handler_config' to be set"));
        assert!(error(json!({"type": "nodes", "handler_type": "http",
                              "http_handler_config": {"method": "PUT"}}))
        .ends_with("}): Failed to parse 'http_handler_config': Requires 'path' to be set"));
        let unknown = error(json!({"type": "key", "args": ["a"]}));
        assert!(unknown.starts_with("Failed to parse watch ({"), "{unknown}");
        assert!(
            unknown.ends_with("}): Must specify a single key to watch"),
            "{unknown}"
        );
    }
}
