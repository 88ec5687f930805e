//! One log line in Consul's two formats, as go-hclog writes them (Consul's logger).
//!
//! Text: `2026-12-07T14:44:12.123Z [INFO]  agent.serf.lan: member joined: node=agent2`
//! (level in brackets padded to five letters, then the module, the message, and ` key=value`
//! pairs after a colon; values with characters outside `-`..`~` are Go-quoted).
//! JSON: `{"@level":"info","@message":"…","@module":"agent","@timestamp":"…",key:value}` with
//! keys sorted, as Go's `encoding/json` writes hclog's map.

use std::fmt::Write;

use tracing::Level;

/// What a formatter needs of one event.
pub struct Line<'a> {
    pub unix_ns: u128,
    pub level: Level,
    pub module: &'a str,
    pub message: &'a str,
    pub fields: &'a [(&'static str, String)],
}

/// hclog's level label (`[INFO] ` is padded to the width of `[ERROR]`).
fn label(level: Level) -> &'static str {
    match level {
        Level::TRACE => "[TRACE]",
        Level::DEBUG => "[DEBUG]",
        Level::INFO => "[INFO] ",
        Level::WARN => "[WARN] ",
        Level::ERROR => "[ERROR]",
    }
}

/// The level as `log_level`, `?loglevel=` and JSON lines spell it.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// `log_level` / `-log-level` / `?loglevel=` as Consul validates them: TRACE, DEBUG, INFO,
/// WARN, ERR or ERROR, in any case.
pub fn parse_level(text: &str) -> Option<Level> {
    match text.to_ascii_uppercase().as_str() {
        "TRACE" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" | "ERR" => Some(Level::ERROR),
        _ => None,
    }
}

/// What Consul answers for a level it does not know.
pub const VALID_LEVELS: &str = "[TRACE DEBUG INFO WARN ERR ERROR]";

/// Civil UTC date and time of `unix_ns`: (year, month, day, hour, minute, second, nanos).
fn civil(unix_ns: u128) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = (unix_ns / 1_000_000_000) as i64;
    let nanos = (unix_ns % 1_000_000_000) as u32;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let (year, month, day) = crate::civil::civil_from_days(days);
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60, nanos)
}

/// hclog's text timestamp, `2006-01-02T15:04:05.000Z0700`, in UTC.
pub fn text_time(unix_ns: u128) -> String {
    let (y, mo, d, h, mi, s, ns) = civil(unix_ns);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        ns / 1_000_000
    )
}

/// hclog's JSON timestamp, `2006-01-02T15:04:05.000000Z07:00`, in UTC.
pub fn json_time(unix_ns: u128) -> String {
    let (y, mo, d, h, mi, s, ns) = civil(unix_ns);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z",
        ns / 1_000
    )
}

/// A value as hclog prints it: bare when every character is in `-`..=`~` (hclog's
/// `needsQuoting`), else Go-quoted; an empty string is `""`.
fn push_value(out: &mut String, value: &str) {
    let plain = !value.is_empty() && value.chars().all(|c| ('-'..='~').contains(&c));
    if plain {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The text line, with its newline.
pub fn text(line: &Line) -> String {
    let mut out = String::with_capacity(64 + line.message.len());
    out.push_str(&text_time(line.unix_ns));
    out.push(' ');
    out.push_str(label(line.level));
    out.push(' ');
    if !line.module.is_empty() {
        out.push_str(line.module);
        out.push_str(": ");
    }
    out.push_str(line.message);
    if !line.fields.is_empty() {
        out.push(':');
        for (key, value) in line.fields {
            out.push(' ');
            out.push_str(key);
            out.push('=');
            push_value(&mut out, value);
        }
    }
    out.push('\n');
    out
}

/// The JSON line, with its newline.
pub fn json(line: &Line) -> String {
    let mut map = std::collections::BTreeMap::new();
    map.insert("@level", level_name(line.level).to_string());
    map.insert("@message", line.message.to_string());
    if !line.module.is_empty() {
        map.insert("@module", line.module.to_string());
    }
    map.insert("@timestamp", json_time(line.unix_ns));
    for (key, value) in line.fields {
        map.entry(key).or_insert_with(|| value.clone());
    }
    let mut out = serde_json::to_string(&map).expect("strings serialize");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(fields: &'a [(&'static str, String)]) -> Line<'a> {
        Line {
            // 2026-12-07T14:44:12.123456789Z
            unix_ns: 1_796_654_652_123_456_789,
            level: Level::INFO,
            module: "agent.serf.lan",
            message: "member joined",
            fields,
        }
    }

    #[test]
    fn text_lines_are_hclogs() {
        assert_eq!(
            text(&line(&[])),
            "2026-12-07T14:44:12.123Z [INFO]  agent.serf.lan: member joined\n"
        );
        let fields = [
            ("node", "agent2".to_string()),
            ("addr", "a b".to_string()),
            ("empty", String::new()),
            ("at", "10.0.0.1:8301".to_string()),
        ];
        assert_eq!(
            text(&line(&fields)),
            "2026-12-07T14:44:12.123Z [INFO]  agent.serf.lan: member joined: node=agent2 addr=\"a b\" empty=\"\" at=10.0.0.1:8301\n"
        );
    }

    #[test]
    fn json_lines_sort_their_keys() {
        let fields = [("node", "agent2".to_string())];
        assert_eq!(
            json(&line(&fields)),
            "{\"@level\":\"info\",\"@message\":\"member joined\",\"@module\":\"agent.serf.lan\",\"@timestamp\":\"2026-12-07T14:44:12.123456Z\",\"node\":\"agent2\"}\n"
        );
    }

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(text_time(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year) 23:59:59.999
        assert_eq!(
            text_time(951_868_799_999_000_000),
            "2000-02-29T23:59:59.999Z"
        );
    }

    #[test]
    fn levels_parse_as_hclog_reads_them() {
        assert_eq!(parse_level("INFO"), Some(Level::INFO));
        assert_eq!(parse_level("err"), Some(Level::ERROR));
        assert_eq!(parse_level("warning"), None);
        assert_eq!(parse_level("Trace"), Some(Level::TRACE));
        assert_eq!(parse_level("verbose"), None);
    }
}
