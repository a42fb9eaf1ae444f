//! `legate keyring -list|-install=KEY|-use=KEY|-remove=KEY [-relay-factor=N]`: the gossip
//! encryption keys of every ring, printing what `consul keyring` prints (`==> ` before
//! each step, then per ring `  <key> [<installed>/<members>]`).

use super::{HttpFlags, Outcome};
use clap::Args;
use legate_api::backend::MAX_RELAY_FACTOR;
use legate_api::client::KeyringOptions;
use legate_api::types::KeyringResponse;

#[derive(Debug, Args)]
pub struct KeyringArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// List the keys installed on every ring.
    #[arg(long)]
    list: bool,
    /// Install a new key on every member.
    #[arg(long, default_value = "")]
    install: String,
    /// Make an installed key the primary.
    #[arg(long = "use", default_value = "")]
    use_key: String,
    /// Remove a key that is not the primary.
    #[arg(long, default_value = "")]
    remove: String,
    /// Relay each answer through this many other members (0 to 5).
    #[arg(long = "relay-factor", default_value_t = 0)]
    relay_factor: i64,
}

/// The one action the flags ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    List,
    Install(String),
    Use(String),
    Remove(String),
}

const USAGE: &str = "Usage: legate keyring [options]\n\n  \
    Manages encryption keys used for gossip messages: -list, -install=KEY, -use=KEY or \
    -remove=KEY.";

/// Consul's checks: exactly one action, and a relay factor from 0 to 5.
pub fn action(args: &KeyringArgs) -> Result<(Action, u8), String> {
    let mut actions = Vec::new();
    if args.list {
        actions.push(Action::List);
    }
    for (key, build) in [
        (&args.install, Action::Install as fn(String) -> Action),
        (&args.use_key, Action::Use),
        (&args.remove, Action::Remove),
    ] {
        if !key.is_empty() {
            actions.push(build(key.clone()));
        }
    }
    if actions.len() > 1 {
        return Err("Only a single action is allowed".to_owned());
    }
    let Some(action) = actions.pop() else {
        return Err(USAGE.to_owned());
    };
    let relay = u8::try_from(args.relay_factor)
        .ok()
        .filter(|factor| *factor <= MAX_RELAY_FACTOR)
        .ok_or_else(|| {
            format!(
                "Error parsing relay factor: Relay factor must be in range: [0, \
                 {MAX_RELAY_FACTOR}]"
            )
        })?;
    Ok((action, relay))
}

/// The listing: per ring a blank line, its name and each key with its count. Keys are
/// sorted (Consul's order is Go's random map order).
pub fn render(rings: &[KeyringResponse]) -> String {
    let mut out = String::new();
    for ring in rings {
        let mut pool = format!("{} (LAN)", ring.datacenter);
        if !ring.segment.is_empty() {
            pool.push_str(&format!(" [{}]", ring.segment));
        }
        if ring.wan {
            pool = "WAN".to_owned();
        }
        out.push_str(&format!("\n{pool}:\n"));
        for (key, count) in &ring.keys {
            out.push_str(&format!("  {key} [{count}/{}]\n", ring.num_nodes));
        }
    }
    out
}

pub async fn run(args: KeyringArgs) -> Outcome {
    let (action, relay_factor) = match action(&args) {
        Ok(parsed) => parsed,
        Err(message) => return Outcome::fail(message),
    };
    let client = args.http.client();
    let options = KeyringOptions {
        relay_factor,
        local_only: false,
    };
    let (step, result) = match &action {
        Action::List => {
            let step = "==> Gathering installed encryption keys...\n";
            match client.keyring_list(options).await {
                Ok(rings) => return Outcome::ok(format!("{step}{}", render(&rings))),
                Err(error) => (step, Err(error)),
            }
        }
        Action::Install(key) => (
            "==> Installing new gossip encryption key...\n",
            client.keyring_install(key, options).await,
        ),
        Action::Use(key) => (
            "==> Changing primary gossip encryption key...\n",
            client.keyring_use(key, options).await,
        ),
        Action::Remove(key) => (
            "==> Removing gossip encryption key...\n",
            client.keyring_remove(key, options).await,
        ),
    };
    match result {
        Ok(()) => Outcome::ok(step.to_owned()),
        Err(error) => Outcome {
            stdout: step.to_owned(),
            stderr: format!("error: {error}"),
            code: 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::BTreeMap;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: KeyringArgs,
    }

    fn parse(flags: &[&str]) -> Result<(Action, u8), String> {
        let mut argv = vec!["keyring"];
        argv.extend_from_slice(flags);
        action(&Wrapper::parse_from(argv).args)
    }

    #[test]
    fn one_action_and_a_bounded_relay_factor() {
        assert_eq!(parse(&["--list"]), Ok((Action::List, 0)));
        assert_eq!(
            parse(&["--install=pUqJ+/==", "--relay-factor=5"]),
            Ok((Action::Install("pUqJ+/==".into()), 5))
        );
        assert_eq!(
            parse(&["--list", "--use=k"]),
            Err("Only a single action is allowed".into())
        );
        assert!(parse(&[]).unwrap_err().starts_with("Usage: legate keyring"));
        assert!(parse(&["--remove=k", "--relay-factor=6"])
            .unwrap_err()
            .contains("[0, 5]"));
    }

    #[test]
    fn listing_names_each_ring() {
        let ring = |wan: bool| KeyringResponse {
            wan,
            datacenter: "dc1".into(),
            keys: BTreeMap::from([("k1=".to_owned(), 3), ("k2=".to_owned(), 2)]),
            num_nodes: 3,
            ..KeyringResponse::default()
        };
        assert_eq!(
            render(&[ring(true), ring(false)]),
            "\nWAN:\n  k1= [3/3]\n  k2= [2/3]\n\ndc1 (LAN):\n  k1= [3/3]\n  k2= [2/3]\n"
        );
    }
}
