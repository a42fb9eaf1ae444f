//! `legate event -name NAME [-node RE] [-service RE] [-tag RE] [PAYLOAD]`: fires a user event
//! through the agent, printing what `consul event` prints (`Event ID: <id>`).
//!
//! The checks come before any call, in Consul's order and with its words; the filters are
//! compiled here too, so a typo fails fast with the flag's name.

use super::{call_failed, HttpFlags, Outcome};
use clap::Args;
use legate_api::backend::event::FireRequest;
use regex::Regex;

#[derive(Debug, Args)]
pub struct EventArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Name of the event.
    #[arg(long, default_value = "")]
    name: String,
    /// Regular expression to filter on node names.
    #[arg(long, default_value = "")]
    node: String,
    /// Regular expression to filter on service instances.
    #[arg(long, default_value = "")]
    service: String,
    /// Regular expression to filter on service tags. Must be used with -service.
    #[arg(long, default_value = "")]
    tag: String,
    /// The payload (optional).
    payload: Vec<String>,
}

const USAGE: &str = "Usage: legate event [options] [payload]\n\n  \
    Dispatches a custom user event across a datacenter. An event must provide\n  \
    a name, but a payload is optional. Events support filtering using\n  \
    regular expressions on node name, service, and tag definitions.";

/// The request the flags ask for, or Consul's complaint.
fn request(args: &EventArgs) -> Result<FireRequest, String> {
    if args.name.is_empty() {
        return Err(format!("Event name must be specified\n\n{USAGE}"));
    }
    for (pattern, what) in [
        (&args.node, "node"),
        (&args.service, "service"),
        (&args.tag, "tag"),
    ] {
        if !pattern.is_empty() {
            if let Err(error) = Regex::new(pattern) {
                return Err(format!("Failed to compile {what} filter regexp: {error}"));
            }
        }
    }
    if !args.tag.is_empty() && args.service.is_empty() {
        return Err("Cannot provide tag filter without service filter.".to_owned());
    }
    let payload = match args.payload.as_slice() {
        [] => None,
        [payload] => Some(payload.as_bytes().to_vec()),
        _ => return Err(format!("Too many command line arguments.\n\n{USAGE}")),
    };
    Ok(FireRequest {
        name: args.name.clone(),
        payload,
        node_filter: args.node.clone(),
        service_filter: args.service.clone(),
        tag_filter: args.tag.clone(),
    })
}

pub async fn run(args: EventArgs) -> Outcome {
    let request = match request(&args) {
        Ok(request) => request,
        Err(message) => return Outcome::fail(message),
    };
    let client = args.http.client();
    // Consul's command asks for the agent's name first, so an unreachable agent is reported
    // as such rather than as a failed fire.
    if let Err(error) = client.agent_self().await {
        return call_failed("querying Consul agent", error);
    }
    match client
        .event_fire(&request, args.http.datacenter.as_deref())
        .await
    {
        Ok(event) => Outcome::ok(format!("Event ID: {}\n", event.id)),
        Err(error) => call_failed("firing event", error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: EventArgs,
    }

    fn parse(args: &[&str]) -> EventArgs {
        Wrapper::parse_from(std::iter::once("event").chain(args.iter().copied())).args
    }

    #[test]
    fn flags_are_checked_in_consuls_order_and_words() {
        let message = |args: &[&str]| request(&parse(args)).unwrap_err();
        assert!(message(&[]).starts_with("Event name must be specified\n\nUsage:"));
        assert!(message(&["--name=x", "--node=("])
            .starts_with("Failed to compile node filter regexp: "));
        assert_eq!(
            message(&["--name=x", "--tag=v1"]),
            "Cannot provide tag filter without service filter."
        );
        assert!(message(&["--name=x", "a", "b"]).starts_with("Too many command line arguments."));
        let fired = request(&parse(&[
            "--name=deploy",
            "--service=web",
            "--tag=v1",
            "42",
        ]))
        .unwrap();
        assert_eq!(fired.payload.as_deref(), Some(&b"42"[..]));
        assert_eq!(
            (fired.service_filter.as_str(), fired.tag_filter.as_str()),
            ("web", "v1")
        );
        assert_eq!(request(&parse(&["--name=bare"])).unwrap().payload, None);
    }
}
