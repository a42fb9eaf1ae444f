//! The `/v1/agent/service/register` and `/v1/agent/check/register` bodies, and the typed
//! definitions (`ServiceSpec`, `CheckSpec`) they become.
//!
//! The same bodies come from config files (`services`, `checks`, snake_case), so the agent
//! decodes those with these types too. Defaults and refusals follow Consul's
//! `agent_endpoint.go`, `structs.CheckType.Validate` and `agent.AddService`:
//! 1. A service needs `Name` ("Missing service name"); `ID` defaults to it; a wildcard address
//!    is refused; `Weights`, when given, need `Passing` ≥ 1 and `Warning` ≥ 0, and default to
//!    1/1; `Meta` has at most 64 pairs, keys of `[A-Za-z0-9_-]` up to 128 characters not
//!    starting with `consul-`, values up to 512 characters.
//! 2. A service's checks are `Check` then `Checks`. One without an ID is `service:<id>`, or
//!    `service:<id>:<n>` (1-based) when there are several; one without a name is
//!    `Service '<name>' check`.
//! 3. A standalone check needs `Name` ("Missing check name"); its ID defaults to the name.
//! 4. A check is exactly one kind: script (`Args`), HTTP, TCP, gRPC, or TTL. Interval kinds
//!    need an `Interval` > 0 and no `TTL`; a TTL check needs `TTL` > 0. The interval is
//!    raised to at least 1 s; the timeout defaults to 10 s (30 s for scripts).
//!    Kinds Legate does not run (UDP, H2PING, alias, Docker, OS service) are refused rather
//!    than registered as checks that never run.
//! 5. `Status`, when given, is `passing`, `warning` or `critical`; the default is critical.

use crate::decode::GoDuration;
use crate::error::ApiError;
use crate::folded_struct;
use crate::local::{
    CheckKind, CheckSpec, GrpcProbe, HttpProbe, ServiceSpec, DEFAULT_OUTPUT_MAX_SIZE,
};
use crate::types::registration::{tagged_addresses, ServiceAddressBody, WeightsBody};
use legate_catalog::{self as catalog, Health, ServiceId};
use std::collections::BTreeMap;
use std::time::Duration;

folded_struct! {
    /// A check in an agent registration: standalone (`/v1/agent/check/register`, with
    /// `ServiceID`) or embedded in a service definition.
    pub struct AgentCheckBody {
        check_id: String => "CheckID" | "id",
        name: String => "Name",
        notes: String => "Notes",
        service_id: String => "ServiceID",
        status: String => "Status",
        args: Vec<String> => "Args" | "scriptargs",
        http: String => "HTTP",
        header: BTreeMap<String, Vec<String>> => "Header",
        method: String => "Method",
        body: String => "Body",
        disable_redirects: bool => "DisableRedirects",
        tcp: String => "TCP",
        tcp_use_tls: bool => "TCPUseTLS",
        udp: String => "UDP",
        grpc: String => "GRPC",
        grpc_use_tls: bool => "GRPCUseTLS",
        tls_server_name: String => "TLSServerName",
        tls_skip_verify: bool => "TLSSkipVerify",
        h2ping: String => "H2PING",
        alias_node: String => "AliasNode",
        alias_service: String => "AliasService",
        docker_container_id: String => "DockerContainerID",
        os_service: String => "OSService",
        interval: GoDuration => "Interval",
        timeout: GoDuration => "Timeout",
        ttl: GoDuration => "TTL",
        deregister_critical_service_after: GoDuration => "DeregisterCriticalServiceAfter",
        success_before_passing: i64 => "SuccessBeforePassing",
        failures_before_warning: i64 => "FailuresBeforeWarning",
        failures_before_critical: i64 => "FailuresBeforeCritical",
        output_max_size: i64 => "OutputMaxSize",
    }
}

