//! `tribune lock [options] prefix child...`: runs `child` only while holding a lock (or, with
//! `-n N`, one of N semaphore slots) under `prefix`, as `consul lock` does with the Go API's
//! `Lock` and `Semaphore`:
//! - a session named after the child (TTL 15 s, renewed every 7.5 s, lock-delay 15 s);
//! - lock mode: the key `<prefix>/.lock`, acquired with the lock flag value, waited for with
//!   blocking reads; semaphore mode: a contender key `<prefix>/<session>` held by the
//!   session, and the coordination key `<prefix>/.lock` holding
//!   `{"Limit": N, "Holders": {"<session>": true}}`, changed only with CAS;
//! - the lock is watched with blocking reads; when it is lost the child gets SIGTERM (SIGKILL
//!   after 5 s), as `consul lock` kills it;
//! - exit codes: 0, or 2 when the child failed and `-child-exit-code` is set; 1 when the lock
//!   could not be set up or acquired in `-timeout`.

use std::collections::BTreeMap;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{connect, escape_key, Client};
use crate::http::query::parse_go_duration;

/// The Go API's flag values that mark a key as a lock's or a semaphore's.
const LOCK_FLAG_VALUE: u64 = 0x2ddc_cbc0_58a5_0c18;
const SEMAPHORE_FLAG_VALUE: u64 = 0xe0f6_9a2b_aa41_4de0;
const SESSION_TTL: &str = "15s";
const RENEW_EVERY: Duration = Duration::from_millis(7_500);
/// How long one blocking read waits (`DefaultLockWaitTime`).
const WAIT_MS: u64 = 15_000;
/// Retry after a refused acquire (lock-delay) (`DefaultLockRetryTime`).
const RETRY: Duration = Duration::from_secs(5);
/// The child gets this long between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

const USAGE: &str = "Usage: tribune lock [options] prefix child...

  Acquires a lock or semaphore at a given path, and invokes a child process
  when successful. The child process can assume the lock is held while it
  executes. If the lock is lost or communication is disrupted the child
  process will be sent a SIGTERM signal and given time to gracefully exit.
  After the grace period expires the process will be hard terminated.

  When -n=1, only a single lock holder or leader exists providing mutual
  exclusion. Setting a higher value switches to a semaphore allowing multiple
  holders to coordinate.";

struct Options {
    prefix: String,
    child: Vec<String>,
    limit: u32,
    name: String,
    shell: bool,
    timeout: Option<Duration>,
    monitor_retries: u32,
    child_exit_code: bool,
    verbose: bool,
    /// The child reads our stdin only with `-pass-stdin`, as Consul's.
    pass_stdin: bool,
}

