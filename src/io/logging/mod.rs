//! The agent's log: every line goes through `tracing`; this module is its subscriber.
//!
//! One `tracing_subscriber` layer (`ConsulLayer`) writes each event in Consul's formats
//! (`format`) to stdout (where Consul's agent logs), to `log_file` (`file`, rotated as Consul
//! rotates it) and to syslog when `enable_syslog`, at the agent's `log_level`; and to every
//! `monitor` stream at that stream's own level, independent of the agent's. Levels are
//! changed at runtime (reload, a monitor at `trace`) by rebuilding tracing's callsite
//! interest, so a disabled level costs one static check at the call site, not a call here.
//!
//! A monitor never blocks the agent: its lines go into a bounded queue with `try_send`, and a
//! reader too slow for it loses lines, which are counted and reported when it leaves (as
//! Consul does).

pub mod file;
pub mod format;

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;

use crate::config::MONITOR_QUEUE_LINES;
pub use file::LogFileConfig;
pub use format::{level_name, parse_level, VALID_LEVELS};

/// What the agent's configuration says about its log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    pub level: Level,
    pub json: bool,
    pub file: Option<LogFileConfig>,
    /// `syslog_facility` when `enable_syslog`.
    pub syslog: Option<String>,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: Level::INFO,
            json: false,
            file: None,
            syslog: None,
        }
    }
}

