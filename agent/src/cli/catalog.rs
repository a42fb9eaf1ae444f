//! `legate catalog services|nodes|datacenters`, printing what `consul catalog` prints.

use super::{call_failed, table, HttpFlags, Outcome};
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct CatalogCommand {
    #[command(subcommand)]
    pub op: CatalogOp,
}

#[derive(Debug, Subcommand)]
pub enum CatalogOp {
    /// List services.
    Services(ServicesArgs),
    /// List nodes.
    Nodes(NodesArgs),
    /// List datacenters.
    Datacenters(DatacentersArgs),
}

#[derive(Debug, Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Show each service's tags.
    #[arg(long)]
    tags: bool,
}

#[derive(Debug, Args)]
pub struct NodesArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Show full node ids and tagged addresses and meta.
    #[arg(long)]
    detailed: bool,
}

#[derive(Debug, Args)]
pub struct DatacentersArgs {
    #[command(flatten)]
    http: HttpFlags,
}

pub async fn run(command: CatalogCommand) -> Outcome {
    match command.op {
        CatalogOp::Services(args) => services(args).await,
        CatalogOp::Nodes(args) => nodes(args).await,
        CatalogOp::Datacenters(args) => datacenters(args).await,
    }
}

async fn services(args: ServicesArgs) -> Outcome {
    let answer = args
        .http
        .client()
        .catalog_services(&args.http.query())
        .await;
    let services = match answer {
        Ok((services, _)) => services,
        Err(error) => return call_failed("listing services", error),
    };
    if !args.tags {
        return Outcome::ok(services.keys().map(|name| format!("{name}\n")).collect());
    }
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|(name, tags)| vec![name.clone(), tags.join(",")])
        .collect();
    Outcome::ok(table::render(&rows))
}

async fn nodes(args: NodesArgs) -> Outcome {
    let answer = args.http.client().catalog_nodes(&args.http.query()).await;
    let nodes = match answer {
        Ok((nodes, _)) => nodes,
        Err(error) => return call_failed("listing nodes", error),
    };
    let mut rows = vec![["Node", "ID", "Address", "DC"].map(String::from).to_vec()];
    if args.detailed {
        rows[0].extend(["TaggedAddresses", "Meta"].map(String::from));
    }
    for node in &nodes {
        let id = if args.detailed {
            node.id.clone()
        } else {
            node.id.chars().take(8).collect()
        };
        let mut row = vec![
            node.node.clone(),
            id,
            node.address.clone(),
            node.datacenter.clone(),
        ];
        if args.detailed {
            let pairs = |map: &std::collections::BTreeMap<String, String>| {
                map.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            row.push(pairs(&node.tagged_addresses));
            row.push(pairs(&node.meta));
        }
        rows.push(row);
    }
    Outcome::ok(table::render(&rows))
}

async fn datacenters(args: DatacentersArgs) -> Outcome {
    match args.http.client().catalog_datacenters().await {
        Ok(names) => Outcome::ok(names.iter().map(|dc| format!("{dc}\n")).collect()),
        Err(error) => call_failed("listing datacenters", error),
    }
}