/// Runs `tribune lock`; the process exit code.
pub fn run(args: &[String]) -> i32 {
    let (p, client) = match connect(
        args,
        &["shell", "pass-stdin", "child-exit-code", "verbose"],
        &["n", "name", "timeout", "try", "monitor-retry"],
    ) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return 1;
        }
    };
    if p.positional.len() < 2 {
        eprintln!("Key prefix and child command must be specified\n\n{USAGE}");
        return 1;
    }
    let limit = match p.value("n").unwrap_or("1").parse::<u32>() {
        Ok(n) if n > 0 => n,
        _ => {
            eprintln!("Lock holder limit must be positive");
            return 1;
        }
    };
    let duration = |flag: &str| match p.value(flag) {
        None => Ok(None),
        Some(v) => parse_go_duration(v)
            .map(|d| (!d.is_zero()).then_some(d))
            .ok_or_else(|| format!("invalid value {v:?} for flag -{flag}: parse error")),
    };
    let timeout = match duration("timeout").and_then(|t| Ok(t.or(duration("try")?))) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let prefix = p.positional[0].trim_end_matches('/').to_string();
    let child: Vec<String> = p.positional[1..].to_vec();
    let options = Options {
        name: p
            .value("name")
            .map(str::to_string)
            .unwrap_or_else(|| format!("Consul lock for '{}' at '{prefix}'", child.join(" "))),
        prefix,
        child,
        limit,
        shell: p.value("shell").is_none_or(|v| v != "false" && v != "0"),
        timeout,
        monitor_retries: p
            .value("monitor-retry")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
        child_exit_code: p.flag("child-exit-code"),
        verbose: p.flag("verbose"),
        pass_stdin: p.flag("pass-stdin"),
    };
    match hold_and_run(&client, &options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn hold_and_run(client: &Client, o: &Options) -> Result<i32, String> {
    // A SIGINT or SIGTERM to us must stop the child and release the lock, never leave an
    // orphan running while another holder starts (`consul lock` does the same).
    crate::io::host::catch_termination();
    let session = create_session(client, &o.name)?;
    let renewing = Arc::new(AtomicBool::new(true));
    spawn_renewer(client.clone(), session.clone(), renewing.clone());
    let lock = match o.limit {
        1 => Held::Lock(format!("{}/.lock", o.prefix)),
        n => Held::Semaphore {
            prefix: o.prefix.clone(),
            limit: n,
        },
    };
    if o.verbose {
        println!("Setting up lock at path: {}", lock.path());
        println!("Attempting lock acquisition");
    }
    let deadline = o.timeout.map(|t| Instant::now() + t);
    let acquired = match &lock {
        Held::Lock(key) => acquire_lock(client, key, &session, deadline),
        Held::Semaphore { prefix, limit } => {
            acquire_slot(client, prefix, *limit, &session, deadline)
        }
    };
    match acquired {
        Ok(true) => {}
        Ok(false) => {
            cleanup(client, &lock, &session, &renewing);
            return Err("Shutdown triggered or timeout during lock acquisition".into());
        }
        Err(e) => {
            cleanup(client, &lock, &session, &renewing);
            return Err(format!("Lock acquisition failed: {e}"));
        }
    }
    let mut child = match start_child(o) {
        Ok(child) => child,
        Err(e) => {
            cleanup(client, &lock, &session, &renewing);
            return Err(e);
        }
    };
    if o.verbose {
        println!("Starting handler");
    }
    let (lost_tx, lost_rx) = mpsc::channel();
    let watching = Arc::new(AtomicBool::new(true));
    {
        let (client, lock, session) = (client.clone(), lock.clone(), session.clone());
        let (watching, retries) = (watching.clone(), o.monitor_retries);
        std::thread::spawn(move || {
            if !still_held(&client, &lock, &session, &watching, retries) {
                let _ = lost_tx.send(());
            }
        });
    }
    let mut interrupted = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                eprintln!("Error waiting for the child: {e}; killing it");
                break kill(&mut child);
            }
        }
        if lost_rx.try_recv().is_ok() {
            eprintln!("Lock lost, killing child");
            break kill(&mut child);
        }
        if crate::io::host::terminating() {
            eprintln!("Shutdown triggered, killing child");
            interrupted = true;
            break kill(&mut child);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    watching.store(false, Ordering::Relaxed);
    cleanup(client, &lock, &session, &renewing);
    if o.verbose {
        println!("Cleanup succeeded");
    }
    Ok(match (interrupted, status.success(), o.child_exit_code) {
        (true, _, _) => 1,
        (_, false, true) => 2,
        _ => 0,
    })
}

/// What is held: the lock key, or a semaphore under a prefix.
#[derive(Clone)]
enum Held {
    Lock(String),
    Semaphore { prefix: String, limit: u32 },
}

impl Held {
    fn path(&self) -> String {
        match self {
            Held::Lock(key) => key.clone(),
            Held::Semaphore { prefix, .. } => format!("{prefix}/.lock"),
        }
    }
}

