//! `legate members`, printing the table `consul members` prints.

use super::{call_failed, table, HttpFlags, Outcome};
use clap::Args;

#[derive(Debug, Args)]
pub struct MembersArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// List the WAN pool (servers of every datacenter).
    #[arg(long)]
    wan: bool,
    /// Show every tag.
    #[arg(long)]
    detailed: bool,
}

/// Serf's status numbers as `consul members` names them.
fn status_name(status: u8) -> &'static str {
    match status {
        1 => "alive",
        2 => "leaving",
        3 => "left",
        4 => "failed",
        _ => "none",
    }
}

pub async fn run(args: MembersArgs) -> Outcome {
    let members = match args.http.client().agent_members(args.wan).await {
        Ok(members) => members,
        Err(error) => return call_failed("retrieving members", error),
    };
    let mut rows = vec![if args.detailed {
        ["Node", "Address", "Status", "Tags"]
            .map(String::from)
            .to_vec()
    } else {
        [
            "Node",
            "Address",
            "Status",
            "Type",
            "Build",
            "Protocol",
            "DC",
            "Partition",
            "Segment",
        ]
        .map(String::from)
        .to_vec()
    }];
    for member in &members {
        let tag = |key: &str| member.tags.get(key).cloned().unwrap_or_default();
        let address = format!("{}:{}", member.addr, member.port);
        let status = status_name(member.status).to_owned();
        if args.detailed {
            let tags = member
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            rows.push(vec![member.name.clone(), address, status, tags]);
            continue;
        }
        let server = tag("role") == "consul";
        let build = tag("build");
        let build = build.split(':').next().unwrap_or_default().to_owned();
        rows.push(vec![
            member.name.clone(),
            address,
            status,
            if server { "server" } else { "client" }.to_owned(),
            build,
            tag("vsn"),
            tag("dc"),
            "default".to_owned(),
            if server {
                "<all>".to_owned()
            } else {
                tag("segment")
            },
        ]);
    }
    Outcome::ok(table::render(&rows))
}
