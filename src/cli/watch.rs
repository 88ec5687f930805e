//! `tribune watch -type=<key|keyprefix|services|nodes|service|checks|event> [child...]`: a
//! blocking-query loop, as Consul's watch plans run it. Without a child the current data is
//! printed as indented JSON and the command exits (as Consul's does). With one, the child
//! (through `sh -c` unless `-shell=false`) gets the data as JSON on stdin and `CONSUL_INDEX`
//! in its environment, at the start and each time the data changes, until interrupted; a
//! failing child ends the watch with exit code 1.

use std::io::Write;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::client::{connect, escape_key, Client};

/// What a watch plan is made of: `-type` and its parameters (flags of `tribune watch`, keys
/// of a config file's watch).
const PLAN_PARAMS: &[&str] = &[
    "type",
    "key",
    "prefix",
    "service",
    "tag",
    "state",
    "name",
    "passingonly",
];

/// The blocking query a watch type runs, and how its answer becomes the handler's data.
struct Plan {
    path: String,
    /// `key` watches hand over the single entry (or null), not the list.
    single: bool,
}

fn plan(p: &super::flags::Parsed) -> Result<Plan, String> {
    let need = |name: &str| {
        p.value(name)
            .map(str::to_string)
            .ok_or_else(|| format!("Must specify a single -{name} to watch"))
    };
    let kind = p
        .value("type")
        .ok_or("Watch type must be specified")?
        .to_string();
    let (path, single) = match kind.as_str() {
        "key" => (format!("/v1/kv/{}", escape_key(&need("key")?)), true),
        "keyprefix" => (
            format!("/v1/kv/{}?recurse", escape_key(&need("prefix")?)),
            false,
        ),
        "services" => ("/v1/catalog/services".to_string(), false),
        "nodes" => ("/v1/catalog/nodes".to_string(), false),
        "service" => {
            let mut path = format!("/v1/health/service/{}?", need("service")?);
            if let Some(tag) = p.value("tag") {
                path.push_str(&format!("tag={tag}&"));
            }
            if p.value("passingonly")
                .is_some_and(|v| v == "true" || v == "1")
            {
                path.push_str("passing&");
            }
            (path.trim_end_matches(['?', '&']).to_string(), false)
        }
        "checks" => match (p.value("service"), p.value("state")) {
            (Some(_), Some(_)) => return Err("Cannot specify service and state".into()),
            (Some(s), None) => (format!("/v1/health/checks/{s}"), false),
            (None, state) => (
                format!("/v1/health/state/{}", state.unwrap_or("any")),
                false,
            ),
        },
        "event" => match p.value("name") {
            Some(n) => (format!("/v1/event/list?name={n}"), false),
            None => ("/v1/event/list".to_string(), false),
        },
        other => return Err(format!("Unsupported watch type: {other}")),
    };
    Ok(Plan { path, single })
}

fn blocking(path: &str, index: u64) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}index={index}&wait=5m")
}

/// One round: the data and the index, or an error to retry after.
fn fetch(
    client: &Client,
    plan: &Plan,
    index: u64,
    stale: bool,
) -> Result<(serde_json::Value, u64), String> {
    let mut path = blocking(&plan.path, index);
    if stale {
        path.push_str("&stale");
    }
    let a = client.call("GET", &path, None)?;
    let data: serde_json::Value = match a.status {
        200 => serde_json::from_slice(&a.body).map_err(|e| e.to_string())?,
        404 => serde_json::Value::Null,
        _ => return Err(a.error_text()),
    };
    let data = match (plan.single, data) {
        (true, serde_json::Value::Array(mut list)) if !list.is_empty() => list.swap_remove(0),
        (true, serde_json::Value::Array(_)) => serde_json::Value::Null,
        (_, d) => d,
    };
    Ok((data, a.index.unwrap_or(0)))
}

