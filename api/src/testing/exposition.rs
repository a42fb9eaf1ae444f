//! A strict reader of Prometheus text exposition (0.0.4), for tests that check what
//! `?format=prometheus` answers: it refuses anything a Prometheus server would refuse to
//! scrape rather than skipping it.
//!
//! Checked: `# TYPE` comes before a family's samples and names a known type, names match
//! `[a-zA-Z_:][a-zA-Z0-9_:]*`, label sets are well quoted, values are floats (`NaN`, `+Inf`
//! included), a summary's samples are quantiles, `_sum` or `_count`, and no series repeats.

use std::collections::{BTreeMap, BTreeSet};

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A whole answer: each family's type, and the samples in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the series `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|sample| sample.name == name && sample.labels == wanted)
            .map(|sample| sample.value)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("bad value {text:?}")),
    }
}

/// Parses `{a="x",b="y"}` at the start of `text`; returns the labels and the rest.
fn parse_labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = &text[1..];
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let equals = rest.find('=').ok_or("label without =")?;
        let name = &rest[..equals];
        if !valid_name(name) || name.contains(':') {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[equals + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (at, '"') => break at,
                (_, c) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} repeated"));
        }
        rest = &rest[end + 1..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by ,".to_owned());
        }
    }
}

/// The family a sample name belongs to, given the declared types.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_sum", "_count", "_bucket"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|family| {
            types
                .get(*family)
                .is_some_and(|kind| kind == "summary" || kind == "histogram")
        })
}

/// Parses and checks `text`.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    let mut series = BTreeSet::new();
    for (number, line) in text.lines().enumerate() {
        let fail = |why: String| format!("line {}: {why}: {line:?}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match words.next() {
                Some("TYPE") => {
                    let name = words
                        .next()
                        .ok_or_else(|| fail("TYPE without name".into()))?;
                    let kind = words
                        .next()
                        .ok_or_else(|| fail("TYPE without type".into()))?;
                    if !valid_name(name) {
                        return Err(fail(format!("bad name {name:?}")));
                    }
                    if !["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind) {
                        return Err(fail(format!("unknown type {kind:?}")));
                    }
                    if exposition
                        .types
                        .insert(name.to_owned(), kind.to_owned())
                        .is_some()
                    {
                        return Err(fail(format!("{name} typed twice")));
                    }
                }
                Some("HELP") => {
                    let name = words
                        .next()
                        .ok_or_else(|| fail("HELP without name".into()))?;
                    if !valid_name(name) {
                        return Err(fail(format!("bad name {name:?}")));
                    }
                }
                _ => {}
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| fail("no value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(fail(format!("bad name {name:?}")));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(fail)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest.split_whitespace();
        let value =
            parse_value(fields.next().ok_or_else(|| fail("no value".into()))?).map_err(fail)?;
        // An optional timestamp, then nothing.
        if let Some(timestamp) = fields.next() {
            timestamp
                .parse::<i64>()
                .map_err(|_| fail("bad timestamp".into()))?;
        }
        if fields.next().is_some() {
            return Err(fail("trailing text".into()));
        }
        let family = family_of(name, &exposition.types)
            .ok_or_else(|| fail(format!("{name} has no # TYPE before it")))?;
        if exposition.types[family] == "summary"
            && name == family
            && !labels.contains_key("quantile")
        {
            return Err(fail("a summary sample without quantile".into()));
        }
        if !series.insert((name.to_owned(), labels.clone())) {
            return Err(fail("series repeated".into()));
        }
        exposition.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(exposition)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_valid_text_and_refuses_broken_text() {
        let text = "# HELP a_b help text\n# TYPE a_b summary\n\
                    a_b{x=\"1\\\"2\",quantile=\"0.5\"} NaN\na_b_sum{x=\"1\\\"2\"} 3\n\
                    a_b_count{x=\"1\\\"2\"} 2\n# TYPE c counter\nc 1.5e3\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.value("c", &[]), Some(1500.0));
        assert_eq!(parsed.value("a_b_count", &[("x", "1\"2")]), Some(2.0));
        for broken in [
            "c 1\n",                        // no TYPE
            "# TYPE c counter\nc{x=1} 1\n", // unquoted
            "# TYPE c counter\nc one\n",    // not a number
            "# TYPE c.d counter\n",         // bad name
            "# TYPE c counter\nc 1\nc 2\n", // repeated
            "# TYPE s summary\ns 1\n",      // no quantile
            "# TYPE c widget\n",            // unknown type
        ] {
            assert!(parse(broken).is_err(), "{broken:?} parsed");
        }
    }
}
