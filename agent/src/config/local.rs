//! The host agent's settings: script-check permissions, anti-entropy and reaping timings,
//! and the services and checks defined in config files.

use super::file::FileConfig;
use super::{AgentFlags, ConfigError};
use crate::local::LocalConfig;
use legate_api::local::{CheckSpec, ServiceSpec};
use std::time::Duration;

/// The resolved local-agent part of the configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalSettings {
    pub config: LocalConfig,
    pub services: Vec<ServiceSpec>,
    pub checks: Vec<CheckSpec>,
}

fn duration(
    key: &'static str,
    value: &Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => legate_api::duration::parse_std(text)
            .ok()
            .filter(|value| !value.is_zero())
            .ok_or_else(|| ConfigError::BadDuration {
                key,
                value: text.clone(),
            }),
    }
}

pub fn resolve(flags: &AgentFlags, file: &FileConfig) -> Result<LocalSettings, ConfigError> {
    let defaults = LocalConfig::default();
    let config = LocalConfig {
        enable_script_checks: flags.enable_script_checks
            || file.enable_script_checks.unwrap_or(false),
        enable_local_script_checks: flags.enable_local_script_checks
            || file.enable_local_script_checks.unwrap_or(false),
        check_update_interval: duration(
            "check_update_interval",
            &file.check_update_interval,
            defaults.check_update_interval,
        )?,
        sync_interval: duration("ae_interval", &file.ae_interval, defaults.sync_interval)?,
        reap_interval: duration(
            "check_reap_interval",
            &file.check_reap_interval,
            defaults.reap_interval,
        )?,
        deregister_minimum: duration(
            "check_deregister_interval_min",
            &file.check_deregister_interval_min,
            defaults.deregister_minimum,
        )?,
        sync_wait: defaults.sync_wait,
    };
    let services = file
        .services
        .iter()
        .map(|body| {
            body.clone()
                .into_spec()
                .map_err(|error| ConfigError::BadDefinition {
                    what: "service",
                    text: error.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let checks = file
        .checks
        .iter()
        .map(|body| {
            body.clone()
                .into_spec()
                .map_err(|error| ConfigError::BadDefinition {
                    what: "check",
                    text: error.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LocalSettings {
        config,
        services,
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn definitions_and_knobs_from_files() {
        let (file, warnings) = super::super::file::parse(
            Path::new("svc.json"),
            r#"{"enable_local_script_checks":true,"ae_interval":"2s",
                "service":{"name":"web","port":80,"check":{"ttl":"30s"}},
                "services":[{"name":"db","checks":[{"tcp":"127.0.0.1:5432","interval":"10s"}]}],
                "checks":[{"id":"mem","name":"mem","args":["/bin/true"],"interval":"30s"}]}"#,
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut merged = FileConfig::default();
        merged.merge(file);
        let settings = resolve(&AgentFlags::default(), &merged).unwrap();
        assert!(settings.config.enable_local_script_checks);
        assert!(!settings.config.enable_script_checks);
        assert_eq!(settings.config.sync_interval, Duration::from_secs(2));
        let names: Vec<_> = settings
            .services
            .iter()
            .map(|s| s.service.name.as_str())
            .collect();
        assert_eq!(names, ["web", "db"]);
        assert_eq!(settings.services[0].checks[0].id.as_str(), "service:web");
        assert_eq!(settings.checks[0].id.as_str(), "mem");
    }

    #[test]
    fn bad_definitions_stop_the_agent() {
        let (file, _) =
            super::super::file::parse(Path::new("bad.json"), r#"{"services":[{"port":80}]}"#)
                .unwrap();
        let mut merged = FileConfig::default();
        merged.merge(file);
        let error = resolve(&AgentFlags::default(), &merged).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid service definition in config: Missing service name"
        );
    }
}