/// Go's `json.MarshalIndent(data, "", "    ")`.
fn indented(data: &serde_json::Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(data, &mut ser).expect("a JSON value serialises");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Runs the child with the data (compact JSON and a newline, as Go's encoder writes it).
fn run_child(
    child: &[String],
    shell: bool,
    data: &serde_json::Value,
    index: u64,
) -> Result<(), String> {
    let mut cmd = match shell {
        true => {
            let mut c =
                std::process::Command::new(std::env::var("SHELL").unwrap_or("/bin/sh".into()));
            c.arg("-c").arg(child.join(" "));
            c
        }
        false => {
            let Some((program, rest)) = child.split_first() else {
                return Err("Error starting handler: no command".into());
            };
            let mut c = std::process::Command::new(program);
            c.args(rest);
            c
        }
    };
    let mut proc = cmd
        .env("CONSUL_INDEX", index.to_string())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("Error starting handler: {e}"))?;
    if let Some(mut stdin) = proc.stdin.take() {
        let _ = stdin.write_all(format!("{data}\n").as_bytes());
    }
    let status = proc
        .wait()
        .map_err(|e| format!("Error executing handler: {e}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("Error executing handler: {status}")),
    }
}

pub fn run(args: &[String]) -> i32 {
    let parsed = connect(args, &["shell"], PLAN_PARAMS);
    let (p, client) = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let plan = match plan(&p) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let child = p.positional.clone();
    // `-shell` defaults to true in Consul.
    let shell = p.value("shell").is_none_or(|v| v != "false" && v != "0");
    let stale = p.flag("stale");
    let (mut index, mut last) = (0u64, serde_json::Value::Null);
    let mut failures = 0u32;
    loop {
        match fetch(&client, &plan, index, stale) {
            Ok((data, new_index)) => {
                failures = 0;
                // An index that goes backwards (a restore, a new leader) starts over.
                index = if new_index < index { 0 } else { new_index };
                // Nothing new (Consul compares with the last result, initially null, so a
                // missing key stays silent until it exists).
                if data == last {
                    continue;
                }
                if child.is_empty() {
                    println!("{}", indented(&data));
                    let _ = std::io::stdout().flush();
                    return 0;
                }
                if let Err(e) = run_child(&child, shell, &data, index) {
                    eprintln!("{e}");
                    return 1;
                }
                last = data;
            }
            Err(e) => {
                // Before anything was watched, a failure ends the command; later ones are
                // retried with backoff, as Consul's watch does.
                if index == 0 && last.is_null() {
                    eprintln!("Error querying Consul agent: {e}");
                    return 1;
                }
                failures += 1;
                std::thread::sleep(Duration::from_secs(u64::from(failures.min(6)) * 5));
            }
        }
    }
}

/// One `watches` entry of the agent's config files, checked: its plan and its handler.
pub struct ConfigWatch {
    plan_flags: super::flags::Parsed,
    handler: Handler,
}

enum Handler {
    /// `handler_type = "script"` with `args` (run directly) or `handler` (through a shell).
    Script { child: Vec<String>, shell: bool },
    /// `handler_type = "http"`: the data POSTed (or `method`) to `http_handler_config.path`.
    Http {
        url: String,
        method: String,
        headers: Vec<(String, String)>,
        timeout: Duration,
    },
}

/// Reads the config files' `watches` as Consul does: `type` and its parameters, and a script
/// (`args` or `handler`) or HTTP handler. The error names the watch, as Consul's does.
pub fn config_watches(list: &[serde_json::Value]) -> Result<Vec<ConfigWatch>, String> {
    list.iter()
        .enumerate()
        .map(|(i, w)| config_watch(w).map_err(|e| format!("Failed to parse watch ({i}): {e}")))
        .collect()
}

fn config_watch(w: &serde_json::Value) -> Result<ConfigWatch, String> {
    use serde_json::Value;
    let obj = w.as_object().ok_or("a watch must be an object")?;
    let mut flags = super::flags::Parsed::default();
    for &key in PLAN_PARAMS {
        let v = match obj.get(key) {
            None => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Array(a)) => a.first().and_then(Value::as_str).unwrap_or("").to_string(),
            Some(other) => other.to_string(),
        };
        flags.values.insert(key.to_string(), vec![v]);
    }
    plan(&flags)?;
    let handler_type = obj.get("handler_type").and_then(Value::as_str);
    let handler = match handler_type {
        Some("http") => {
            let conf = obj
                .get("http_handler_config")
                .ok_or("Handler type 'http' requires 'http_handler_config' to be set")?;
            let url = conf
                .get("path")
                .and_then(Value::as_str)
                .ok_or("http_handler_config requires 'path'")?
                .to_string();
            let headers = conf
                .get("header")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .flat_map(|(k, v)| {
                            let values = v.as_array().cloned().unwrap_or_default();
                            values
                                .into_iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .map(|x| (k.clone(), x))
                                .collect::<Vec<_>>()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let timeout = conf
                .get("timeout")
                .and_then(Value::as_str)
                .and_then(crate::http::query::parse_go_duration)
                .unwrap_or(Duration::from_secs(10));
            Handler::Http {
                url,
                method: conf
                    .get("method")
                    .and_then(Value::as_str)
                    .unwrap_or("POST")
                    .to_string(),
                headers,
                timeout,
            }
        }
        None | Some("script") => match (obj.get("args"), obj.get("handler")) {
            (Some(args), _) => {
                let child: Vec<String> = args
                    .as_array()
                    .ok_or("args must be a list")?
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect();
                if child.is_empty() {
                    return Err(
                        "Handler type 'script' requires 'args' or 'handler' to be set".into(),
                    );
                }
                Handler::Script {
                    child,
                    shell: false,
                }
            }
            (None, Some(Value::String(h))) => Handler::Script {
                child: vec![h.clone()],
                shell: true,
            },
            _ => return Err("Handler type 'script' requires 'args' or 'handler' to be set".into()),
        },
        Some(other) => return Err(format!("Handler type '{other}' not recognized")),
    };
    Ok(ConfigWatch {
        plan_flags: flags,
        handler,
    })
}

/// Runs the agent's config-file watches against its own HTTP API (as Consul's agent runs its
/// watch plans), each on a thread of its own, until `generation` moves on (a reload starts
/// the new set; an old thread ends after its current blocking query).
pub fn start_config_watches(
    watches: Vec<ConfigWatch>,
    api: std::net::SocketAddr,
    generation: Arc<AtomicU64>,
) {
    let mine = generation.load(Ordering::Relaxed);
    for watch in watches {
        let generation = generation.clone();
        let _ = std::thread::Builder::new()
            .name("watch".into())
            .spawn(move || run_config_watch(watch, api, mine, &generation));
    }
}

fn run_config_watch(
    watch: ConfigWatch,
    api: std::net::SocketAddr,
    mine: u64,
    generation: &AtomicU64,
) {
    let Ok(plan) = plan(&watch.plan_flags) else {
        return;
    };
    let mut flags = super::flags::Parsed::default();
    flags
        .values
        .insert("http-addr".into(), vec![format!("http://{api}")]);
    let Ok(client) = Client::from_flags(&flags) else {
        return;
    };
    let (mut index, mut last) = (0u64, serde_json::Value::Null);
    let mut failures = 0u32;
    while generation.load(Ordering::Relaxed) == mine {
        match fetch(&client, &plan, index, false) {
            Ok((data, new_index)) => {
                failures = 0;
                index = if new_index < index { 0 } else { new_index };
                if data == last || generation.load(Ordering::Relaxed) != mine {
                    continue;
                }
                let outcome = match &watch.handler {
                    Handler::Script { child, shell } => run_child(child, *shell, &data, index),
                    Handler::Http {
                        url,
                        method,
                        headers,
                        timeout,
                    } => {
                        let mut req = ureq::request(method, url)
                            .timeout(*timeout)
                            .set("X-Consul-Index", &index.to_string());
                        for (k, v) in headers {
                            req = req.set(k, v);
                        }
                        req.send_string(&data.to_string())
                            .map(|_| ())
                            .map_err(|e| format!("Error sending to the http handler: {e}"))
                    }
                };
                if let Err(e) = outcome {
                    tracing::error!(target: "agent.watch", "{e}");
                }
                last = data;
            }
            Err(e) => {
                // Backing off from 1 s to 5 s: the first failures are usually the agent
                // still electing its leader at start.
                failures += 1;
                tracing::warn!(target: "agent.watch", "Watch errored: {e}");
                std::thread::sleep(Duration::from_secs(u64::from(failures.min(5))));
                continue;
            }
        }
    }
}
