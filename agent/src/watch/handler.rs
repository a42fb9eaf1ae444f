//! Running a watch's handler with an answer, as Consul's `agent/watch_handler.go` and
//! `command/watch` do.
//!
//! A script handler gets the JSON (compact, one line) on stdin and `CONSUL_INDEX` in its
//! environment; `Shell` runs under `$SHELL -c` (`/bin/sh` by default), `Args` directly. An
//! HTTP handler gets the JSON as the body of a request to its path, with `Content-Type:
//! application/json`, `X-Consul-Index` and its own headers. The agent keeps the last 4 KiB
//! of what a handler prints (Consul's `WatchBufSize`) for its log.

use super::spec::{Handler, HttpHandler};
use std::process::Stdio;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Consul's `WatchBufSize`: how much of a handler's output the agent keeps.
pub const OUTPUT_KEPT: usize = 4 * 1024;

/// Why a handler run failed. The watch itself goes on (the agent) or stops (the command).
#[derive(Debug, Error)]
pub enum HandlerError {
    /// The handler could not be started (no such program, no permission).
    #[error("{0}")]
    Start(std::io::Error),
    /// It ran and exited with a failure status, in Go's words (`exit status 3`).
    #[error("exit status {0}")]
    Exit(i32),
    /// It was killed by a signal.
    #[error("signal: {0}")]
    Signal(i32),
    /// Waiting for it failed.
    #[error("{0}")]
    Wait(std::io::Error),
    /// The HTTP handler could not be reached, or answered outside 2xx (the text says).
    #[error("{0}")]
    Http(String),
}

/// What a handler printed (stdout and stderr together), at most `OUTPUT_KEPT` bytes of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub kept: Vec<u8>,
    pub total: usize,
}

impl Output {
    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > OUTPUT_KEPT {
            let drop = self.kept.len() - OUTPUT_KEPT;
            self.kept.drain(..drop);
        }
    }

    /// The text to log, with Consul's note when output was cut.
    pub fn text(&self) -> String {
        let kept = String::from_utf8_lossy(&self.kept);
        if self.total > self.kept.len() {
            format!(
                "Captured {} of {} bytes\n...\n{kept}",
                self.kept.len(),
                self.total
            )
        } else {
            kept.into_owned()
        }
    }
}

/// The handler's input: Go's `json.Encoder` output, one compact line.
pub fn input(result: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(result.len() + 1);
    bytes.extend_from_slice(result.as_bytes());
    bytes.push(b'\n');
    bytes
}

/// The process a script handler runs.
fn command(handler: &Handler) -> Option<tokio::process::Command> {
    match handler {
        Handler::Shell(script) => {
            let shell = std::env::var("SHELL")
                .ok()
                .filter(|shell| !shell.is_empty())
                .unwrap_or_else(|| "/bin/sh".to_owned());
            let mut command = tokio::process::Command::new(shell);
            command.arg("-c").arg(script);
            Some(command)
        }
        Handler::Args(args) => {
            let (program, rest) = args.split_first()?;
            let mut command = tokio::process::Command::new(program);
            command.args(rest);
            Some(command)
        }
        Handler::Http(_) => None,
    }
}

/// Where a script's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputTo {
    /// The caller's own stdout and stderr (`legate watch`).
    Inherit,
    /// Kept for the log (the agent).
    Keep,
}

async fn drain(mut from: impl AsyncRead + Unpin, into: &std::sync::Mutex<Output>) {
    let mut buffer = [0u8; 4096];
    while let Ok(read) = from.read(&mut buffer).await {
        if read == 0 {
            return;
        }
        into.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(&buffer[..read]);
    }
}

