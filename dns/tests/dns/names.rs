//! Golden test of question-name parsing: `testdata/names.txt` in, `names.golden` out.

use crate::harness::{check_golden, config, testdata};
use hickory_proto::rr::{Name, RecordType};
use legate_dns::name;

#[test]
fn names_parse_as_golden() {
    let cases = std::fs::read_to_string(testdata("names.txt")).unwrap();
    let config = config("default");
    let mut out = String::new();
    for line in cases.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut words = line.split_whitespace();
        let text = words.next().unwrap();
        let qtype = words.next().map_or(RecordType::A, crate::harness::qtype);
        let parsed = name::parse(&Name::from_ascii(text).unwrap(), qtype, &config);
        let domain = if parsed.domain.is_empty() {
            "-".to_owned()
        } else {
            parsed.domain.clone()
        };
        out.push_str(&format!(
            "{text} {qtype} => {:?} @ {domain}\n",
            parsed.query
        ));
    }
    check_golden("names.golden", &out);
}
