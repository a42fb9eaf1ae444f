//! `legate leave`: the agent leaves gracefully and shuts down, as `consul leave` asks.

use super::{HttpFlags, Outcome};
use clap::Args;

#[derive(Debug, Args)]
pub struct LeaveArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Consul's command takes no arguments and refuses any.
    #[arg(hide = true)]
    unexpected: Vec<String>,
}

pub async fn run(args: LeaveArgs) -> Outcome {
    if !args.unexpected.is_empty() {
        return Outcome::fail(format!(
            "Error found unexpected args: [{}]",
            args.unexpected.join(" ")
        ));
    }
    match args.http.client().leave().await {
        Ok(()) => Outcome::ok("Graceful leave complete\n".to_owned()),
        Err(error) => Outcome::fail(format!("Error leaving: {error}")),
    }
}