fn create_session(client: &Client, name: &str) -> Result<String, String> {
    let body = serde_json::json!({"Name": name, "TTL": SESSION_TTL, "Behavior": "release"});
    let answer = client.call(
        "PUT",
        "/v1/session/create",
        Some(body.to_string().as_bytes()),
    )?;
    if answer.status != 200 {
        return Err(format!("Failed to create session: {}", answer.error_text()));
    }
    let v: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
    v["ID"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "Failed to create session: no ID".into())
}

/// Renews the session every `RENEW_EVERY` until `renewing` turns false.
fn spawn_renewer(client: Client, session: String, renewing: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let path = format!("/v1/session/renew/{session}");
        while renewing.load(Ordering::Relaxed) {
            let slept = Instant::now();
            while renewing.load(Ordering::Relaxed) && slept.elapsed() < RENEW_EVERY {
                std::thread::sleep(Duration::from_millis(100));
            }
            if renewing.load(Ordering::Relaxed) {
                let _ = client.call("PUT", &path, None);
            }
        }
    });
}

/// How long the next blocking read may wait: `WAIT_MS`, or less to end by the deadline.
fn wait_ms(deadline: Option<Instant>) -> u64 {
    let left = deadline.map_or(WAIT_MS, |d| {
        d.saturating_duration_since(Instant::now()).as_millis() as u64
    });
    left.clamp(1, WAIT_MS)
}

/// One blocking read of a key: its entry (if any) and the index to wait on next.
fn read_key(
    client: &Client,
    key: &str,
    index: u64,
    deadline: Option<Instant>,
) -> Result<(Option<Value>, u64), String> {
    let wait = wait_ms(deadline);
    let path = format!("/v1/kv/{}?index={index}&wait={wait}ms", escape_key(key));
    let a = client.call("GET", &path, None)?;
    let next = a.index.unwrap_or(0);
    match a.status {
        200 => {
            let v: Value = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
            Ok((v.get(0).cloned(), next))
        }
        404 => Ok((None, next)),
        _ => Err(a.error_text()),
    }
}

