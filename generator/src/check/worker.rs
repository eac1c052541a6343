//! The process that runs a repository's own policies (`socle policy-worker`,
//! started by [`super::sandbox`]).
//!
//! A repository policy is code from the pull request under review. Regorus
//! bounds its time between statements only, and nothing in-process can
//! survive what a four-line policy can do: recurse until the stack
//! overflows, or ask one builtin for a 24 GB array. Here the worst case
//! ends this process, under bounds set before the first module is parsed,
//! and the check goes on with a finding.
//!
//! Protocol: one JSON [`Request`] per line on stdin, one JSON [`Reply`] per
//! line on stdout (an [`Request::Input`] gets none).

use std::io::{BufRead, Write};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use regorus::utils::limits::ExecutionTimerConfig;
use serde::{Deserialize, Serialize};

/// The exit status of a worker whose query outlived its time bound.
pub(crate) const TIME_EXIT: i32 = 3;
/// The exit status of a worker that could not set its bounds.
pub(crate) const UNBOUNDED_EXIT: i32 = 4;
/// How long past the time bound the watchdog waits, so that regorus' own
/// timer (which leaves the worker usable) fires first when it can.
pub(crate) const GRACE: Duration = Duration::from_millis(250);

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Request {
    /// The first request: bounds, then the modules to compile.
    Init {
        modules: Vec<(String, String)>,
        rego_v0: bool,
        timeout_ms: u64,
        memory_bytes: u64,
    },
    /// Documents merged into `data` (conftest's `--data`), as JSON text;
    /// answered with empty values, or the error.
    Data(String),
    /// The input of the following queries, as JSON text.
    Input(String),
    /// A query such as `data.team.deny`.
    Query(String),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reply {
    /// Compiled: `(package as data.x.y, file declaring it)`, in module order.
    Packages(Vec<(String, String)>),
    CompileError {
        file: String,
        message: String,
    },
    /// The value of every expression of every result, in order.
    Values(Vec<serde_json::Value>),
    /// The query or the input failed, the worker is still usable.
    Error(String),
}

/// Milliseconds since [`epoch`] at which the running query started, plus
/// one; 0 while idle.
static STARTED: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// Ends the process when one query runs past `limit`: a builtin that
/// loops inside one call never reaches regorus' timer checks.
fn watchdog(limit: Duration) -> std::io::Result<()> {
    let limit_ms = u64::try_from((limit + GRACE).as_millis()).unwrap_or(u64::MAX);
    let tick = (limit / 4).clamp(Duration::from_millis(5), Duration::from_millis(50));
    std::thread::Builder::new()
        .name("watchdog".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            std::thread::sleep(tick);
            let started = STARTED.load(Ordering::Relaxed);
            if started != 0 && now_ms().saturating_sub(started) > limit_ms {
                std::process::exit(TIME_EXIT);
            }
        })
        .map(drop)
}

/// Caps the address space at what the process holds now plus `bytes`,
/// so that the bound is what the policy may use, whatever the binary's size.
#[cfg(target_os = "linux")]
fn bound_memory(bytes: u64) -> std::io::Result<()> {
    let status = fs_err::read_to_string("/proc/self/status")?;
    let current_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| std::io::Error::other("no VmSize in /proc/self/status"))?;
    let wanted = current_kb.saturating_mul(1024).saturating_add(bytes);
    // Under a tighter limit set by whoever started socle, that one holds.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::AS)?;
    let limit = wanted.min(hard);
    rlimit::setrlimit(rlimit::Resource::AS, limit, limit)
}

/// Elsewhere the address-space limit is not enforced by the kernel; time
/// and stack remain bounded.
#[cfg(not(target_os = "linux"))]
fn bound_memory(_bytes: u64) -> std::io::Result<()> {
    Ok(())
}

fn to_json(v: &regorus::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn compile(
    engine: &mut regorus::Engine,
    modules: Vec<(String, String)>,
    rego_v0: bool,
    timeout: Duration,
) -> Reply {
    engine.set_rego_v0(rego_v0);
    let mut packages = Vec::new();
    for (path, source) in modules {
        match engine.add_policy(path.clone(), source) {
            Ok(package) => packages.push((package, path)),
            Err(e) => {
                return Reply::CompileError {
                    file: path,
                    message: e.to_string(),
                }
            }
        }
    }
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: timeout,
        check_interval: NonZeroU32::new(32).unwrap_or(NonZeroU32::MIN),
    });
    Reply::Packages(packages)
}

/// Answers one request; an input that does not decode is reported to each
/// query that would have read it (an input gets no reply of its own).
fn answer(
    engine: &mut regorus::Engine,
    bad_input: &mut Option<String>,
    request: Request,
) -> Option<Reply> {
    match request {
        Request::Init { .. } => Some(Reply::Error("already initialised".into())),
        Request::Data(json) => Some(
            match regorus::Value::from_json_str(&json)
                .map_err(|e| e.to_string())
                .and_then(|v| engine.add_data(v).map_err(|e| e.to_string()))
            {
                Ok(()) => Reply::Values(Vec::new()),
                Err(e) => Reply::Error(e),
            },
        ),
        Request::Input(json) => {
            *bad_input = match regorus::Value::from_json_str(&json) {
                Ok(v) => {
                    engine.set_input(v);
                    None
                }
                Err(e) => Some(format!("input: {e}")),
            };
            None
        }
        Request::Query(_) if bad_input.is_some() => bad_input.clone().map(Reply::Error),
        Request::Query(query) => {
            STARTED.store(now_ms(), Ordering::Relaxed);
            let result = engine.eval_query(query, false);
            STARTED.store(0, Ordering::Relaxed);
            Some(match result {
                Ok(results) => Reply::Values(
                    results
                        .result
                        .iter()
                        .flat_map(|r| &r.expressions)
                        .map(|e| to_json(&e.value))
                        .collect(),
                ),
                Err(e) => Reply::Error(e.to_string()),
            })
        }
    }
}

fn send(out: &mut impl Write, reply: &Reply) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, reply)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Serves requests until stdin closes. Returns the process exit status.
pub fn serve() -> i32 {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut engine = regorus::Engine::new();
    let mut ready = false;
    let mut bad_input = None;
    for line in stdin.lines() {
        let Ok(line) = line else { return 2 };
        let request: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("policy worker: unreadable request: {e}");
                return 2;
            }
        };
        let reply = match (ready, request) {
            (
                false,
                Request::Init {
                    modules,
                    rego_v0,
                    timeout_ms,
                    memory_bytes,
                },
            ) => {
                let timeout = Duration::from_millis(timeout_ms);
                let _ = epoch();
                if let Err(e) = watchdog(timeout).and_then(|()| bound_memory(memory_bytes)) {
                    eprintln!("policy worker: cannot set its bounds: {e}");
                    return UNBOUNDED_EXIT;
                }
                ready = true;
                // Parsing is bounded too: a module nested deep enough to
                // overflow the parser's stack is a policy like any other.
                STARTED.store(now_ms(), Ordering::Relaxed);
                let reply = compile(&mut engine, modules, rego_v0, timeout);
                STARTED.store(0, Ordering::Relaxed);
                Some(reply)
            }
            (false, _) => Some(Reply::Error("the first request must be init".into())),
            (true, request) => answer(&mut engine, &mut bad_input, request),
        };
        if let Some(reply) = reply {
            if send(&mut out, &reply).is_err() {
                // The parent is gone: nobody is waiting for an answer.
                return 0;
            }
        }
    }
    0
}
