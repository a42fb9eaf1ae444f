//! `RequestOptions`: the common query parameters, parsed once per request.
//!
//! The rules follow Consul's `agent/http.go` and `agent/http_ce.go`:
//! 1. `ns`, `partition` and the `X-Consul-Namespace`/`X-Consul-Partition` headers are
//!    refused with 400 when non-empty (this is Consul CE), before anything else.
//! 2. `stale`, `consistent` and `leader` are presence flags; `stale` with `consistent` is a
//!    400. A positive `max_stale` implies `stale`.
//! 3. `wait` is a Go duration ("Invalid wait time"), `index` a u64 ("Invalid index").
//! 4. A blocking query (`index` > 0) waits `wait`, capped at `max_query_time`, or
//!    `default_query_time` when `wait` is absent or not positive, plus a random jitter of up
//!    to 1/16 of that, so that many watchers do not all return at once.
//! 5. `filter` is a go-bexpr expression, kept as text here and parsed and bound to the
//!    endpoint's records by `RequestOptions::filter_for` before the query runs, so after
//!    every other parameter, whose errors Consul's HTTP layer reports first. A bad one
//!    answers 500 with `Failed to create boolean expression evaluator: ...`, as Consul's RPC
//!    error does. Endpoints filter after the query, so `X-Consul-Index` and blocking are
//!    unchanged. Endpoints that do not filter (KV, status, agent self and members) never
//!    call `filter_for`, so they ignore any expression, even an unparsable one, as Consul
//!    does.
//! 6. Unknown parameters are ignored.

use crate::backend::{Consistency, ReadOptions};
use crate::config::ApiConfig;
use crate::duration;
use crate::error::ApiError;
use crate::filter::{Filter, FilterError, Matcher, Shape};
use crate::params::Params;
use axum::http::HeaderMap;
use legate_catalog::{Datacenter, Index};
use rand::Rng;
use std::time::Duration;

/// What a request asked for through the common parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// `?dc=`, when non-empty.
    pub datacenter: Option<Datacenter>,
    pub consistency: Consistency,
    /// `?max_stale=`, when positive.
    pub max_stale: Option<Duration>,
    /// `?index=`; zero does not block.
    pub min_index: Index,
    /// How long a blocking read may wait, capped and jittered (zero when not blocking).
    pub wait: Duration,
    /// `?near=`: sort by round trip from this node (`near`).
    pub near: Option<String>,
    /// `?node-meta=key:value`, repeatable; all must match.
    pub node_meta: Vec<(String, String)>,
    /// `?tag=`, repeatable; all must match.
    pub tags: Vec<String>,
    /// `?pretty`, or the agent's default.
    pub pretty: bool,
    /// `?filter=`, when non-empty, as sent: only endpoints that filter parse it (rule 5).
    pub filter: Option<String>,
}

/// Refuses the Enterprise namespace and partition selectors with Consul CE's texts.
pub fn refuse_enterprise(params: &Params, headers: &HeaderMap) -> Result<(), ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| !value.as_bytes().is_empty())
            .unwrap_or(false)
    };
    if header("X-Consul-Namespace") {
        return Err(ApiError::BadRequest(
            "Invalid header: \"X-Consul-Namespace\" - Namespaces are a Consul Enterprise feature"
                .into(),
        ));
    }
    if params.non_empty("ns").is_some() {
        return Err(ApiError::BadRequest(
            "Invalid query parameter: \"ns\" - Namespaces are a Consul Enterprise feature".into(),
        ));
    }
    if header("X-Consul-Partition") {
        return Err(ApiError::BadRequest(
            "Invalid header: \"X-Consul-Partition\" - Partitions are a Consul Enterprise feature"
                .into(),
        ));
    }
    if params.non_empty("partition").is_some() {
        return Err(ApiError::BadRequest(
            "Invalid query parameter: \"partition\" - Partitions are a Consul Enterprise feature"
                .into(),
        ));
    }
    Ok(())
}

/// Whether the request asked for indented JSON.
pub fn pretty(params: &Params, config: &ApiConfig) -> bool {
    config.pretty_default || params.has("pretty")
}

