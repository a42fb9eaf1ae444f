//! `legate services register|deregister`, as `consul services` does them: register or
//! deregister services with the local agent, from flags or from service definition files.
//!
//! Consul reads the files with its agent config loader and uses only their services, so a
//! file may be a whole agent config. We do the same for JSON: the top level's `service` (one)
//! and `services` (a list) are the definitions, other keys are ignored. A bare definition
//! (a top level with a `Name` or `ID` and neither key) is read as one service too, so a
//! body written for `/v1/agent/service/register` works as a file. HCL is refused with an
//! error rather than skipped, since registering nothing would look like success.

use super::{call_failed, HttpFlags, Outcome};
use clap::{Args, Subcommand};
use legate_api::decode::fold;
use legate_api::types::{AgentServiceBody, ServiceAddressBody};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ServicesCommand {
    #[command(subcommand)]
    pub op: ServicesOp,
}

#[derive(Debug, Subcommand)]
pub enum ServicesOp {
    /// Register services with the local agent.
    Register(RegisterArgs),
    /// Deregister services from the local agent.
    Deregister(DeregisterArgs),
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Name of the service to register from flags.
    #[arg(long, default_value = "")]
    name: String,
    /// ID of the service (default: the name).
    #[arg(long, default_value = "")]
    id: String,
    #[arg(long, default_value = "")]
    address: String,
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Unix socket path, instead of an address and port.
    #[arg(long = "socket", default_value = "")]
    socket_path: String,
    /// The service's kind.
    #[arg(long, default_value = "")]
    kind: String,
    /// A tag; repeat for more.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Metadata as key=value; repeat for more.
    #[arg(long = "meta", value_parser = key_value)]
    meta: Vec<(String, String)>,
    /// A tagged address as key=host:port; repeat for more.
    #[arg(long = "tagged-address", value_parser = key_value)]
    tagged_addresses: Vec<(String, String)>,
    /// Service definition files (JSON), or directories of them.
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeregisterArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// ID of the service to deregister.
    #[arg(long, default_value = "")]
    id: String,
    /// Service definition files whose services to deregister.
    files: Vec<PathBuf>,
}

pub async fn run(command: ServicesCommand) -> Outcome {
    match command.op {
        ServicesOp::Register(args) => register(args).await,
        ServicesOp::Deregister(args) => deregister(args).await,
    }
}

/// Consul's `FlagMapValue`: split at the first `=`; a repeated key keeps the last value.
fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("Missing \"=\" value in argument: {text}"))
}

/// Go's `net.SplitHostPort` then a port, as Consul's `api.ParseServiceAddr` reads
/// `-tagged-address` values (`127.0.0.1:80`, `[::1]:80`).
fn service_address(text: &str) -> Result<ServiceAddressBody, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("address {text}: missing port in address"))?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| format!("address {text}: missing ']' in address"))?,
        None if host.contains(':') => return Err(format!("address {text}: too many colons")),
        None => host,
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("strconv.Atoi: parsing {port:?}: invalid syntax"))?;
    Ok(ServiceAddressBody {
        address: Some(host.to_owned()),
        port: Some(port),
    })
}

fn non_empty(text: &str) -> Option<String> {
    Some(text.to_owned()).filter(|text| !text.is_empty())
}

/// The service the flags describe; also the values `combine` lends to file services.
fn from_flags(args: &RegisterArgs) -> Result<AgentServiceBody, String> {
    let mut tagged = BTreeMap::new();
    for (tag, text) in &args.tagged_addresses {
        let address = service_address(text).map_err(|e| format!("Invalid Tagged Address: {e}"))?;
        tagged.insert(tag.clone(), address);
    }
    Ok(AgentServiceBody {
        kind: non_empty(&args.kind),
        id: non_empty(&args.id),
        name: non_empty(&args.name),
        address: non_empty(&args.address),
        port: Some(args.port).filter(|port| *port != 0),
        socket_path: non_empty(&args.socket_path),
        tags: Some(args.tags.clone()).filter(|tags| !tags.is_empty()),
        meta: Some(args.meta.iter().cloned().collect())
            .filter(|meta: &BTreeMap<_, _>| !meta.is_empty()),
        tagged_addresses: Some(tagged).filter(|tagged| !tagged.is_empty()),
        ..AgentServiceBody::default()
    })
}

