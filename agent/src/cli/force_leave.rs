//! `legate force-leave [-prune] [-wan] NODE`: moves a failed member to `left` (or drops it
//! with `-prune`), printing nothing on success as `consul force-leave` does.

use super::{HttpFlags, Outcome};
use clap::Args;

#[derive(Debug, Args)]
pub struct ForceLeaveArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Remove the member from the member list at once instead of waiting for the reaper.
    #[arg(long)]
    prune: bool,
    /// Act on the WAN pool (the member is named `node.dc` there).
    #[arg(long)]
    wan: bool,
    /// The member's name.
    nodes: Vec<String>,
}

pub async fn run(args: ForceLeaveArgs) -> Outcome {
    let [node] = args.nodes.as_slice() else {
        return Outcome::fail(
            "A single node name must be specified to force leave.\n\n\
             Usage: legate force-leave [options] name"
                .to_owned(),
        );
    };
    match args
        .http
        .client()
        .force_leave(node, args.prune, args.wan)
        .await
    {
        Ok(()) => Outcome::ok(String::new()),
        Err(error) => Outcome::fail(format!("Error force leaving: {error}")),
    }
}