folded_struct! {
    /// `PUT /v1/agent/service/register`, and a service in a config file.
    pub struct AgentServiceBody {
        kind: String => "Kind",
        id: String => "ID",
        name: String => "Name",
        tags: Vec<String> => "Tags",
        address: String => "Address",
        tagged_addresses: BTreeMap<String, ServiceAddressBody> => "TaggedAddresses",
        meta: BTreeMap<String, String> => "Meta",
        port: u16 => "Port",
        socket_path: String => "SocketPath",
        weights: WeightsBody => "Weights",
        enable_tag_override: bool => "EnableTagOverride",
        check: AgentCheckBody => "Check",
        checks: Vec<AgentCheckBody> => "Checks",
    }
}

folded_struct! {
    /// `PUT /v1/agent/check/update/:id`.
    pub struct CheckUpdateBody {
        status: String => "Status",
        output: String => "Output",
    }
}

/// Consul's `checks.MinInterval`.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Timeouts Consul applies when a definition gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

const META_MAX_PAIRS: usize = 64;
const META_KEY_MAX: usize = 128;
const META_VALUE_MAX: usize = 512;

fn bad(text: impl Into<String>) -> ApiError {
    ApiError::BadRequest(text.into())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.is_empty())
}

fn positive(value: Option<GoDuration>) -> Option<Duration> {
    value
        .filter(|duration| duration.0 > 0)
        .map(|duration| Duration::from_nanos(duration.0 as u64))
}

fn count(value: Option<i64>) -> u32 {
    value.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32
}

/// Parses a check status, `None` for an invalid one (empty means critical).
fn initial_status(text: Option<&str>) -> Option<Health> {
    match text.unwrap_or("") {
        "" => Some(Health::Critical),
        other => Health::parse(other),
    }
}

/// Consul's `ValidateServiceMetadata` for a typical service (rule 1).
pub fn validate_meta(meta: &BTreeMap<String, String>) -> Result<(), String> {
    if meta.len() > META_MAX_PAIRS {
        return Err(format!(
            "Service metadata cannot contain more than {META_MAX_PAIRS} key/value pairs"
        ));
    }
    for (key, value) in meta {
        if key.is_empty() {
            return Err("Key cannot be blank".into());
        }
        let well_formed = key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
        if !well_formed {
            return Err(format!("Key contains invalid characters: {key:?}"));
        }
        if key.len() > META_KEY_MAX {
            return Err(format!(
                "Key is too long (limit: {META_KEY_MAX} characters)"
            ));
        }
        if key.starts_with("consul-") {
            return Err("Key prefix 'consul-' is reserved for internal use".into());
        }
        if value.len() > META_VALUE_MAX {
            return Err(format!(
                "Value is too long (limit: {META_VALUE_MAX} characters)"
            ));
        }
    }
    Ok(())
}

impl AgentCheckBody {
    /// Whether nothing at all was given (Go's `CheckType.Empty`), as for `"Check":{}`.
    fn is_empty(&self) -> bool {
        *self == AgentCheckBody::default()
    }