/// Consul's `CombineArgs`: flags fill what a file service leaves empty, flag meta and tagged
/// addresses win over the file's, and flag tags are appended to the file's.
fn combine(file: &mut AgentServiceBody, flags: &AgentServiceBody) {
    fn fill<T: Clone>(slot: &mut Option<T>, flag: &Option<T>, empty: impl Fn(&T) -> bool) {
        if flag.is_some() && slot.as_ref().is_none_or(&empty) {
            slot.clone_from(flag);
        }
    }
    fill(&mut file.id, &flags.id, String::is_empty);
    fill(&mut file.name, &flags.name, String::is_empty);
    fill(&mut file.address, &flags.address, String::is_empty);
    fill(&mut file.port, &flags.port, |port| *port == 0);
    fill(&mut file.kind, &flags.kind, String::is_empty);
    fill(&mut file.socket_path, &flags.socket_path, String::is_empty);
    let meta = file.meta.get_or_insert_with(BTreeMap::new);
    meta.extend(flags.meta.clone().unwrap_or_default());
    let tagged = file.tagged_addresses.get_or_insert_with(BTreeMap::new);
    tagged.extend(flags.tagged_addresses.clone().unwrap_or_default());
    let tags = file.tags.get_or_insert_with(Vec::new);
    tags.extend(flags.tags.clone().unwrap_or_default());
}

/// The services in one JSON document (see the module doc for the shapes accepted).
fn services_in_text(text: &str) -> Result<Vec<AgentServiceBody>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Value::Object(top) = value else {
        return Err("the top level must be a JSON object".into());
    };
    let mut found = Vec::new();
    let mut bare = true;
    for (key, value) in &top {
        if !matches!(fold(key).as_str(), "service" | "services") {
            continue;
        }
        bare = false;
        // Either key may hold one definition or a list, as Consul's decoder allows.
        let definitions = match value {
            Value::Null => Vec::new(),
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        };
        for definition in definitions {
            found.push(serde_json::from_value(definition).map_err(|e| format!("{key}: {e}"))?);
        }
    }
    let names_a_service = top
        .keys()
        .any(|key| matches!(fold(key).as_str(), "name" | "id"));
    if bare && names_a_service {
        found.push(serde_json::from_value(Value::Object(top)).map_err(|e| e.to_string())?);
    }
    Ok(found)
}

/// What the files hold: their services in order, and warnings for files skipped.
#[derive(Default)]
struct Loaded {
    services: Vec<AgentServiceBody>,
    warnings: String,
}