/// Runs `handler` once with `result` at `index`.
pub async fn run(
    handler: &Handler,
    index: u64,
    result: &str,
    output_to: OutputTo,
) -> Result<Output, HandlerError> {
    if let Handler::Http(http) = handler {
        return post(http, index, result).await;
    }
    let mut command = command(handler).ok_or_else(|| {
        HandlerError::Start(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty handler",
        ))
    })?;
    command
        .env("CONSUL_INDEX", index.to_string())
        .stdin(Stdio::piped())
        .kill_on_drop(true);
    if output_to == OutputTo::Keep {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = command.spawn().map_err(HandlerError::Start)?;
    let stdin = child.stdin.take();
    let write = async move {
        if let Some(mut stdin) = stdin {
            // A handler that exits without reading its input is not an error.
            let _ = stdin.write_all(&input(result)).await;
        }
    };
    let output = std::sync::Mutex::new(Output::default());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_out = async {
        if let Some(stdout) = stdout {
            drain(stdout, &output).await;
        }
    };
    let read_err = async {
        if let Some(stderr) = stderr {
            drain(stderr, &output).await;
        }
    };
    let ((), (), (), status) = tokio::join!(write, read_out, read_err, child.wait());
    let status = status.map_err(HandlerError::Wait)?;
    let output = output
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if status.success() {
        return Ok(output);
    }
    match status.code() {
        Some(code) => Err(HandlerError::Exit(code)),
        None => Err(HandlerError::Signal(
            std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0),
        )),
    }
}

async fn post(http: &HttpHandler, index: u64, result: &str) -> Result<Output, HandlerError> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(http.tls_skip_verify)
        .timeout(http.timeout)
        .build()
        .map_err(|error| HandlerError::Http(error.to_string()))?;
    let method = reqwest::Method::from_bytes(http.method.as_bytes())
        .map_err(|error| HandlerError::Http(error.to_string()))?;
    let mut request = client
        .request(method, &http.path)
        .header("Content-Type", "application/json")
        .header("X-Consul-Index", index.to_string())
        .body(input(result));
    for (name, values) in &http.header {
        for value in values {
            request = request.header(name.as_str(), value.as_str());
        }
    }
    let response = request
        .send()
        .await
        .map_err(|error| HandlerError::Http(error.to_string()))?;
    let status = response.status();
    let mut output = Output::default();
    output.push(&response.bytes().await.unwrap_or_default());
    if status.is_success() {
        Ok(output)
    } else {
        Err(HandlerError::Http(format!(
            "got '{status}' with output: {}",
            output.text()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_script_reads_the_json_and_the_index() {
        let handler = Handler::Shell("cat; echo \" $CONSUL_INDEX\"".into());
        let output = run(&handler, 42, r#"{"Key":"k"}"#, OutputTo::Keep)
            .await
            .unwrap();
        assert_eq!(output.text(), "{\"Key\":\"k\"}\n 42\n");
        let args = Handler::Args(vec!["sh".into(), "-c".into(), "exit 3".into()]);
        let error = run(&args, 1, "null", OutputTo::Keep).await.unwrap_err();
        assert_eq!(error.to_string(), "exit status 3");
        let missing = Handler::Args(vec!["/no/such/handler".into()]);
        assert!(matches!(
            run(&missing, 1, "null", OutputTo::Keep).await,
            Err(HandlerError::Start(_))
        ));
    }

    #[tokio::test]
    async fn an_http_handler_gets_the_json_and_the_index() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !String::from_utf8_lossy(&request).ends_with("[1]\n") {
                let read = stream.read(&mut buffer).await.unwrap();
                assert!(read > 0);
                request.extend_from_slice(&buffer[..read]);
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            String::from_utf8(request).unwrap()
        });
        let handler = Handler::Http(HttpHandler {
            path: format!("http://{addr}/hook"),
            method: "PUT".into(),
            timeout: std::time::Duration::from_secs(5),
            header: std::collections::BTreeMap::from([("X-Team".into(), vec!["ops".into()])]),
            tls_skip_verify: false,
        });
        let output = run(&handler, 7, "[1]", OutputTo::Keep).await.unwrap();
        assert_eq!(output.text(), "ok");
        let request = server.await.unwrap().to_ascii_lowercase();
        assert!(request.starts_with("put /hook http/1.1\r\n"), "{request}");
        for line in [
            "content-type: application/json",
            "x-consul-index: 7",
            "x-team: ops",
        ] {
            assert!(request.contains(line), "{line}: {request}");
        }
    }

    #[test]
    fn output_keeps_the_last_4_kib() {
        let mut output = Output::default();
        output.push(&vec![b'a'; 5000]);
        output.push(b"end");
        assert_eq!(output.kept.len(), OUTPUT_KEPT);
        assert!(output
            .text()
            .starts_with("Captured 4096 of 5003 bytes\n...\n"));
        assert!(output.text().ends_with("aend"));
    }
}
