//! Template queries (`Template.Type = name_prefix_match`): a template answers every name that
//! starts with its own, and its definition is rendered for the name asked for.
//!
//! Interpolations (Consul's): `${name.full}` the name asked for, `${name.prefix}` the
//! template's own name, `${name.suffix}` the rest, `${match(N)}` the Nth group of `Regexp`
//! matched against the full name (empty when it does not match), `${agent.segment}` the
//! agent's network segment (empty). They apply to the service name, the tags, the near
//! node, the failover datacenters and the meta values; `RemoveEmptyTags` then drops the
//! tags that rendered empty. An unknown `${...}` is an error, as in Consul.

use super::definition::Definition;
use regex::Regex;

/// `definition` rendered for `full_name`, asked of the template named `prefix`.
pub fn render(
    definition: &Definition,
    prefix: &str,
    full_name: &str,
) -> Result<Definition, String> {
    let groups: Vec<String> = if definition.template.regexp.is_empty() {
        Vec::new()
    } else {
        let regexp = Regex::new(&definition.template.regexp)
            .map_err(|error| format!("Bad Regexp: {error}"))?;
        match regexp.captures(full_name) {
            Some(captures) => captures
                .iter()
                .map(|group| group.map_or(String::new(), |m| m.as_str().to_owned()))
                .collect(),
            None => Vec::new(),
        }
    };
    let vars = Vars {
        full: full_name,
        prefix,
        suffix: full_name.strip_prefix(prefix).unwrap_or(""),
        groups: &groups,
    };
    let mut out = definition.clone();
    let service = &mut out.service;
    service.service = vars.expand(&service.service)?;
    service.near = vars.expand(&service.near)?;
    for tag in &mut service.tags {
        *tag = vars.expand(tag)?;
    }
    if out.template.remove_empty_tags {
        service.tags.retain(|tag| !tag.is_empty());
    }
    for dc in &mut service.failover.datacenters {
        *dc = vars.expand(dc)?;
    }
    for value in service
        .node_meta
        .values_mut()
        .chain(service.service_meta.values_mut())
    {
        *value = vars.expand(value)?;
    }
    Ok(out)
}

struct Vars<'a> {
    full: &'a str,
    prefix: &'a str,
    suffix: &'a str,
    groups: &'a [String],
}

impl Vars<'_> {
    fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("unterminated interpolation in {text:?}"));
            };
            out.push_str(&self.value(after[..end].trim())?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn value(&self, name: &str) -> Result<String, String> {
        match name {
            "name.full" => Ok(self.full.to_owned()),
            "name.prefix" => Ok(self.prefix.to_owned()),
            "name.suffix" => Ok(self.suffix.to_owned()),
            "agent.segment" => Ok(String::new()),
            _ => {
                let index = name
                    .strip_prefix("match(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .ok_or_else(|| format!("unknown interpolation ${{{name}}}"))?;
                Ok(self.groups.get(index).cloned().unwrap_or_default())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepared_query::definition::{ServiceDef, TemplateDef};

    fn template(service: &str, tags: &[&str], regexp: &str, remove_empty: bool) -> Definition {
        Definition {
            template: TemplateDef {
                kind: "name_prefix_match".into(),
                regexp: regexp.into(),
                remove_empty_tags: remove_empty,
            },
            service: ServiceDef {
                service: service.into(),
                tags: tags.iter().map(|tag| tag.to_string()).collect(),
                ..ServiceDef::default()
            },
            ..Definition::default()
        }
    }

    #[test]
    fn renders_names_and_regexp_groups() {
        let geo = template("${name.suffix}", &["${name.prefix}x"], "", false);
        let out = render(&geo, "geo-", "geo-db").unwrap();
        assert_eq!(out.service.service, "db");
        assert_eq!(out.service.tags, ["geo-x"]);

        let re = template(
            "${match(1)}",
            &["${match(2)}", "v${match(3)}"],
            r"^query-(\w+)-(\w+)?-?(\d)?$",
            true,
        );
        let out = render(&re, "query-", "query-web-blue-2").unwrap();
        assert_eq!(out.service.service, "web");
        assert_eq!(out.service.tags, ["blue", "v2"]);
        // A group that did not take part renders empty; RemoveEmptyTags drops that tag.
        let out = render(&re, "query-", "query-api-").unwrap();
        assert_eq!(out.service.service, "api");
        assert_eq!(out.service.tags, ["v"]);

        let full = template("${name.full}", &[], "", false);
        assert_eq!(
            render(&full, "", "anything").unwrap().service.service,
            "anything"
        );
        let bad = template("${nope}", &[], "", false);
        assert!(render(&bad, "", "x").is_err());
    }
}