impl RequestOptions {
    /// Parses the common parameters. `rng` supplies the wait jitter.
    pub fn parse(
        params: &Params,
        headers: &HeaderMap,
        config: &ApiConfig,
        rng: &mut impl Rng,
    ) -> Result<RequestOptions, ApiError> {
        refuse_enterprise(params, headers)?;
        let mut options = RequestOptions {
            datacenter: params.non_empty("dc").map(Datacenter::from),
            near: params.non_empty("near").map(str::to_owned),
            pretty: pretty(params, config),
            ..RequestOptions::default()
        };

        let stale = params.has("stale");
        let consistent = params.has("consistent");
        let mut allow_stale = stale;
        if let Some(text) = params.non_empty("max_stale") {
            let nanos = duration::parse(text)
                .map_err(|_| ApiError::BadRequest(format!("Invalid max_stale value {text:?}")))?;
            if nanos > 0 {
                options.max_stale = Some(Duration::from_nanos(nanos as u64));
                allow_stale = true;
            }
        }
        if allow_stale && consistent {
            return Err(ApiError::BadRequest(
                "Cannot specify ?stale with ?consistent, conflicting semantics.".into(),
            ));
        }
        options.consistency = if consistent {
            Consistency::Consistent
        } else if allow_stale {
            Consistency::Stale
        } else {
            Consistency::Default
        };

        let mut wait_nanos: i64 = 0;
        if let Some(text) = params.non_empty("wait") {
            wait_nanos = duration::parse(text)
                .map_err(|_| ApiError::BadRequest("Invalid wait time".into()))?;
        }
        if let Some(text) = params.non_empty("index") {
            let index: u64 = text
                .parse()
                .map_err(|_| ApiError::BadRequest("Invalid index".into()))?;
            options.min_index = Index(index);
        }
        if options.min_index > Index::ZERO {
            options.wait = blocking_wait(wait_nanos, config, rng);
        }

        for pair in params.all("node-meta") {
            let (key, value) = pair.split_once(':').unwrap_or((pair, ""));
            options.node_meta.push((key.to_owned(), value.to_owned()));
        }
        options.tags = params.all("tag").into_iter().map(str::to_owned).collect();
        options.filter = params.non_empty("filter").map(str::to_owned);
        Ok(options)
    }

    /// Rule 5: the request's filter parsed and bound to the records the endpoint filters
    /// (`None` without `?filter=`), or Consul's refusal when it does not parse or does not
    /// fit them.
    pub fn filter_for(&self, shape: &'static Shape) -> Result<Option<Matcher>, ApiError> {
        self.filter
            .as_deref()
            .map(|text| {
                Filter::parse(text)
                    .and_then(|filter| filter.bind(shape))
                    .map_err(filter_refused)
            })
            .transpose()
    }

    /// The backend's view of these options. `local` is this agent's datacenter: naming it
    /// in `?dc=` is the same as not naming one.
    pub fn read_options(&self, local: &Datacenter) -> ReadOptions {
        ReadOptions {
            datacenter: remote_datacenter(self.datacenter.as_ref(), local),
            consistency: self.consistency,
            max_stale: self.max_stale,
            min_index: self.min_index,
            wait: self.wait,
        }
    }
}

/// Rule 5: Consul's answer to a filter it cannot build, a 500 from its RPC layer.
pub fn filter_refused(error: FilterError) -> ApiError {
    ApiError::Refused(error.consul_text())
}

/// `requested` when it names a datacenter other than `local`.
pub fn remote_datacenter(requested: Option<&Datacenter>, local: &Datacenter) -> Option<Datacenter> {
    requested.filter(|dc| *dc != local).cloned()
}

/// Rule 4: the cap, the default and the jitter of a blocking query's wait.
pub fn blocking_wait(requested_nanos: i64, config: &ApiConfig, rng: &mut impl Rng) -> Duration {
    let wait = if requested_nanos <= 0 {
        config.default_query_time
    } else {
        Duration::from_nanos(requested_nanos as u64).min(config.max_query_time)
    };
    let jitter_max = (wait / 16).as_nanos() as u64;
    let jitter = if jitter_max == 0 {
        0
    } else {
        rng.gen_range(0..=jitter_max)
    };
    wait + Duration::from_nanos(jitter)
}

