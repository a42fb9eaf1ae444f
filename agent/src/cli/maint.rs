//! `legate maint`: put the node or one service in or out of maintenance, or list what is in
//! maintenance, printing what `consul maint` prints.
//!
//! Maintenance is a critical check the agent registers (`_node_maintenance`,
//! `_service_maintenance:<id>`) with the reason as its notes, so listing reads the agent's
//! checks rather than a dedicated endpoint, as Consul's command does.

use super::{call_failed, HttpFlags, Outcome};
use clap::Args;
use legate_api::types::HealthCheck;
use std::collections::BTreeMap;

const NODE_CHECK: &str = "_node_maintenance";
const SERVICE_CHECK_PREFIX: &str = "_service_maintenance:";

#[derive(Debug, Args)]
pub struct MaintArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Enable maintenance mode.
    #[arg(long)]
    enable: bool,
    /// Disable maintenance mode.
    #[arg(long)]
    disable: bool,
    /// Text describing the maintenance reason (with -enable).
    #[arg(long, default_value = "")]
    reason: String,
    /// Act on this service ID instead of the whole node.
    #[arg(long = "service", default_value = "")]
    service_id: String,
}

/// What the flags ask for, decided once before any call.
enum Action {
    List,
    Node { enable: bool },
    Service { enable: bool },
}

/// Consul's flag checks, in its order and with its words.
fn action(args: &MaintArgs) -> Result<Action, &'static str> {
    if args.enable && args.disable {
        return Err("Only one of -enable or -disable may be provided");
    }
    if !args.enable && !args.reason.is_empty() {
        return Err("Reason may only be provided with -enable");
    }
    if !args.enable && !args.disable {
        if !args.service_id.is_empty() {
            return Err("Service requires either -enable or -disable");
        }
        return Ok(Action::List);
    }
    if args.service_id.is_empty() {
        Ok(Action::Node {
            enable: args.enable,
        })
    } else {
        Ok(Action::Service {
            enable: args.enable,
        })
    }
}

pub async fn run(args: MaintArgs) -> Outcome {
    let action = match action(&args) {
        Ok(action) => action,
        Err(message) => return Outcome::fail(message.to_owned()),
    };
    let client = args.http.client();
    let verb = |enable: bool| if enable { "enabling" } else { "disabling" };
    let state = |enable: bool| if enable { "enabled" } else { "disabled" };
    match action {
        Action::List => list(&args.http).await,
        Action::Node { enable } => {
            match client.agent_node_maintenance(enable, &args.reason).await {
                Ok(()) => Outcome::ok(format!("Node maintenance is now {}\n", state(enable))),
                Err(error) => call_failed(&format!("{} node maintenance", verb(enable)), error),
            }
        }
        Action::Service { enable } => {
            let id = &args.service_id;
            match client
                .agent_service_maintenance(id, enable, &args.reason)
                .await
            {
                Ok(()) => Outcome::ok(format!(
                    "Service maintenance is now {} for {id:?}\n",
                    state(enable)
                )),
                Err(error) => call_failed(&format!("{} service maintenance", verb(enable)), error),
            }
        }
    }
}

async fn list(http: &HttpFlags) -> Outcome {
    let client = http.client();
    let node = match client.agent_self().await {
        Ok(info) => info.config.node_name,
        Err(error) => return call_failed("querying Consul agent", error),
    };
    match client.agent_checks().await {
        Ok(checks) => Outcome::ok(render(&node, &checks)),
        Err(error) => call_failed("getting checks", error),
    }
}

/// The listing, node first then services by ID (Consul's order is Go's random map order;
/// a sorted one is as valid and stable for scripts and tests). Each entry ends with a
/// blank line, as Consul prints it.
fn render(node: &str, checks: &BTreeMap<String, HealthCheck>) -> String {
    let mut out = String::new();
    for check in checks.values() {
        if check.check_id == NODE_CHECK {
            out.push_str(&format!(
                "Node:\n  Name:   {node}\n  Reason: {}\n\n",
                check.notes
            ));
        } else if check.check_id.starts_with(SERVICE_CHECK_PREFIX) {
            out.push_str(&format!(
                "Service:\n  ID:     {}\n  Reason: {}\n\n",
                check.service_id, check.notes
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, service_id: &str, notes: &str) -> (String, HealthCheck) {
        let check = HealthCheck {
            check_id: id.into(),
            service_id: service_id.into(),
            notes: notes.into(),
            ..HealthCheck::default()
        };
        (id.to_owned(), check)
    }

    #[test]
    fn listing_shows_only_maintenance_checks() {
        let checks = BTreeMap::from([
            check("_service_maintenance:web", "web", "deploy"),
            check("serfHealth", "", ""),
            check("_node_maintenance", "", "kernel"),
        ]);
        assert_eq!(
            render("n1", &checks),
            "Node:\n  Name:   n1\n  Reason: kernel\n\n\
             Service:\n  ID:     web\n  Reason: deploy\n\n"
        );
        assert_eq!(render("n1", &BTreeMap::new()), "");
    }
}