/// Reads files and directories (their entries in lexical order) as Consul's loader does:
/// `.json` is read, `.hcl` is an error, anything else is skipped with a warning.
fn load(paths: &[PathBuf]) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    for path in paths {
        if !path.is_dir() {
            load_file(path, &mut loaded)?;
            continue;
        }
        let entries = std::fs::read_dir(path)
            .map_err(|e| format!("config: Open failed on {}. {e}", path.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        for file in files {
            load_file(&file, &mut loaded)?;
        }
    }
    Ok(loaded)
}

fn load_file(path: &Path, loaded: &mut Loaded) -> Result<(), String> {
    let shown = path.display();
    match path.extension().and_then(|ext| ext.to_str()) {
        Some("json") => {}
        Some("hcl") => {
            return Err(format!(
                "failed to parse {shown}: HCL is not supported by Legate; \
                 only JSON service definitions (.json) are"
            ))
        }
        _ => {
            loaded.warnings.push_str(&format!(
                "skipping file {shown}, extension must be .hcl or .json, or config format must be set\n"
            ));
            return Ok(());
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config: Open failed on {shown}. {e}"))?;
    let services = services_in_text(&text).map_err(|e| format!("failed to parse {shown}: {e}"))?;
    loaded.services.extend(services);
    Ok(())
}

async fn register(args: RegisterArgs) -> Outcome {
    let flags = match from_flags(&args) {
        Ok(flags) => flags,
        Err(message) => return Outcome::fail(message),
    };
    if args.files.is_empty() && args.name.is_empty() {
        return Outcome::fail(
            "Service registration requires at least one argument or flags.".into(),
        );
    }
    if !args.files.is_empty() && !args.name.is_empty() {
        return Outcome::fail("Service registration requires arguments or -id, not both.".into());
    }
    let (services, warnings) = if args.files.is_empty() {
        (vec![flags], String::new())
    } else {
        match load(&args.files) {
            Ok(mut loaded) => {
                for service in &mut loaded.services {
                    combine(service, &flags);
                }
                (loaded.services, loaded.warnings)
            }
            Err(message) => return Outcome::fail(format!("Error: {message}")),
        }
    };
    let client = args.http.client();
    let mut outcome = Outcome::ok(String::new());
    outcome.stderr = warnings;
    for service in &services {
        let name = service.name.clone().unwrap_or_default();
        if let Err(error) = client.agent_service_register(service).await {
            let failed = call_failed(&format!("registering service {name:?}"), error);
            outcome.stderr.push_str(&failed.stderr);
            outcome.code = failed.code;
            return outcome;
        }
        outcome
            .stdout
            .push_str(&format!("Registered service: {name}\n"));
    }
    outcome
}

async fn deregister(args: DeregisterArgs) -> Outcome {
    if args.files.is_empty() && args.id.is_empty() {
        return Outcome::fail(
            "Service deregistration requires at least one argument or -id.".into(),
        );
    }
    if !args.files.is_empty() && !args.id.is_empty() {
        return Outcome::fail("Service deregistration requires arguments or -id, not both.".into());
    }
    let (services, warnings) = if args.files.is_empty() {
        let by_id = AgentServiceBody {
            id: Some(args.id.clone()),
            ..AgentServiceBody::default()
        };
        (vec![by_id], String::new())
    } else {
        match load(&args.files) {
            Ok(loaded) => (loaded.services, loaded.warnings),
            Err(message) => return Outcome::fail(format!("Error: {message}")),
        }
    };
    let client = args.http.client();
    let mut outcome = Outcome::ok(String::new());
    outcome.stderr = warnings;
    for service in &services {
        // A definition is deregistered by its ID, or its name when it has none (the ID it
        // was registered under); one with neither is skipped, as Consul skips it.
        let Some(id) = non_empty(service.id.as_deref().unwrap_or_default())
            .or_else(|| non_empty(service.name.as_deref().unwrap_or_default()))
        else {
            continue;
        };
        if let Err(error) = client.agent_service_deregister(&id).await {
            // Consul names the service here; with -id there is no name, so say the ID
            // rather than print an empty `""`.
            let shown = service.name.clone().unwrap_or_else(|| id.clone());
            let failed = call_failed(&format!("deregistering service {shown:?}"), error);
            outcome.stderr.push_str(&failed.stderr);
            outcome.code = failed.code;
            return outcome;
        }
        outcome
            .stdout
            .push_str(&format!("Deregistered service: {id}\n"));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        services_in_text(text)
            .unwrap()
            .into_iter()
            .map(|service| service.name.unwrap_or_default())
            .collect()
    }

    #[test]
    fn files_hold_one_service_a_list_or_a_bare_definition() {
        assert_eq!(names(r#"{"Service":{"Name":"web"}}"#), ["web"]);
        assert_eq!(
            names(r#"{"service":{"name":"a"},"services":[{"name":"b"},{"name":"c"}]}"#),
            ["a", "b", "c"]
        );
        assert_eq!(names(r#"{"Name":"bare","Port":80}"#), ["bare"]);
        // An agent config with no services registers nothing, as in Consul.
        assert!(names(r#"{"datacenter":"dc1"}"#).is_empty());
        assert!(services_in_text("[1]").is_err());
        assert!(services_in_text(r#"{"service":{"port":"x"}}"#).is_err());
    }

    #[test]
    fn flags_fill_gaps_in_file_services() {
        let mut file = services_in_text(
            r#"{"service":{"name":"web","port":80,"tags":["a"],"meta":{"k":"file","f":"1"}}}"#,
        )
        .unwrap()
        .remove(0);
        let flags = AgentServiceBody {
            id: Some("web-1".into()),
            port: Some(90),
            tags: Some(vec!["b".into()]),
            meta: Some(BTreeMap::from([("k".into(), "flag".into())])),
            ..AgentServiceBody::default()
        };
        combine(&mut file, &flags);
        assert_eq!(file.id.as_deref(), Some("web-1"));
        assert_eq!(file.port, Some(80));
        assert_eq!(file.tags, Some(vec!["a".into(), "b".into()]));
        let meta = file.meta.unwrap();
        assert_eq!((meta["k"].as_str(), meta["f"].as_str()), ("flag", "1"));
    }

    #[test]
    fn flag_values_parse_as_consul_parses_them() {
        assert_eq!(key_value("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(key_value("nope").unwrap_err().contains("Missing \"=\""));
        let v6 = service_address("[2001:db8::12]:1234").unwrap();
        assert_eq!(v6.address.as_deref(), Some("2001:db8::12"));
        assert_eq!(v6.port, Some(1234));
        assert!(service_address("127.0.0.1").is_err());
    }
}