fn timed_out(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// The Go API's `Lock.Lock`: wait while another session holds the key, then acquire.
fn acquire_lock(
    client: &Client,
    key: &str,
    session: &str,
    deadline: Option<Instant>,
) -> Result<bool, String> {
    let mut index = 0;
    loop {
        if timed_out(deadline) || crate::io::host::terminating() {
            return Ok(false);
        }
        let (entry, next) = read_key(client, key, index, deadline)?;
        index = next;
        if let Some(e) = &entry {
            if e["Flags"].as_u64() != Some(LOCK_FLAG_VALUE) {
                return Err("Existing key does not match lock use".into());
            }
            if e["Session"]
                .as_str()
                .is_some_and(|s| !s.is_empty() && s != session)
            {
                continue; // held: wait for a change
            }
        }
        let path = format!(
            "/v1/kv/{}?acquire={session}&flags={LOCK_FLAG_VALUE}",
            escape_key(key)
        );
        let a = client.call("PUT", &path, Some(b""))?;
        if a.status != 200 {
            return Err(a.error_text());
        }
        if a.body.starts_with(b"true") {
            return Ok(true);
        }
        std::thread::sleep(RETRY); // lock-delay, or someone was faster
        index = 0; // read again at once: the key may have been free all along
    }
}

/// The semaphore's coordination record (`.lock`): its limit, holders, and `ModifyIndex`.
fn parse_slots(entry: Option<&Value>) -> (u32, BTreeMap<String, bool>, u64) {
    let Some(e) = entry else {
        return (0, BTreeMap::new(), 0);
    };
    let modify = e["ModifyIndex"].as_u64().unwrap_or(0);
    let raw = e["Value"].as_str().unwrap_or("");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let decoded = b64.decode(raw).unwrap_or_default();
    let v: Value = serde_json::from_slice(&decoded).unwrap_or(Value::Null);
    let limit = v["Limit"].as_u64().unwrap_or(0) as u32;
    let holders = v["Holders"]
        .as_object()
        .map(|h| h.keys().map(|k| (k.clone(), true)).collect())
        .unwrap_or_default();
    (limit, holders, modify)
}

/// Everything under `<prefix>/` (the `.lock` record and the contender keys), with a blocking
/// read: a holder's contender key released by its session's death wakes it as well as a
/// change of the record (the Go API watches the prefix too).
struct Semaphore {
    record: Option<Value>,
    /// Sessions that hold a contender key (holders not among them are gone).
    live: Vec<String>,
}

fn read_semaphore(
    client: &Client,
    prefix: &str,
    index: u64,
    deadline: Option<Instant>,
) -> Result<(Semaphore, u64), String> {
    let wait = wait_ms(deadline);
    let path = format!(
        "/v1/kv/{}/?recurse&index={index}&wait={wait}ms",
        escape_key(prefix)
    );
    let a = client.call("GET", &path, None)?;
    let next = a.index.unwrap_or(0);
    let entries: Vec<Value> = match a.status {
        200 => serde_json::from_slice(&a.body).map_err(|e| e.to_string())?,
        404 => Vec::new(),
        _ => return Err(a.error_text()),
    };
    let lock_key = format!("{prefix}/.lock");
    let record = entries
        .iter()
        .find(|e| e["Key"] == lock_key.as_str())
        .cloned();
    let live = entries
        .iter()
        .filter(|e| e["Key"] != lock_key.as_str())
        .filter_map(|e| e["Session"].as_str().filter(|s| !s.is_empty()))
        .map(str::to_string)
        .collect();
    Ok((Semaphore { record, live }, next))
}

/// The Go API's `Semaphore.Acquire`: hold a contender key, then take a slot in the `.lock`
/// record with CAS once fewer than `limit` live holders have one.
fn acquire_slot(
    client: &Client,
    prefix: &str,
    limit: u32,
    session: &str,
    deadline: Option<Instant>,
) -> Result<bool, String> {
    let contender = format!("{prefix}/{session}");
    let path = format!(
        "/v1/kv/{}?acquire={session}&flags={SEMAPHORE_FLAG_VALUE}",
        escape_key(&contender)
    );
    let a = client.call("PUT", &path, Some(b""))?;
    if !a.body.starts_with(b"true") {
        return Err(format!(
            "Failed to make contender entry: {}",
            a.error_text()
        ));
    }
    let lock_key = format!("{prefix}/.lock");
    let mut index = 0;
    loop {
        if timed_out(deadline) || crate::io::host::terminating() {
            return Ok(false);
        }
        let (sem, next) = read_semaphore(client, prefix, index, deadline)?;
        let (found_limit, mut holders, modify) = parse_slots(sem.record.as_ref());
        if sem.record.is_some() && found_limit != limit {
            return Err(format!(
                "Semaphore limit conflict (lock: {found_limit}, local: {limit})"
            ));
        }
        holders.retain(|h, _| sem.live.contains(h));
        if holders.len() as u32 >= limit {
            index = next;
            continue;
        }
        holders.insert(session.to_string(), true);
        let record = serde_json::json!({"Limit": limit, "Holders": holders});
        let path = format!(
            "/v1/kv/{}?cas={modify}&flags={SEMAPHORE_FLAG_VALUE}",
            escape_key(&lock_key)
        );
        let a = client.call("PUT", &path, Some(record.to_string().as_bytes()))?;
        if a.body.starts_with(b"true") {
            return Ok(true);
        }
        index = 0; // lost a CAS race: read again at once
    }
}

/// Blocks while the lock (or our slot) is held; returns false once it is lost, after
/// `retries` failed reads in a row, or true when `watching` is switched off. A slot is lost
/// when our session no longer holds our contender key (it died) or the record drops us.
fn still_held(
    client: &Client,
    lock: &Held,
    session: &str,
    watching: &AtomicBool,
    retries: u32,
) -> bool {
    let (mut index, mut failures) = (0, 0);
    while watching.load(Ordering::Relaxed) {
        let read = match lock {
            Held::Lock(key) => read_key(client, key, index, None).map(|(entry, next)| {
                let holder = entry.as_ref().and_then(|e| e["Session"].as_str());
                (holder == Some(session), next)
            }),
            Held::Semaphore { prefix, .. } => {
                read_semaphore(client, prefix, index, None).map(|(sem, next)| {
                    let in_record = parse_slots(sem.record.as_ref()).1.contains_key(session);
                    (in_record && sem.live.iter().any(|s| s == session), next)
                })
            }
        };
        match read {
            Ok((held, next)) => {
                failures = 0;
                index = next;
                if !held {
                    return !watching.load(Ordering::Relaxed);
                }
            }
            Err(_) if failures < retries => {
                failures += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(_) => return false,
        }
    }
    true
}

fn start_child(o: &Options) -> Result<Child, String> {
    let mut command = match o.shell {
        true => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(o.child.join(" "));
            c
        }
        false => {
            let mut c = Command::new(&o.child[0]);
            c.args(&o.child[1..]);
            c
        }
    };
    if !o.pass_stdin {
        command.stdin(std::process::Stdio::null());
    }
    command
        .spawn()
        .map_err(|e| format!("Error running handler: {e}"))
}

/// SIGTERM, then SIGKILL after `KILL_GRACE`; the child's exit status.
fn kill(child: &mut Child) -> ExitStatus {
    crate::io::host::terminate(child.id());
    let signalled = Instant::now();
    while signalled.elapsed() < KILL_GRACE {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait().expect("the child exits once killed")
}

/// Releases what is held and destroys the session (its keys are released with it).
fn cleanup(client: &Client, lock: &Held, session: &str, renewing: &AtomicBool) {
    renewing.store(false, Ordering::Relaxed);
    match lock {
        Held::Lock(key) => {
            let escaped = escape_key(key);
            let path = format!("/v1/kv/{escaped}?release={session}&flags={LOCK_FLAG_VALUE}");
            let _ = client.call("PUT", &path, Some(b""));
            // The Go API's `Lock.Destroy`: the key goes unless someone holds it meanwhile.
            if let Ok((Some(e), _)) = read_key(client, key, 0, None) {
                let free = e["Session"].as_str().is_none_or(str::is_empty);
                if let (true, Some(modify)) = (free, e["ModifyIndex"].as_u64()) {
                    let path = format!("/v1/kv/{escaped}?cas={modify}");
                    let _ = client.call("DELETE", &path, None);
                }
            }
        }
        Held::Semaphore { prefix, .. } => {
            let key = format!("{prefix}/.lock");
            for _ in 0..5 {
                let Ok((entry, _)) = read_key(client, &key, 0, None) else {
                    break;
                };
                let (limit, mut holders, modify) = parse_slots(entry.as_ref());
                if holders.remove(session).is_none() {
                    break;
                }
                // The last holder out removes the record (the Go API's `Semaphore.Destroy`).
                let (method, path, body) = match holders.is_empty() {
                    true => (
                        "DELETE",
                        format!("/v1/kv/{}?cas={modify}", escape_key(&key)),
                        None,
                    ),
                    false => (
                        "PUT",
                        format!(
                            "/v1/kv/{}?cas={modify}&flags={SEMAPHORE_FLAG_VALUE}",
                            escape_key(&key)
                        ),
                        Some(serde_json::json!({"Limit": limit, "Holders": holders}).to_string()),
                    ),
                };
                match client.call(method, &path, body.as_deref().map(str::as_bytes)) {
                    Ok(a) if a.body.starts_with(b"true") => break,
                    _ => continue,
                }
            }
            let contender = format!("/v1/kv/{}", escape_key(&format!("{prefix}/{session}")));
            let _ = client.call("DELETE", &contender, None);
        }
    }
    let _ = client.call("PUT", &format!("/v1/session/destroy/{session}"), None);
}