    /// The kind and its default timeout (rule 4), or the text after "Invalid check: ".
    fn kind(&self) -> Result<(CheckKind, Duration), String> {
        let set = |value: &Option<String>| value.as_deref().is_some_and(|text| !text.is_empty());
        let args = self.args.clone().unwrap_or_default();
        let interval_kind = !args.is_empty()
            || set(&self.http)
            || set(&self.tcp)
            || set(&self.udp)
            || set(&self.grpc)
            || set(&self.h2ping);
        let interval = positive(self.interval);
        let ttl = positive(self.ttl);
        if interval.is_some() && ttl.is_some() {
            return Err("Interval and TTL cannot both be specified".into());
        }
        if interval_kind && interval.is_none() {
            return Err("Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks".into());
        }
        if let Some(size) = self.output_max_size {
            if size < 0 {
                return Err("MaxOutputMaxSize must be positive".into());
            }
        }
        let unsupported = [
            (set(&self.udp), "UDP"),
            (set(&self.h2ping), "H2PING"),
            (set(&self.alias_node) || set(&self.alias_service), "alias"),
            (set(&self.docker_container_id), "Docker"),
            (set(&self.os_service), "OS service"),
        ];
        if let Some((_, kind)) = unsupported.iter().find(|(present, _)| *present) {
            return Err(format!("{kind} checks are not supported by Legate"));
        }
        if !args.is_empty() {
            return Ok((CheckKind::Script(args), DEFAULT_SCRIPT_TIMEOUT));
        }
        if let Some(url) = non_empty(self.http.clone()) {
            let probe = HttpProbe {
                url,
                method: non_empty(self.method.clone()).unwrap_or_else(|| "GET".into()),
                header: self.header.clone().unwrap_or_default(),
                body: self.body.clone().unwrap_or_default(),
                tls_server_name: self.tls_server_name.clone().unwrap_or_default(),
                tls_skip_verify: self.tls_skip_verify.unwrap_or(false),
            };
            return Ok((CheckKind::Http(probe), DEFAULT_TIMEOUT));
        }
        if let Some(address) = non_empty(self.tcp.clone()) {
            if self.tcp_use_tls.unwrap_or(false) {
                return Err("TCP checks over TLS are not supported by Legate".into());
            }
            return Ok((CheckKind::Tcp(address), DEFAULT_TIMEOUT));
        }
        if let Some(target) = non_empty(self.grpc.clone()) {
            let probe = GrpcProbe {
                target,
                use_tls: self.grpc_use_tls.unwrap_or(false),
                tls_server_name: self.tls_server_name.clone().unwrap_or_default(),
                tls_skip_verify: self.tls_skip_verify.unwrap_or(false),
            };
            return Ok((CheckKind::Grpc(probe), DEFAULT_TIMEOUT));
        }
        match ttl {
            Some(ttl) => Ok((CheckKind::Ttl(ttl), Duration::ZERO)),
            None => Err("TTL must be > 0 for TTL checks".into()),
        }
    }

    /// The definition with `id` and `name` already decided.
    fn into_spec_with(
        self,
        id: String,
        name: String,
        service_id: ServiceId,
        status: Health,
    ) -> Result<CheckSpec, ApiError> {
        let (kind, default_timeout) = self
            .kind()
            .map_err(|text| bad(format!("Invalid check: {text}")))?;
        let (interval, timeout) = match kind {
            CheckKind::Ttl(_) => (Duration::ZERO, Duration::ZERO),
            _ => (
                positive(self.interval)
                    .unwrap_or_default()
                    .max(MIN_INTERVAL),
                positive(self.timeout).unwrap_or(default_timeout),
            ),
        };
        let output_max_size = match self.output_max_size {
            Some(size) if size > 0 => size as usize,
            _ => DEFAULT_OUTPUT_MAX_SIZE,
        };
        let failures_before_critical = count(self.failures_before_critical);
        Ok(CheckSpec {
            id: id.into(),
            name,
            notes: self.notes.unwrap_or_default(),
            service_id,
            status,
            kind,
            interval,
            timeout,
            deregister_critical_service_after: positive(self.deregister_critical_service_after),
            success_before_passing: count(self.success_before_passing),
            failures_before_warning: match count(self.failures_before_warning) {
                0 => failures_before_critical,
                given => given,
            },
            failures_before_critical,
            output_max_size,
        })
    }

    /// A standalone check (rule 3). The caller checks that its `ServiceID` exists.
    pub fn into_spec(self) -> Result<CheckSpec, ApiError> {
        let name = non_empty(self.name.clone()).ok_or_else(|| bad("Missing check name"))?;
        let status =
            initial_status(self.status.as_deref()).ok_or_else(|| bad("Bad check status"))?;
        let id = non_empty(self.check_id.clone()).unwrap_or_else(|| name.clone());
        let service_id = self.service_id.clone().unwrap_or_default().into();
        self.into_spec_with(id, name, service_id, status)
    }
}