/// ERROR 1 … TRACE 5: a level is enabled when its verbosity is at most the threshold.
fn verbosity(level: Level) -> u8 {
    match level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn level_of(verbosity: u8) -> Option<Level> {
    Some(match verbosity {
        1 => Level::ERROR,
        2 => Level::WARN,
        3 => Level::INFO,
        4 => Level::DEBUG,
        5 => Level::TRACE,
        _ => return None,
    })
}

struct Monitor {
    id: u64,
    level: u8,
    json: bool,
    lines: tokio::sync::mpsc::Sender<Bytes>,
    dropped: Arc<AtomicU64>,
}

struct Outputs {
    json: bool,
    file: Option<file::RotatingFile>,
    syslog: bool,
}

struct Logger {
    /// The agent's own level (reloadable).
    level: AtomicU8,
    /// The most verbose level any monitor asked for (0: none).
    monitor_level: AtomicU8,
    outputs: Mutex<Outputs>,
    monitors: Mutex<Vec<Monitor>>,
    next_monitor: AtomicU64,
}

static LOGGER: OnceLock<Arc<Logger>> = OnceLock::new();

impl Logger {
    fn threshold(&self) -> u8 {
        self.level
            .load(Ordering::Relaxed)
            .max(self.monitor_level.load(Ordering::Relaxed))
    }

    fn write(&self, level: Level, module: &str, message: &str, fields: &[(&'static str, String)]) {
        let v = verbosity(level);
        let line = format::Line {
            unix_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
            level,
            module,
            message,
            fields,
        };
        // Each format is built at most once per event, only if someone reads it.
        let (mut text, mut json) = (None::<String>, None::<String>);
        let mut text_of = || text.get_or_insert_with(|| format::text(&line)).clone();
        let mut json_of = || json.get_or_insert_with(|| format::json(&line)).clone();
        if v <= self.level.load(Ordering::Relaxed) {
            let mut out = self.outputs.lock().unwrap_or_else(|p| p.into_inner());
            let rendered = if out.json { json_of() } else { text_of() };
            {
                use std::io::Write;
                let _ = std::io::stdout().lock().write_all(rendered.as_bytes());
            }
            if let Some(f) = out.file.as_mut() {
                // A full disk must not take the agent down; the line still reached stdout.
                let _ = f.write_line(rendered.as_bytes());
            }
            if out.syslog {
                // Consul's syslog wrapper sends the text line without its time and level.
                let text = text_of();
                let after_level = text.find("] ").map_or(0, |i| i + 2);
                syslog_line(level, text[after_level..].trim());
            }
        }
        if v <= self.monitor_level.load(Ordering::Relaxed) {
            let monitors = self.monitors.lock().unwrap_or_else(|p| p.into_inner());
            for m in monitors.iter().filter(|m| v <= m.level) {
                let bytes = Bytes::from(if m.json { json_of() } else { text_of() });
                if m.lines.try_send(bytes).is_err() {
                    m.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn recompute_monitor_level(&self) {
        // Stored under the lock, so two monitors coming and going cannot leave a stale level;
        // the interest cache is rebuilt after it is released.
        let changed = {
            let monitors = self.monitors.lock().unwrap_or_else(|p| p.into_inner());
            let max = monitors.iter().map(|m| m.level).max().unwrap_or(0);
            self.monitor_level.swap(max, Ordering::Relaxed) != max
        };
        if changed {
            tracing::callsite::rebuild_interest_cache();
        }
    }
}

/// The `tracing` layer that feeds `Logger`.
struct ConsulLayer(Arc<Logger>);

impl<S: Subscriber> Layer<S> for ConsulLayer {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if verbosity(*meta.level()) <= self.0.threshold() {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: LayerContext<'_, S>) -> bool {
        verbosity(*meta.level()) <= self.0.threshold()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(level_of(self.0.threshold()).map_or(LevelFilter::OFF, LevelFilter::from_level))
    }

    fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        // Our call sites name Consul's modules (`agent.serf.lan`); a bare module path (ours
        // without a target, or a dependency's) is logged under `agent`.
        let target = meta.target();
        let module = if target.contains("::") || target == "tribune" {
            "agent"
        } else {
            target
        };
        self.0
            .write(*meta.level(), module, &fields.message, &fields.pairs);
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, String)>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.pairs.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.pairs.push((field.name(), format!("{value:?}")));
        }
    }
}

/// Installs the agent's log as the process's `tracing` subscriber, or, when one is already
/// installed (a second agent in one test process), applies `settings` to it. Fails, naming
/// the path, when the log file cannot be opened.
pub fn install(settings: &LogSettings) -> Result<(), String> {
    let file = settings
        .file
        .clone()
        .map(file::RotatingFile::open)
        .transpose()?;
    if let Some(facility) = &settings.syslog {
        open_syslog(facility)?;
    }
    let outputs = Outputs {
        json: settings.json,
        file,
        syslog: settings.syslog.is_some(),
    };
    let mut fresh = false;
    let logger = LOGGER.get_or_init(|| {
        fresh = true;
        Arc::new(Logger {
            level: AtomicU8::new(verbosity(settings.level)),
            monitor_level: AtomicU8::new(0),
            outputs: Mutex::new(Outputs {
                json: false,
                file: None,
                syslog: false,
            }),
            monitors: Mutex::new(Vec::new()),
            next_monitor: AtomicU64::new(1),
        })
    });
    *logger.outputs.lock().unwrap_or_else(|p| p.into_inner()) = outputs;
    if fresh {
        let subscriber = tracing_subscriber::registry().with(ConsulLayer(logger.clone()));
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|e| format!("Failed to setup logging: {e}"))?;
    }
    set_level(settings.level);
    Ok(())
}

/// Changes the agent's own level (reload).
pub fn set_level(level: Level) {
    if let Some(logger) = LOGGER.get() {
        if logger.level.swap(verbosity(level), Ordering::Relaxed) != verbosity(level) {
            tracing::callsite::rebuild_interest_cache();
        }
    }
}

/// The agent's current level.
pub fn current_level() -> Level {
    LOGGER
        .get()
        .and_then(|l| level_of(l.level.load(Ordering::Relaxed)))
        .unwrap_or(Level::INFO)
}

/// A stream of the agent's log lines at `level` and above, in text or JSON, until dropped.
pub struct MonitorStream {
    id: u64,
    lines: tokio::sync::mpsc::Receiver<Bytes>,
    dropped: Arc<AtomicU64>,
}

/// Starts a monitor (`GET /v1/agent/monitor`, `tribune monitor`).
pub fn monitor(level: Level, json: bool) -> MonitorStream {
    let (tx, rx) = tokio::sync::mpsc::channel(MONITOR_QUEUE_LINES);
    let dropped = Arc::new(AtomicU64::new(0));
    let Some(logger) = LOGGER.get() else {
        // No agent log in this process: a stream that never yields.
        std::mem::forget(tx);
        return MonitorStream {
            id: 0,
            lines: rx,
            dropped,
        };
    };
    let id = logger.next_monitor.fetch_add(1, Ordering::Relaxed);
    logger
        .monitors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Monitor {
            id,
            level: verbosity(level),
            json,
            lines: tx,
            dropped: dropped.clone(),
        });
    logger.recompute_monitor_level();
    MonitorStream {
        id,
        lines: rx,
        dropped,
    }
}

impl MonitorStream {
    /// The next line, or `None` when the agent's log went away.
    pub fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.lines.poll_recv(cx)
    }

    pub async fn next_line(&mut self) -> Option<Bytes> {
        self.lines.recv().await
    }
}

impl Drop for MonitorStream {
    fn drop(&mut self) {
        let Some(logger) = LOGGER.get() else {
            return;
        };
        logger
            .monitors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|m| m.id != self.id);
        logger.recompute_monitor_level();
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(target: "agent", dropped_count = dropped, "Dropped logs during monitor request");
        }
    }
}

