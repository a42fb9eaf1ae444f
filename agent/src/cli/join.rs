//! `legate join [-wan] ADDRESS...`: asks the agent to join a pool through each address,
//! printing what `consul join` prints.

use super::{HttpFlags, Outcome};
use clap::Args;
use legate_api::client::ClientError;

#[derive(Debug, Args)]
pub struct JoinArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Join the WAN pool (servers only).
    #[arg(long)]
    wan: bool,
    /// Addresses of existing members (`host` or `host:port`).
    addresses: Vec<String>,
}

/// The outcome of joining through each address in turn: one error line per failure, and
/// success when any address worked, as Consul's command decides.
pub fn outcome(attempts: &[(String, Result<(), ClientError>)]) -> Outcome {
    let mut errors: Vec<String> = attempts
        .iter()
        .filter_map(|(address, result)| {
            result
                .as_ref()
                .err()
                .map(|error| format!("Error joining address '{address}': {error}"))
        })
        .collect();
    let joined = attempts.len() - errors.len();
    if joined == 0 {
        errors.push("Failed to join any nodes.".to_owned());
        return Outcome::fail(errors.join("\n"));
    }
    Outcome {
        stdout: format!("Successfully joined cluster by contacting {joined} nodes.\n"),
        stderr: errors.join("\n"),
        code: 0,
    }
}

pub async fn run(args: JoinArgs) -> Outcome {
    if args.addresses.is_empty() {
        return Outcome::fail(
            "At least one address to join must be specified.\n\n\
             Usage: legate join [options] address ..."
                .to_owned(),
        );
    }
    let client = args.http.client();
    let mut attempts = Vec::with_capacity(args.addresses.len());
    for address in args.addresses {
        let result = client.join(&address, args.wan).await;
        attempts.push((address, result));
    }
    outcome(&attempts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Result<(), ClientError> {
        Err(ClientError::Status {
            status: 500,
            body: "no route".into(),
        })
    }

    #[test]
    fn counts_successes_and_reports_each_failure() {
        let partly = outcome(&[("a".into(), Ok(())), ("b".into(), refused())]);
        assert_eq!(partly.code, 0);
        assert_eq!(
            partly.stdout,
            "Successfully joined cluster by contacting 1 nodes.\n"
        );
        assert_eq!(
            partly.stderr,
            "Error joining address 'b': Unexpected response code: 500 (no route)"
        );
        let none = outcome(&[("b".into(), refused())]);
        assert_eq!(none.code, 1);
        assert!(none.stderr.ends_with("\nFailed to join any nodes."));
    }
}
