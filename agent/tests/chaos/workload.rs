//! The clients: each sends a random mix of writes of unique values, reads in every
//! consistency mode and compare-and-sets by `ModifyIndex` to a random agent, and records
//! what it sent, when, and what it was told.

use base64::Engine;
use legate_lincheck::{Input, Operation, Output};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Few keys, so that operations on each overlap often.
pub const KEYS: [&str; 4] = ["chaos/a", "chaos/b", "chaos/c", "chaos/d"];
/// Short, so that a request caught by a fault becomes an unknown outcome rather than a
/// client stuck for the rest of the run.
const TIMEOUT: Duration = Duration::from_secs(2);

pub struct Recorder {
    epoch: Instant,
    history: Mutex<Vec<Operation>>,
    /// Per operation, for a look at a violation: "client call agent modify_index".
    trace: Mutex<Vec<String>>,
    /// `?stale` reads: (key, value). Not linearizable by design; checked apart.
    stale: Mutex<Vec<(String, Option<String>)>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            epoch: Instant::now(),
            history: Mutex::new(Vec::new()),
            trace: Mutex::new(Vec::new()),
            stale: Mutex::new(Vec::new()),
        }
    }

    /// Microseconds since the run began: the clock of every operation's `call` and `ret`.
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn record(&self, operation: Operation) {
        self.history.lock().unwrap().push(operation);
    }

    /// Notes which agent answered the call `call` of `client`, and the `ModifyIndex` it
    /// read (0 for none or a write).
    fn note(&self, client: u32, call: u64, agent: usize, index: u64) {
        self.trace
            .lock()
            .unwrap()
            .push(format!("{client} {call} agent{agent} {index}"));
    }

    /// The trace so far, one line per operation.
    pub fn trace(&self) -> String {
        self.trace.lock().unwrap().join("\n")
    }

    pub fn take(&self) -> (Vec<Operation>, Vec<(String, Option<String>)>) {
        (
            std::mem::take(&mut *self.history.lock().unwrap()),
            std::mem::take(&mut *self.stale.lock().unwrap()),
        )
    }
}

/// xorshift: the mix and the targets replay from the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

enum Read {
    /// The value with its `ModifyIndex` (0 for a missing key), for a compare-and-set.
    Entry(Option<String>, u64),
    Unknown,
}

fn read(http: &reqwest::blocking::Client, agent: &str, key: &str, mode: &str) -> Read {
    let url = format!("{agent}/v1/kv/{key}?{mode}");
    let Ok(response) = http.get(url).send() else {
        return Read::Unknown;
    };
    match response.status().as_u16() {
        404 => Read::Entry(None, 0),
        200 => {
            let Ok(body) = response.json::<serde_json::Value>() else {
                return Read::Unknown;
            };
            let entry = &body[0];
            let value = entry["Value"].as_str().and_then(|text| {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
            });
            match entry["ModifyIndex"].as_u64() {
                Some(index) => Read::Entry(value, index),
                None => Read::Unknown,
            }
        }
        _ => Read::Unknown,
    }
}

fn put(http: &reqwest::blocking::Client, url: String, value: &str) -> Option<bool> {
    let response = http.put(url).body(value.to_owned()).send().ok()?;
    if response.status().as_u16() != 200 {
        return None;
    }
    match response.text().ok()?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Runs one client until `stop`.
pub fn client(client: u32, seed: u64, agents: &[String], recorder: &Recorder, stop: &AtomicBool) {
    let http = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    let mut rng = Rng::new(seed ^ (u64::from(client) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = KEYS[rng.below(KEYS.len() as u64) as usize];
        let picked = rng.below(agents.len() as u64) as usize;
        let agent = &agents[picked];
        let operation = |input: Input, output: Output, call: u64, ret: Option<u64>| Operation {
            client,
            key: key.to_owned(),
            input,
            output,
            call,
            ret,
        };
        match rng.below(20) {
            0..=6 => {
                let value = format!("c{client}-{n}");
                let call = recorder.now();
                let answer = put(&http, format!("{agent}/v1/kv/{key}"), &value);
                let ret = recorder.now();
                let (output, ret) = match answer {
                    Some(true) => (Output::Written, Some(ret)),
                    _ => (Output::Unknown, None),
                };
                recorder.note(client, call, picked, 0);
                recorder.record(operation(Input::Write(value), output, call, ret));
            }
            7..=13 => {
                // Default or consistent: both must be linearizable.
                let mode = if rng.below(2) == 0 { "" } else { "consistent" };
                let call = recorder.now();
                let answer = read(&http, agent, key, mode);
                let ret = recorder.now();
                if let Read::Entry(value, index) = answer {
                    recorder.note(client, call, picked, index);
                    recorder.record(operation(Input::Read, Output::Read(value), call, Some(ret)));
                }
            }
            14..=15 => {
                if let Read::Entry(value, _) = read(&http, agent, key, "stale") {
                    recorder.stale.lock().unwrap().push((key.to_owned(), value));
                }
            }
            _ => {
                // Go's api.KV CAS: read the entry, then write only if it is unchanged.
                let call = recorder.now();
                let answer = read(&http, agent, key, "");
                let ret = recorder.now();
                let Read::Entry(from, index) = answer else {
                    continue;
                };
                recorder.note(client, call, picked, index);
                recorder.record(operation(
                    Input::Read,
                    Output::Read(from.clone()),
                    call,
                    Some(ret),
                ));
                let to = format!("c{client}-{n}");
                let call = recorder.now();
                let answer = put(&http, format!("{agent}/v1/kv/{key}?cas={index}"), &to);
                let ret = recorder.now();
                let (output, ret) = match answer {
                    Some(swapped) => (Output::Cas(swapped), Some(ret)),
                    None => (Output::Unknown, None),
                };
                recorder.note(client, call, picked, 0);
                recorder.record(operation(Input::Cas { from, to }, output, call, ret));
            }
        }
    }
}

/// Reads every key once more with `?consistent`, through any agent that answers.
pub fn final_reads(recorder: &Recorder, agents: &[String]) {
    let http = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    for key in KEYS {
        let deadline = Instant::now() + crate::harness::DEADLINE;
        loop {
            assert!(
                Instant::now() < deadline,
                "no agent answered a read of {key}"
            );
            let agent = &agents[(recorder.now() % agents.len() as u64) as usize];
            let call = recorder.now();
            if let Read::Entry(value, _) = read(&http, agent, key, "consistent") {
                let ret = recorder.now();
                recorder.record(Operation {
                    client: u32::MAX,
                    key: key.to_owned(),
                    input: Input::Read,
                    output: Output::Read(value),
                    call,
                    ret: Some(ret),
                });
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Every value any client tried to write.
pub fn written_values(history: &[Operation]) -> HashSet<String> {
    history
        .iter()
        .filter_map(|operation| match &operation.input {
            Input::Write(value) | Input::Cas { to: value, .. } => Some(value.clone()),
            Input::Read => None,
        })
        .collect()
}
