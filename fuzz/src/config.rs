//! Config files: a JSON file as `-config-file` reads it, then resolved into the agent's
//! configuration the way a start would (validation included), with a data directory given so
//! that the file alone decides the rest.

use legate_agent::config::{file, AgentFlags, Config};
use std::path::{Path, PathBuf};

pub fn files(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((config, warnings)) = file::parse(Path::new("fuzz.json"), text) else {
        return;
    };
    let flags = AgentFlags {
        data_dir: Some(PathBuf::from("/nonexistent/legate-fuzz")),
        ..AgentFlags::default()
    };
    let _ = Config::resolve_with(&flags, config, warnings);
}
