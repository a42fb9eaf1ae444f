//! `legate kv get|put|delete`, printing what `consul kv` prints.

use super::{call_failed, HttpFlags, Outcome};
use clap::{Args, Subcommand};
use legate_api::client::{KvDeleteOptions, KvPutOptions};
use std::io::Read;

#[derive(Debug, Args)]
pub struct KvCommand {
    #[command(subcommand)]
    pub op: KvOp,
}

#[derive(Debug, Subcommand)]
pub enum KvOp {
    /// Read a key, or every key under a prefix.
    Get(GetArgs),
    /// Write a key.
    Put(PutArgs),
    /// Delete a key, or every key under a prefix.
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Print every key under the prefix as `key:value`.
    #[arg(long)]
    recurse: bool,
    /// Print keys only.
    #[arg(long)]
    keys: bool,
    /// With -keys, roll keys up at this separator.
    #[arg(long, default_value = "/")]
    separator: String,
    /// Print every field of the entry.
    #[arg(long)]
    detailed: bool,
    #[arg(default_value = "")]
    key: String,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Write only if the key's ModifyIndex equals -modify-index (0: only if absent).
    #[arg(long)]
    cas: bool,
    #[arg(long = "modify-index", default_value_t = 0)]
    modify_index: u64,
    #[arg(long, default_value_t = 0)]
    flags: u64,
    /// Take the key's lock for -session (the write succeeds only if it is free).
    #[arg(long)]
    acquire: bool,
    /// Let go of the key's lock held by -session.
    #[arg(long)]
    release: bool,
    #[arg(long, default_value = "")]
    session: String,
    key: String,
    /// The value; `@file` reads a file, `-` reads standard input.
    value: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    http: HttpFlags,
    #[arg(long)]
    recurse: bool,
    #[arg(long)]
    cas: bool,
    #[arg(long = "modify-index", default_value_t = 0)]
    modify_index: u64,
    key: String,
}

pub async fn run(command: KvCommand) -> Outcome {
    match command.op {
        KvOp::Get(args) => get(args).await,
        KvOp::Put(args) => put(args).await,
        KvOp::Delete(args) => delete(args).await,
    }
}

fn text(value: &Option<Vec<u8>>) -> String {
    String::from_utf8_lossy(value.as_deref().unwrap_or_default()).into_owned()
}

async fn get(args: GetArgs) -> Outcome {
    let client = args.http.client();
    let options = args.http.query();
    if args.keys {
        let separator = Some(args.separator.as_str()).filter(|s| !s.is_empty());
        return match client.kv_keys(&args.key, separator, &options).await {
            Ok((keys, _)) => Outcome::ok(keys.iter().map(|k| format!("{k}\n")).collect()),
            Err(error) => call_failed("querying Consul agent", error),
        };
    }
    if args.recurse {
        return match client.kv_list(&args.key, &options).await {
            Ok((pairs, _)) => Outcome::ok(
                pairs
                    .iter()
                    .map(|pair| format!("{}:{}\n", pair.key, text(&pair.value)))
                    .collect(),
            ),
            Err(error) => call_failed("querying Consul agent", error),
        };
    }
    if args.key.is_empty() {
        return Outcome::fail("Error! Missing KEY argument".to_owned());
    }
    match client.kv_get(&args.key, &options).await {
        Ok((Some(pair), _)) if args.detailed => {
            let rows = vec![
                vec!["CreateIndex".to_owned(), pair.create_index.to_string()],
                vec!["Flags".to_owned(), pair.flags.to_string()],
                vec!["Key".to_owned(), pair.key.clone()],
                vec!["LockIndex".to_owned(), pair.lock_index.to_string()],
                vec!["ModifyIndex".to_owned(), pair.modify_index.to_string()],
                vec![
                    "Session".to_owned(),
                    pair.session.clone().unwrap_or("-".into()),
                ],
                vec!["Value".to_owned(), text(&pair.value)],
            ];
            Outcome::ok(super::table::render(&rows))
        }
        Ok((Some(pair), _)) => Outcome::ok(format!("{}\n", text(&pair.value))),
        Ok((None, _)) => Outcome::fail(format!("Error! No key exists at: {}", args.key)),
        Err(error) => call_failed("querying Consul agent", error),
    }
}

fn read_value(value: Option<String>) -> Result<Vec<u8>, String> {
    match value.as_deref() {
        None => Ok(Vec::new()),
        Some("-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("Error! Failed to read stdin: {e}"))?;
            Ok(bytes)
        }
        Some(text) => match text.strip_prefix('@') {
            Some(path) => {
                std::fs::read(path).map_err(|e| format!("Error! Failed to read file {path}: {e}"))
            }
            None => Ok(text.as_bytes().to_vec()),
        },
    }
}

async fn put(args: PutArgs) -> Outcome {
    let value = match read_value(args.value) {
        Ok(value) => value,
        Err(message) => return Outcome::fail(message),
    };
    if (args.acquire || args.release) && args.session.is_empty() {
        return Outcome::fail(
            "Error! Missing -session (required with -acquire and -release)".to_owned(),
        );
    }
    let options = KvPutOptions {
        flags: args.flags,
        cas: args.cas.then_some(args.modify_index),
        acquire: args.acquire.then(|| args.session.clone()),
        release: args.release.then(|| args.session.clone()),
        datacenter: args.http.datacenter.clone(),
    };
    match args.http.client().kv_put(&args.key, &value, &options).await {
        Ok(true) if args.acquire => Outcome::ok(format!("Success! Lock acquired on: {}", args.key)),
        Ok(true) if args.release => Outcome::ok(format!("Success! Lock released on: {}", args.key)),
        Ok(false) if args.acquire => {
            Outcome::fail(format!("Error! Did not acquire lock on {}", args.key))
        }
        Ok(false) if args.release => {
            Outcome::fail(format!("Error! Did not release lock on {}", args.key))
        }
        Ok(true) => Outcome::ok(format!("Success! Data written to: {}", args.key)),
        Ok(false) => Outcome::fail(format!("Error! Did not write to {}: CAS failed", args.key)),
        Err(error) => call_failed(&format!("writing data to {}", args.key), error),
    }
}

async fn delete(args: DeleteArgs) -> Outcome {
    if args.recurse && args.cas {
        return Outcome::fail("Cannot specify both -cas and -recurse!".to_owned());
    }
    let options = KvDeleteOptions {
        recurse: args.recurse,
        cas: args.cas.then_some(args.modify_index),
        datacenter: args.http.datacenter.clone(),
    };
    match args.http.client().kv_delete(&args.key, &options).await {
        Ok(true) if args.recurse => {
            Outcome::ok(format!("Success! Deleted keys with prefix: {}", args.key))
        }
        Ok(true) => Outcome::ok(format!("Success! Deleted key: {}", args.key)),
        Ok(false) => Outcome::fail(format!(
            "Error! Did not delete key {}: CAS failed",
            args.key
        )),
        Err(error) => call_failed(&format!("deleting key {}", args.key), error),
    }
}
