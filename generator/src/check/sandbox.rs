//! Runs a repository's own policies in a child `socle` process
//! ([`super::worker`]) under bounds of time, memory and stack, and turns
//! whatever ends that process into a reason naming the bound.
//!
//! The worker lives as long as its [`Worker`]: compiling the modules once
//! and sending each input over a pipe costs far less than a process per
//! evaluation, which matters on a range of a thousand commits.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::worker::{Reply, Request, TIME_EXIT, UNBOUNDED_EXIT};

/// The largest reply read from a worker: a policy's messages, not data.
const MAX_REPLY: u64 = 64 << 20;
/// How much of the worker's stderr is kept to explain its end.
const STDERR_TAIL: usize = 4096;

/// The bounds of one repository-policy evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Wall-clock time of one query (one rule on one input).
    pub time: Duration,
    /// Memory the worker may take beyond what it holds at start, in bytes.
    pub memory: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            time: Duration::from_secs(5),
            memory: 1 << 30,
        }
    }
}

/// Why a worker stopped answering.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Stopped {
    #[error("time bound hit: it ran longer than --policy-timeout ({} ms)", .0.as_millis())]
    Time(Duration),
    #[error("memory bound hit: it needed more than --policy-memory ({} MiB)", .0 >> 20)]
    Memory(u64),
    #[error("stack bound hit: its recursion went deeper than the evaluation stack allows (a Rego rule or function that calls itself?)")]
    Stack,
    #[error("the policy worker could not start: {0}")]
    Start(String),
    #[error("the policy worker ended unexpectedly ({status}){}", detail(.stderr))]
    Crashed { status: String, stderr: String },
}

fn detail(stderr: &str) -> String {
    match stderr.trim() {
        "" => String::new(),
        s => format!(": {s}"),
    }
}

/// A running worker.
pub(crate) struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<Result<String, String>>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    bounds: Bounds,
}

impl Worker {
    /// Starts a worker and compiles `modules` in it; the reply is
    /// [`Reply::Packages`] or [`Reply::CompileError`].
    pub(crate) fn start(
        modules: &[(String, String)],
        rego_v0: bool,
        bounds: Bounds,
    ) -> Result<(Self, Reply), Stopped> {
        let exe = std::env::current_exe().map_err(|e| Stopped::Start(e.to_string()))?;
        let mut child = Command::new(exe)
            .arg("policy-worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Rust's own backtrace would bury the one line that names the bound.
            .env("RUST_BACKTRACE", "0")
            .spawn()
            .map_err(|e| Stopped::Start(e.to_string()))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Stopped::Start("no pipes to the worker".into()));
        };
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || read_replies(stdout, tx));
        let tail = Arc::new(Mutex::new(String::new()));
        let stderr_reader = {
            let tail = Arc::clone(&tail);
            std::thread::spawn(move || keep_tail(stderr, &tail))
        };
        let mut worker = Self {
            child,
            stdin: Some(stdin),
            replies,
            stderr: tail,
            stderr_reader: Some(stderr_reader),
            bounds,
        };
        let reply = worker.ask(&Request::Init {
            modules: modules.to_vec(),
            rego_v0,
            timeout_ms: u64::try_from(bounds.time.as_millis()).unwrap_or(u64::MAX),
            memory_bytes: bounds.memory,
        })?;
        Ok((worker, reply))
    }

    /// Merges documents into `data`.
    pub(crate) fn data(&mut self, json: &str) -> Result<Reply, Stopped> {
        self.ask(&Request::Data(json.to_owned()))
    }

    /// Sets the input of the following queries.
    pub(crate) fn input(&mut self, json: &str) -> Result<(), Stopped> {
        self.send(&Request::Input(json.to_owned()))
    }

    /// Evaluates one query.
    pub(crate) fn query(&mut self, query: &str) -> Result<Reply, Stopped> {
        self.ask(&Request::Query(query.to_owned()))
    }

    fn send(&mut self, request: &Request) -> Result<(), Stopped> {
        let sent = match &mut self.stdin {
            Some(stdin) => serde_json::to_writer(&mut *stdin, request)
                .map_err(std::io::Error::from)
                .and_then(|()| stdin.write_all(b"\n"))
                .and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        match sent {
            Ok(()) => Ok(()),
            // A worker that ended takes its pipe with it: say why it ended.
            Err(_) => Err(self.stop(false)),
        }
    }

    /// Sends `request` and waits for its reply, no longer than one time
    /// bound and a margin: the worker's watchdog ends a query past its
    /// bound, this is the backstop should the worker hang outside one.
    fn ask(&mut self, request: &Request) -> Result<Reply, Stopped> {
        self.send(request)?;
        let guard = self.bounds.time + super::worker::GRACE + Duration::from_secs(2);
        match self.replies.recv_timeout(guard) {
            Ok(Ok(line)) => serde_json::from_str(&line).map_err(|e| Stopped::Crashed {
                status: "unreadable reply".into(),
                stderr: e.to_string(),
            }),
            Ok(Err(e)) => {
                let _ = self.child.kill();
                Err(match self.stop(false) {
                    Stopped::Crashed { status, .. } => Stopped::Crashed { status, stderr: e },
                    other => other,
                })
            }
            Err(RecvTimeoutError::Timeout) => Err(self.stop(true)),
            Err(RecvTimeoutError::Disconnected) => Err(self.stop(false)),
        }
    }

    /// Ends the worker (if it still runs) and names the bound that ended it.
    fn stop(&mut self, timed_out: bool) -> Stopped {
        self.stdin = None;
        if timed_out {
            let _ = self.child.kill();
        }
        let status = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        if timed_out {
            return Stopped::Time(self.bounds.time);
        }
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                return Stopped::Crashed {
                    status: e.to_string(),
                    stderr,
                }
            }
        };
        if status.code() == Some(TIME_EXIT) {
            Stopped::Time(self.bounds.time)
        } else if stderr.contains("has overflowed its stack") {
            Stopped::Stack
        } else if stderr.contains("memory allocation of") || stderr.contains("capacity overflow") {
            Stopped::Memory(self.bounds.memory)
        } else if status.code() == Some(UNBOUNDED_EXIT) {
            Stopped::Start(stderr.trim().to_owned())
        } else {
            Stopped::Crashed {
                status: status.to_string(),
                stderr,
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin ends a healthy worker; kill covers a busy one.
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_replies(stdout: impl Read, tx: mpsc::Sender<Result<String, String>>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = Vec::new();
        match (&mut reader).take(MAX_REPLY).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line.last() != Some(&b'\n') => {
                let _ = tx.send(Err(format!("a reply longer than {} MiB", MAX_REPLY >> 20)));
                return;
            }
            Ok(_) => {
                let text = String::from_utf8_lossy(&line).into_owned();
                if tx.send(Ok(text)).is_err() {
                    return;
                }
            }
        }
    }
}

fn keep_tail(stderr: impl Read, tail: &Mutex<String>) {
    let mut reader = BufReader::new(stderr);
    let mut chunk = [0u8; 4096];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Ok(mut t) = tail.lock() {
                    t.push_str(&String::from_utf8_lossy(&chunk[..n]));
                    if t.len() > STDERR_TAIL {
                        let mut cut = t.len() - STDERR_TAIL;
                        while !t.is_char_boundary(cut) {
                            cut += 1;
                        }
                        t.drain(..cut);
                    }
                }
            }
        }
    }
}
