//! `tribune debug`: captures the agent's state, host, members, metrics and logs over an
//! interval into a directory (and a `.tar.gz` of it), laid out as Consul's `consul debug`
//! lays out its capture (`agent.json`, `host.json`, `members.json`, `<timestamp>/metrics.json`,
//! `consul.log`, `index.json`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::catalog::finish;
use super::client::{connect, Client};

/// Consul's bounds: an interval of at least 5 s, a duration longer than the interval.
const MIN_INTERVAL: Duration = Duration::from_secs(5);
const TARGETS: &[&str] = &["agent", "host", "members", "metrics", "logs"];

pub fn run(args: &[String]) -> i32 {
    finish(capture(args))
}

fn duration(flag: &str, value: Option<&str>, default: Duration) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(v) => crate::http::query::parse_go_duration(v)
            .ok_or_else(|| format!("invalid value {v:?} for flag -{flag}: time: invalid duration")),
    }
}

fn get_json(client: &Client, path: &str) -> Result<serde_json::Value, String> {
    let a = client.call("GET", path, None)?;
    if a.status != 200 {
        return Err(format!("Error querying {path}: {}", a.error_text()));
    }
    serde_json::from_slice(&a.body).map_err(|e| e.to_string())
}

fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> Result<(), String> {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    std::fs::write(&path, text).map_err(|e| format!("Error writing {}: {e}", path.display()))
}

fn capture(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(
        args,
        &["archive"],
        &["duration", "interval", "output", "capture"],
    )?;
    let interval = duration("interval", p.value("interval"), Duration::from_secs(30))?;
    let total = duration("duration", p.value("duration"), Duration::from_secs(120))?;
    if interval < MIN_INTERVAL {
        return Err(format!(
            "interval must be longer than {}s",
            MIN_INTERVAL.as_secs()
        ));
    }
    if total <= interval {
        return Err("duration must be longer than interval".into());
    }
    let targets: Vec<String> = match p.values.get("capture") {
        Some(list) => list.clone(),
        None => TARGETS.iter().map(|t| t.to_string()).collect(),
    };
    if let Some(bad) = targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        return Err(format!(
            "Error: capture target {bad:?} is not valid; must be one of {}",
            TARGETS.join(", ")
        ));
    }
    let archive = p.value("archive").is_none_or(|v| v != "false");
    let started_unix = crate::io::host::unix_ms() / 1000;
    // Trailing separators off: the archive goes beside the directory, not into it.
    let out = PathBuf::from(
        p.value("output")
            .map(|o| o.trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| format!("consul-debug-{started_unix}")),
    );
    if out.exists() {
        return Err(format!(
            "Output directory already exists: {}",
            out.display()
        ));
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("Could not create output directory: {e}"))?;
    let wants = |t: &str| targets.iter().any(|c| c == t);

    // The agent must answer before anything is captured (Consul checks agent/self first).
    let agent = get_json(&client, "/v1/agent/self").map_err(|e| {
        format!("Error querying target agent: {e}. Verify connectivity and agent address.")
    })?;
    println!("==> Starting debugger and capturing static information...");
    if wants("agent") {
        write_json(&out, "agent.json", &agent)?;
    }
    if wants("host") {
        write_json(&out, "host.json", &get_json(&client, "/v1/agent/host")?)?;
    }
    if wants("members") {
        write_json(
            &out,
            "members.json",
            &get_json(&client, "/v1/agent/members")?,
        )?;
    }
    // Logs at debug for the whole capture, whatever the agent's own level.
    let logs = wants("logs").then(|| {
        let (client, path) = (client.clone(), out.join("consul.log"));
        std::thread::spawn(move || -> Result<(), String> {
            let mut file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
            let deadline = Instant::now() + total;
            client.stream_lines_until("/v1/agent/monitor?loglevel=DEBUG", deadline, |line| {
                let _ = writeln!(file, "{line}");
            })
        })
    });
    println!(
        "==> Beginning capture interval {} ({}s)",
        start_stamp(started_unix),
        interval.as_secs()
    );
    let deadline = Instant::now() + total;
    while Instant::now() < deadline {
        if wants("metrics") {
            let stamp = crate::io::host::unix_ms() / 1000;
            let dir = out.join(stamp.to_string());
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            write_json(
                &dir,
                "metrics.json",
                &get_json(&client, "/v1/agent/metrics")?,
            )?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        std::thread::sleep(interval.min(left));
    }
    if let Some(logs) = logs {
        logs.join()
            .map_err(|_| "the log capture failed".to_string())??;
    }
    let index = serde_json::json!({
        "Version": 2,
        "AgentVersion": agent["Config"]["Version"],
        "Interval": crate::http::decode::format_go_duration(interval.as_nanos() as u64),
        "Duration": crate::http::decode::format_go_duration(total.as_nanos() as u64),
        "Targets": targets,
    });
    write_json(&out, "index.json", &index)?;
    if archive {
        let file = PathBuf::from(format!("{}.tar.gz", out.display()));
        write_archive(&out, &file)?;
        std::fs::remove_dir_all(&out).map_err(|e| e.to_string())?;
        println!("Saved debug archive: {}", file.display());
    } else {
        println!("Saved debug directory: {}", out.display());
    }
    Ok(())
}

/// The capture's start, as the log's timestamps write it, for the progress line.
fn start_stamp(unix: u64) -> String {
    crate::io::logging::format::text_time(u128::from(unix) * 1_000_000_000)
}

fn write_archive(dir: &Path, file: &Path) -> Result<(), String> {
    let out = std::fs::File::create(file).map_err(|e| format!("Error creating archive: {e}"))?;
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let name = dir.file_name().map(PathBuf::from).unwrap_or_default();
    tar.append_dir_all(&name, dir)
        .map_err(|e| format!("Error creating archive: {e}"))?;
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| format!("Error creating archive: {e}"))?;
    Ok(())
}