/// `?passing`: present without a value means true; otherwise Go's `strconv.ParseBool`.
pub fn parse_passing(params: &Params) -> Result<bool, ApiError> {
    match params.get("passing") {
        None => Ok(false),
        Some("") => Ok(true),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(_) => Err(ApiError::BadRequest("Invalid value for ?passing".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn parse(query: &str) -> Result<RequestOptions, ApiError> {
        let params = Params::parse(Some(query)).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        RequestOptions::parse(&params, &HeaderMap::new(), &ApiConfig::default(), &mut rng)
    }

    fn error_text(query: &str) -> String {
        parse(query).unwrap_err().to_string()
    }

    #[test]
    fn consistency_flags() {
        assert_eq!(parse("").unwrap().consistency, Consistency::Default);
        assert_eq!(parse("stale=").unwrap().consistency, Consistency::Stale);
        assert_eq!(
            parse("consistent").unwrap().consistency,
            Consistency::Consistent
        );
        assert_eq!(parse("leader").unwrap().consistency, Consistency::Default);
        let stale = parse("max_stale=5s").unwrap();
        assert_eq!(stale.consistency, Consistency::Stale);
        assert_eq!(stale.max_stale, Some(Duration::from_secs(5)));
        assert_eq!(
            error_text("stale&consistent"),
            "Cannot specify ?stale with ?consistent, conflicting semantics."
        );
        assert_eq!(error_text("max_stale=x"), "Invalid max_stale value \"x\"");
    }

    #[test]
    fn index_and_wait() {
        assert_eq!(error_text("index=abc"), "Invalid index");
        assert_eq!(error_text("index=-1"), "Invalid index");
        assert_eq!(error_text("wait=forever"), "Invalid wait time");
        let plain = parse("wait=10s").unwrap();
        assert_eq!((plain.min_index, plain.wait), (Index::ZERO, Duration::ZERO));
        let blocking = parse("index=5&wait=300000ms").unwrap();
        assert_eq!(blocking.min_index, Index(5));
        let base = Duration::from_secs(300);
        assert!(blocking.wait >= base && blocking.wait <= base + base / 16);
    }

    #[test]
    fn wait_is_capped_defaulted_and_jittered() {
        let config = ApiConfig::default();
        let mut rng = StdRng::seed_from_u64(1);
        let ten_minutes = Duration::from_secs(600);
        let mut seen_jitter = false;
        for _ in 0..200 {
            let capped = blocking_wait(3_600_000_000_000, &config, &mut rng);
            assert!(capped >= ten_minutes && capped <= ten_minutes + ten_minutes / 16);
            seen_jitter |= capped > ten_minutes;
            let default = blocking_wait(0, &config, &mut rng);
            let five = Duration::from_secs(300);
            assert!(default >= five && default <= five + five / 16);
            let negative = blocking_wait(-1, &config, &mut rng);
            assert!(negative >= five);
        }
        assert!(seen_jitter, "the jitter is random, not always zero");
    }

    #[test]
    fn enterprise_selectors_are_refused() {
        assert!(error_text("ns=team").contains("Namespaces are a Consul Enterprise feature"));
        assert!(error_text("partition=p").contains("Partitions are a Consul Enterprise feature"));
        assert!(parse("ns=").is_ok());
        let params = Params::default();
        let mut headers = HeaderMap::new();
        headers.insert("X-Consul-Namespace", "default".parse().unwrap());
        let refused = refuse_enterprise(&params, &headers)
            .unwrap_err()
            .to_string();
        assert!(refused.starts_with("Invalid header: \"X-Consul-Namespace\""));
    }

    #[test]
    fn filters_are_parsed_after_the_other_parameters_and_only_where_used() {
        let options = parse("filter=Service.Tags+contains+%22v1%22").unwrap();
        assert_eq!(
            options.filter.as_deref(),
            Some("Service.Tags contains \"v1\"")
        );
        assert_eq!(parse("filter=").unwrap().filter, None);
        // Unparsable, yet the options parse: only an endpoint that filters refuses it.
        let refused = options_with("filter=Service.Tags")
            .filter_for(&crate::filter::records::SERVICE_NODE)
            .unwrap_err();
        assert_eq!(
            refused.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            refused.to_string(),
            "Failed to create boolean expression evaluator: 1:13 (12): no match found, \
             expected: \"!=\", \".\", \"==\", \"[\", [ \\t\\r\\n] or [a-zA-Z0-9_]"
        );
        assert_eq!(error_text("filter=x&index=x"), "Invalid index");
        let bound = options_with("filter=Nope+%3D%3D+1")
            .filter_for(&crate::filter::records::NODE)
            .unwrap_err();
        assert_eq!(
            bound.to_string(),
            "Failed to create boolean expression evaluator: Selector \"Nope\" is not valid"
        );
        assert!(parse("")
            .unwrap()
            .filter_for(&crate::filter::records::NODE)
            .unwrap()
            .is_none());
    }

    fn options_with(query: &str) -> RequestOptions {
        parse(query).unwrap()
    }

    #[test]
    fn tags_meta_and_unknowns() {
        let options =
            parse("tag=a&tag=b&node-meta=rack:r1&node-meta=bare&unknown=1&dc=dc2").unwrap();
        assert_eq!(options.tags, ["a", "b"]);
        assert_eq!(
            options.node_meta,
            [
                ("rack".to_owned(), "r1".to_owned()),
                ("bare".to_owned(), String::new())
            ]
        );
        assert_eq!(options.datacenter, Some(Datacenter::from("dc2")));
        let local = Datacenter::from("dc2");
        assert_eq!(options.read_options(&local).datacenter, None);
    }

    #[test]
    fn passing_flag() {
        let check = |query: &str| parse_passing(&Params::parse(Some(query)).unwrap());
        assert!(!check("").unwrap());
        assert!(check("passing").unwrap());
        assert!(check("passing=true").unwrap());
        assert!(!check("passing=false").unwrap());
        assert!(check("passing=maybe").is_err());
    }
}