/// syslog(3) facilities by Consul's names.
fn facility(name: &str) -> Option<libc::c_int> {
    Some(match name.to_ascii_uppercase().as_str() {
        "KERN" => libc::LOG_KERN,
        "USER" => libc::LOG_USER,
        "MAIL" => libc::LOG_MAIL,
        "DAEMON" => libc::LOG_DAEMON,
        "AUTH" => libc::LOG_AUTH,
        "SYSLOG" => libc::LOG_SYSLOG,
        "LPR" => libc::LOG_LPR,
        "NEWS" => libc::LOG_NEWS,
        "UUCP" => libc::LOG_UUCP,
        "CRON" => libc::LOG_CRON,
        "AUTHPRIV" => libc::LOG_AUTHPRIV,
        "FTP" => libc::LOG_FTP,
        "LOCAL0" => libc::LOG_LOCAL0,
        "LOCAL1" => libc::LOG_LOCAL1,
        "LOCAL2" => libc::LOG_LOCAL2,
        "LOCAL3" => libc::LOG_LOCAL3,
        "LOCAL4" => libc::LOG_LOCAL4,
        "LOCAL5" => libc::LOG_LOCAL5,
        "LOCAL6" => libc::LOG_LOCAL6,
        "LOCAL7" => libc::LOG_LOCAL7,
        _ => return None,
    })
}

/// openlog(3) with Consul's tag. libc's syslog is used directly: it is a few lines, and it
/// reaches whatever the host runs (journald, rsyslog) through /dev/log as Consul's does.
fn open_syslog(facility_name: &str) -> Result<(), String> {
    let f = facility(facility_name)
        .ok_or_else(|| format!("Syslog setup failed: invalid syslog facility {facility_name:?}"))?;
    static IDENT: &std::ffi::CStr = c"consul";
    // SAFETY: IDENT is a static NUL-terminated string, as openlog keeps the pointer.
    unsafe { libc::openlog(IDENT.as_ptr(), libc::LOG_PID, f) };
    Ok(())
}

fn syslog_line(level: Level, line: &str) {
    // Consul's mapping (one step lower than the names suggest for info and debug).
    let priority = match level {
        Level::ERROR => libc::LOG_ERR,
        Level::WARN => libc::LOG_WARNING,
        Level::INFO => libc::LOG_NOTICE,
        Level::DEBUG => libc::LOG_INFO,
        Level::TRACE => libc::LOG_DEBUG,
    };
    let Ok(text) = std::ffi::CString::new(line.replace('\0', " ")) else {
        return;
    };
    // SAFETY: both strings are NUL-terminated; "%s" keeps the line from being a format.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_sees_trace_lines_while_the_agent_logs_only_errors_and_a_slow_one_drops() {
        // The agent itself logs only errors: what the monitors see does not depend on it.
        install(&LogSettings {
            level: Level::ERROR,
            ..LogSettings::default()
        })
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut trace = monitor(Level::TRACE, false);
        let mut json = monitor(Level::INFO, true);
        tracing::trace!(target: "agent.test", peer = "a b", "probe sent");
        tracing::info!(target: "agent.test", "hello");
        let first = runtime.block_on(trace.next_line()).unwrap();
        let text = String::from_utf8_lossy(&first);
        assert!(
            text.ends_with(" [TRACE] agent.test: probe sent: peer=\"a b\"\n"),
            "{text}"
        );
        let line = runtime.block_on(json.next_line()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["@level"], "info");
        assert_eq!(v["@message"], "hello");
        assert_eq!(v["@module"], "agent.test");
        // Nobody reads `json` now: past its queue, lines are dropped and counted.
        for i in 0..MONITOR_QUEUE_LINES + 10 {
            tracing::info!(target: "agent.test", "line {i}");
        }
        assert_eq!(json.dropped.load(Ordering::Relaxed), 10);
        drop(trace);
        drop(json);
        assert_eq!(
            LOGGER.get().unwrap().monitor_level.load(Ordering::Relaxed),
            0
        );
    }
}
