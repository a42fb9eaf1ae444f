//! `legate members`, printing the table `consul members` prints.
//!
//! As Consul's command does, it filters by a regular expression on the status name, sorts
//! servers first then by segment and name, shows servers' segment as `<all>` and a client's
//! empty one as `<default>`, and exits 2 when no member matches.

use super::{call_failed, table, HttpFlags, Outcome};
use clap::Args;
use legate_api::backend::MemberStatus;
use legate_api::types::Member;
use regex::Regex;
use std::net::IpAddr;

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
    /// Only members whose status (alive, leaving, left, failed) matches this regexp.
    #[arg(long, default_value = ".*")]
    status: String,
}

/// Consul's exit code when no member matches the filter.
const NONE_MATCHED: u8 = 2;

const SERVER_ROLE: &str = "consul";
const CLIENT_ROLE: &str = "node";

/// `ip:port`, with brackets around an IPv6 address as Go's `net.TCPAddr` prints it.
fn address(member: &Member) -> String {
    match member.addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]:{}", member.port),
        _ => format!("{}:{}", member.addr, member.port),
    }
}

fn tag<'a>(member: &'a Member, key: &str) -> &'a str {
    member.tags.get(key).map_or("", String::as_str)
}

/// The members to print, filtered, completed and sorted as Consul's command does.
pub fn select(mut members: Vec<Member>, status: &Regex) -> Vec<Member> {
    members.retain(|member| status.is_match(MemberStatus::from_code(member.status).as_str()));
    for member in &mut members {
        // Consul CE has only the default partition and, for servers, every segment.
        member
            .tags
            .entry("ap".to_owned())
            .and_modify(|partition| {
                if partition.is_empty() {
                    *partition = "default".to_owned();
                }
            })
            .or_insert_with(|| "default".to_owned());
        let server = tag(member, "role") == SERVER_ROLE;
        let segment = member.tags.entry("segment".to_owned()).or_default();
        if server {
            *segment = "<all>".to_owned();
        } else if segment.is_empty() {
            *segment = "<default>".to_owned();
        }
    }
    members.sort_by(|a, b| {
        let server = |member: &Member| tag(member, "role") != SERVER_ROLE;
        (server(a), tag(a, "segment"), &a.name).cmp(&(server(b), tag(b, "segment"), &b.name))
    });
    members
}

/// The standard table.
pub fn standard(members: &[Member]) -> String {
    let header = [
        "Node",
        "Address",
        "Status",
        "Type",
        "Build",
        "Protocol",
        "DC",
        "Partition",
        "Segment",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for member in members {
        let status = MemberStatus::from_code(member.status).as_str().to_owned();
        let kind = match tag(member, "role") {
            SERVER_ROLE => "server",
            CLIENT_ROLE => "client",
            _ => {
                rows.push(vec![member.name.clone(), address(member), status]);
                continue;
            }
        };
        let build = match tag(member, "build") {
            "" => "< 0.3",
            build => build.split(':').next().unwrap_or_default(),
        };
        rows.push(vec![
            member.name.clone(),
            address(member),
            status,
            kind.to_owned(),
            build.to_owned(),
            tag(member, "vsn").to_owned(),
            tag(member, "dc").to_owned(),
            tag(member, "ap").to_owned(),
            tag(member, "segment").to_owned(),
        ]);
    }
    table::render(&rows)
}

/// The `-detailed` table: every tag as `k=v`, sorted by key, joined with commas.
pub fn detailed(members: &[Member]) -> String {
    let mut rows = vec![["Node", "Address", "Status", "Tags"]
        .map(String::from)
        .to_vec()];
    for member in members {
        let tags = member
            .tags
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(",");
        rows.push(vec![
            member.name.clone(),
            address(member),
            MemberStatus::from_code(member.status).as_str().to_owned(),
            tags,
        ]);
    }
    table::render(&rows)
}

pub async fn run(args: MembersArgs) -> Outcome {
    let status = match Regex::new(&args.status) {
        Ok(status) => status,
        Err(error) => {
            return Outcome::fail(format!("Failed to compile status regexp: {error}"));
        }
    };
    let members = match args.http.client().agent_members(args.wan).await {
        Ok(members) => members,
        Err(error) => return call_failed("retrieving members", error),
    };
    let members = select(members, &status);
    if members.is_empty() {
        return Outcome {
            stdout: String::new(),
            stderr: String::new(),
            code: NONE_MATCHED,
        };
    }
    Outcome::ok(if args.detailed {
        detailed(&members)
    } else {
        standard(&members)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn member(name: &str, addr: &str, status: u8, tags: &[(&str, &str)]) -> Member {
        Member {
            name: name.into(),
            addr: addr.into(),
            port: 8301,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            status,
            ..Member::default()
        }
    }

    fn sample() -> Vec<Member> {
        let server = [
            ("role", "consul"),
            ("dc", "dc1"),
            ("vsn", "2"),
            ("build", "0.1.0:abc"),
        ];
        let client = [
            ("role", "node"),
            ("dc", "dc1"),
            ("vsn", "2"),
            ("build", "0.1.0:abc"),
        ];
        vec![
            member("web-1", "10.0.0.9", 4, &client),
            member("srv-b", "10.0.0.2", 1, &server),
            member("srv-a", "::1", 1, &server),
            member("odd", "10.0.0.7", 3, &[]),
        ]
    }

    #[test]
    fn standard_table_sorts_servers_first_and_fills_consuls_columns() {
        let all = select(sample(), &Regex::new(".*").unwrap());
        assert_eq!(
            standard(&all),
            "Node   Address        Status  Type    Build  Protocol  DC   Partition  Segment\n\
             srv-a  [::1]:8301     alive   server  0.1.0  2         dc1  default    <all>\n\
             srv-b  10.0.0.2:8301  alive   server  0.1.0  2         dc1  default    <all>\n\
             odd    10.0.0.7:8301  left\n\
             web-1  10.0.0.9:8301  failed  client  0.1.0  2         dc1  default    <default>\n"
        );
    }

    #[test]
    fn status_filter_and_detailed_tags() {
        let failed = select(sample(), &Regex::new("fail").unwrap());
        assert_eq!(failed.len(), 1);
        assert_eq!(
            detailed(&failed),
            "Node   Address        Status  Tags\n\
             web-1  10.0.0.9:8301  failed  \
             ap=default,build=0.1.0:abc,dc=dc1,role=node,segment=<default>,vsn=2\n"
        );
        assert!(select(sample(), &Regex::new("^leaving$").unwrap()).is_empty());
    }
}
