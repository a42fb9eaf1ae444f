//! `legate watch -type TYPE [type flags] [handler...]`: watches a view through blocking
//! queries, as `consul watch` does.
//!
//! Without a handler it prints the current result as indented JSON and exits. With one it
//! runs the handler with the JSON on stdin (and `CONSUL_INDEX` set) now and on every change,
//! until interrupted; a handler that fails stops the watch with exit code 1. The handler's
//! words are joined and run by the shell unless `-shell=false`.
//!
//! The flags become the same parameter map a config file's watch is (`watch::spec`), so both
//! refuse the same mistakes with the same texts.

use super::{call_failed, HttpFlags, Outcome};
use crate::watch::handler::{self, HandlerError, OutputTo};
use crate::watch::spec::{self, Handler};
use crate::watch::watcher::Watcher;
use clap::Args;
use serde_json::{Map, Value};

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Specifies the watch type. One of key, keyprefix, services, nodes, service, checks, or
    /// event.
    #[arg(long = "type", default_value = "")]
    kind: String,
    /// Specifies the key to watch. Only for 'key' type.
    #[arg(long, default_value = "")]
    key: String,
    /// Specifies the key prefix to watch. Only for 'keyprefix' type.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Specifies the service to watch. Required for 'service' type, optional for 'checks'.
    #[arg(long, default_value = "")]
    service: String,
    /// Specifies the service tag to filter on. Optional for 'service' type.
    #[arg(long, default_value = "")]
    tag: String,
    /// Specifies if only hosts passing all checks are displayed (true or false). Optional
    /// for 'service' type.
    #[arg(long, default_value = "")]
    passingonly: String,
    /// Specifies the states to watch. Optional for 'checks' type.
    #[arg(long, default_value = "")]
    state: String,
    /// Specifies an event name to watch. Only for 'event' type.
    #[arg(long, default_value = "")]
    name: String,
    /// Use a shell to run the handler (a custom one via the SHELL environment variable).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    shell: bool,
    /// The handler and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    handler: Vec<String>,
}

const USAGE: &str = "Usage: legate watch [options] [child...]\n\n  \
    Watches for changes in a given data view from Consul. If a child process\n  \
    is specified, it will be invoked with the latest results on changes. Otherwise,\n  \
    the latest values are dumped to stdout and the watch terminates.\n\n  \
    Providing the watch type is required, and other parameters may be required\n  \
    or supported depending on the watch type.";

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {text:?}: invalid syntax"
        )),
    }
}

/// The watch parameters the flags give, as Consul's command builds them.
fn params(args: &WatchArgs) -> Result<Map<String, Value>, String> {
    if args.kind.is_empty() {
        return Err(format!("Watch type must be specified\n\n{USAGE}"));
    }
    let mut params = Map::new();
    let mut text = |key: &str, value: &str| {
        if !value.is_empty() {
            params.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    };
    text("type", &args.kind);
    text(
        "datacenter",
        args.http.datacenter.as_deref().unwrap_or_default(),
    );
    text("token", args.http.token.as_deref().unwrap_or_default());
    text("key", &args.key);
    text("prefix", &args.prefix);
    text("service", &args.service);
    text("tag", &args.tag);
    text("state", &args.state);
    text("name", &args.name);
    if args.http.stale {
        params.insert("stale".to_owned(), Value::Bool(true));
    }
    if !args.passingonly.is_empty() {
        let passing = parse_bool(&args.passingonly)
            .map_err(|error| format!("Failed to parse passingonly flag: {error}"))?;
        params.insert("passingonly".to_owned(), Value::Bool(passing));
    }
    Ok(params)
}

fn base_url(http: &HttpFlags) -> String {
    let base = if http.http_addr.contains("://") {
        http.http_addr.clone()
    } else {
        format!("http://{}", http.http_addr)
    };
    base.trim_end_matches('/').to_owned()
}

/// Completes on SIGINT or SIGTERM: the watch then ends, successfully, as Consul's does.
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub async fn run(args: WatchArgs) -> Outcome {
    let query = match params(&args).and_then(spec::parse_command) {
        Ok(query) => query,
        Err(message) => return Outcome::fail(message),
    };
    if let Err(error) = args.http.client().agent_self().await {
        return call_failed("querying Consul agent", error);
    }
    let handler = match (args.handler.is_empty(), args.shell) {
        (true, _) => None,
        (false, true) => Some(Handler::Shell(args.handler.join(" "))),
        (false, false) => Some(Handler::Args(args.handler.clone())),
    };
    let kind = args.kind.clone();
    let mut watcher = Watcher::new(query, &base_url(&args.http));
    let watch = async {
        loop {
            let answer = match watcher.next().await {
                Ok(answer) => answer,
                Err(failed) => {
                    eprintln!(
                        "[ERROR] watch: Watch errored: type={kind} error=\"{}\" retry={:?}",
                        failed.error, failed.retry
                    );
                    tokio::time::sleep(failed.retry).await;
                    continue;
                }
            };
            let Some(handler) = &handler else {
                return Outcome::ok(answer.pretty);
            };
            match handler::run(handler, answer.index, &answer.result, OutputTo::Inherit).await {
                Ok(_) => {}
                Err(HandlerError::Start(error)) => {
                    return Outcome::fail(format!("Error starting handler: {error}"))
                }
                Err(error) => return Outcome::fail(format!("Error executing handler: {error}")),
            }
        }
    };
    tokio::select! {
        outcome = watch => outcome,
        () = interrupted() => Outcome::ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: WatchArgs,
    }

    fn parse(args: &[&str]) -> WatchArgs {
        Wrapper::parse_from(std::iter::once("watch").chain(args.iter().copied())).args
    }

    #[test]
    fn flags_become_watch_parameters() {
        let args = parse(&["--type=key", "--key=a/b", "--stale", "cat", "-n", "--x"]);
        assert_eq!(
            args.handler,
            ["cat", "-n", "--x"],
            "the handler keeps its flags"
        );
        assert!(args.shell);
        let query = spec::parse_command(params(&args).unwrap()).unwrap();
        assert_eq!(query.kind, spec::WatchKind::Key { key: "a/b".into() });
        assert!(query.stale);
        assert!(!parse(&["--type=nodes", "--shell=false", "h"]).shell);
        assert!(parse(&["--type=nodes", "--shell", "h"]).shell);

        let service = parse(&["--type=service", "--service=web", "--passingonly=true"]);
        let query = spec::parse_command(params(&service).unwrap()).unwrap();
        assert_eq!(
            query.kind,
            spec::WatchKind::Service {
                service: "web".into(),
                tags: vec![],
                passing_only: true
            }
        );
        assert!(params(&parse(&[]))
            .unwrap_err()
            .starts_with("Watch type must be specified\n\nUsage:"));
        assert_eq!(
            params(&parse(&["--type=service", "--passingonly=maybe"])).unwrap_err(),
            "Failed to parse passingonly flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(
            spec::parse_command(params(&parse(&["--type=nodes", "--key=k"])).unwrap()).unwrap_err(),
            "Invalid parameters: [key]"
        );
    }
}