impl AgentServiceBody {
    /// The service and its checks (rules 1 and 2), ready for `LocalAgent::register_service`.
    pub fn into_spec(self) -> Result<ServiceSpec, ApiError> {
        let name = non_empty(self.name).ok_or_else(|| bad("Missing service name"))?;
        let id = non_empty(self.id).unwrap_or_else(|| name.clone());
        let address = self.address.unwrap_or_default();
        if matches!(address.as_str(), "0.0.0.0" | "::" | "[::]") {
            return Err(bad("Invalid service address"));
        }
        let weights = match self.weights {
            None => catalog::Weights::default(),
            Some(weights) => {
                let passing = weights.passing.unwrap_or(0);
                let warning = weights.warning.unwrap_or(0);
                if passing < 1 {
                    return Err(bad("Invalid Weights: Passing must be greater than 0"));
                }
                if warning < 0 {
                    return Err(bad(
                        "Invalid Weights: Warning must be greater or equal than 0",
                    ));
                }
                catalog::Weights {
                    passing: passing.min(i64::from(u32::MAX)) as u32,
                    warning: warning.min(i64::from(u32::MAX)) as u32,
                }
            }
        };
        let meta = self.meta.unwrap_or_default();
        validate_meta(&meta).map_err(|text| bad(format!("Invalid Service Meta: {text}")))?;
        let tagged_addresses = tagged_addresses(self.tagged_addresses);
        let service = catalog::Service {
            node: Default::default(),
            id: id.clone().into(),
            name: name.clone().into(),
            kind: self.kind.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            address,
            tagged_addresses,
            meta,
            port: self.port.unwrap_or(0),
            socket_path: self.socket_path.unwrap_or_default(),
            weights,
            enable_tag_override: self.enable_tag_override.unwrap_or(false),
            indexes: Default::default(),
        };
        let bodies: Vec<AgentCheckBody> = self
            .check
            .filter(|check| !check.is_empty())
            .into_iter()
            .chain(self.checks.into_iter().flatten())
            .collect();
        let several = bodies.len() > 1;
        let mut checks = Vec::with_capacity(bodies.len());
        for (position, body) in bodies.into_iter().enumerate() {
            let status = initial_status(body.status.as_deref())
                .ok_or_else(|| bad("Status for checks must 'passing', 'warning', 'critical'"))?;
            let check_id = non_empty(body.check_id.clone()).unwrap_or_else(|| {
                if several {
                    format!("service:{id}:{}", position + 1)
                } else {
                    format!("service:{id}")
                }
            });
            let check_name =
                non_empty(body.name.clone()).unwrap_or_else(|| format!("Service '{name}' check"));
            checks.push(body.into_spec_with(check_id, check_name, id.clone().into(), status)?);
        }
        Ok(ServiceSpec { service, checks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::json_body;

    fn service(body: &str) -> Result<ServiceSpec, String> {
        let body: AgentServiceBody = json_body(body.as_bytes()).map_err(|e| e.to_string())?;
        body.into_spec().map_err(|error| error.to_string())
    }

    fn check(body: &str) -> Result<CheckSpec, String> {
        let body: AgentCheckBody = json_body(body.as_bytes()).map_err(|e| e.to_string())?;
        body.into_spec().map_err(|error| error.to_string())
    }

    #[test]
    fn service_defaults_and_generated_check_ids() {
        let one = service(r#"{"Name":"web","Port":80,"Check":{"TTL":"10s"}}"#).unwrap();
        assert_eq!(one.service.id.as_str(), "web");
        assert_eq!(one.service.weights, catalog::Weights::default());
        assert_eq!(one.checks.len(), 1);
        assert_eq!(one.checks[0].id.as_str(), "service:web");
        assert_eq!(one.checks[0].name, "Service 'web' check");
        assert_eq!(one.checks[0].status, Health::Critical);
        assert_eq!(one.checks[0].service_id.as_str(), "web");
        assert_eq!(one.checks[0].kind, CheckKind::Ttl(Duration::from_secs(10)));

        let py = service(
            r#"{"name":"db","id":"db1","tags":["a"],"port":5432,"enabletagoverride":true,
                "checks":[{"http":"http://127.0.0.1/","interval":"5s"},
                          {"tcp":"127.0.0.1:1","interval":"5s","timeout":"1s","status":"passing"},
                          {"args":["/bin/true"],"interval":"1ms"}]}"#,
        )
        .unwrap();
        let ids: Vec<_> = py.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["service:db1:1", "service:db1:2", "service:db1:3"]);
        assert!(py.service.enable_tag_override);
        assert_eq!(py.checks[0].timeout, Duration::from_secs(10));
        assert_eq!(py.checks[1].timeout, Duration::from_secs(1));
        assert_eq!(py.checks[1].status, Health::Passing);
        assert_eq!(py.checks[2].timeout, Duration::from_secs(30));
        assert_eq!(py.checks[2].interval, MIN_INTERVAL);
        let CheckKind::Http(probe) = &py.checks[0].kind else {
            panic!("an HTTP check")
        };
        assert_eq!(probe.method, "GET");

        let go = service(r#"{"Name":"x","Check":null,"Checks":null,"Weights":null}"#).unwrap();
        assert!(go.checks.is_empty());
        let empty_check = service(r#"{"Name":"x","Check":{}}"#).unwrap();
        assert!(empty_check.checks.is_empty());
    }

    #[test]
    fn service_refusals() {
        assert_eq!(
            service(r#"{"ID":"x"}"#).unwrap_err(),
            "Missing service name"
        );
        assert_eq!(
            service(r#"{"Name":"x","Address":"0.0.0.0"}"#).unwrap_err(),
            "Invalid service address"
        );
        assert_eq!(
            service(r#"{"Name":"x","Weights":{"Passing":0,"Warning":1}}"#).unwrap_err(),
            "Invalid Weights: Passing must be greater than 0"
        );
        assert!(service(r#"{"Name":"x","Meta":{"consul-x":"1"}}"#)
            .unwrap_err()
            .starts_with("Invalid Service Meta: Key prefix 'consul-'"));
        assert!(service(r#"{"Name":"x","Meta":{"a b":"1"}}"#)
            .unwrap_err()
            .contains("invalid characters"));
        assert_eq!(
            service(r#"{"Name":"x","Check":{"HTTP":"http://x/","Status":"ok","Interval":"1s"}}"#)
                .unwrap_err(),
            "Status for checks must 'passing', 'warning', 'critical'"
        );
        assert_eq!(
            service(r#"{"Name":"x","Check":{"HTTP":"http://x/"}}"#).unwrap_err(),
            "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks"
        );
    }

    #[test]
    fn standalone_checks() {
        let ttl = check(r#"{"Name":"mem","TTL":"30s","ServiceID":"web","Notes":"n"}"#).unwrap();
        assert_eq!(ttl.id.as_str(), "mem");
        assert_eq!(ttl.service_id.as_str(), "web");
        assert_eq!(ttl.notes, "n");
        assert_eq!(check(r#"{"TTL":"1s"}"#).unwrap_err(), "Missing check name");
        assert_eq!(
            check(r#"{"Name":"c","TTL":"1s","Status":"bogus"}"#).unwrap_err(),
            "Bad check status"
        );
        assert_eq!(
            check(r#"{"Name":"c"}"#).unwrap_err(),
            "Invalid check: TTL must be > 0 for TTL checks"
        );
        assert_eq!(
            check(r#"{"Name":"c","TTL":"1s","Interval":"1s"}"#).unwrap_err(),
            "Invalid check: Interval and TTL cannot both be specified"
        );
        assert_eq!(
            check(r#"{"Name":"c","UDP":"127.0.0.1:53","Interval":"1s"}"#).unwrap_err(),
            "Invalid check: UDP checks are not supported by Legate"
        );
        let grpc = check(
            r#"{"id":"g","name":"g","grpc":"127.0.0.1:9/svc","grpc_use_tls":false,
                "interval":"2s","FailuresBeforeCritical":3,"success_before_passing":2}"#,
        )
        .unwrap();
        assert_eq!(grpc.failures_before_critical, 3);
        assert_eq!(grpc.failures_before_warning, 3);
        assert_eq!(grpc.success_before_passing, 2);
        assert_eq!(grpc.definition().grpc, "127.0.0.1:9/svc");
        assert_eq!(grpc.definition().interval, "2s");
    }
}
