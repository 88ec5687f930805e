//! Query strings as Consul reads them: presence flags, Go durations, blocking options.

use std::time::Duration;

use crate::config::{QUERY_WAIT_DEFAULT_MS, QUERY_WAIT_MAX_MS};

/// Decoded query parameters, in order, duplicates kept (`tag=a&tag=b`).
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
    raw: String,
}

fn decode_component(s: &str) -> String {
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

impl Query {
    /// Parses `a=1&b&c=%20`.
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode_component(k), decode_component(v)),
                None => (decode_component(p), String::new()),
            })
            .collect();
        Query {
            pairs,
            raw: raw.to_string(),
        }
    }

    /// The query as received (for `Conflicting flags: ...`).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Every decoded pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// True when the parameter is present, with or without a value (Consul's presence flags).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Every value of a repeated parameter (`tag=a&tag=b`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The same query with every value of `name` replaced by `value`, or `name=value` added
    /// when it has none (the raw form too, since forwarding sends the raw form on).
    pub fn with_value(&self, name: &str, value: &str) -> Query {
        let encoded: String =
            percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let mut found = false;
        let mut parts: Vec<String> = (self.raw.split('&'))
            .filter(|p| !p.is_empty())
            .map(|p| {
                let key = p.split_once('=').map_or(p, |(k, _)| k);
                match decode_component(key) == name {
                    true => {
                        found = true;
                        format!("{key}={encoded}")
                    }
                    false => p.to_string(),
                }
            })
            .collect();
        if !found {
            let key =
                percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
            parts.push(format!("{key}={encoded}"));
        }
        Query::parse(&parts.join("&"))
    }

    /// First value of `name` (empty string when present without a value).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a Go `time.ParseDuration` string: `300ms`, `1.5s`, `1h30m`, `0`. A bare number
/// other than `0` is invalid, as in Go.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_ns = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ns += value * unit_ns;
    }
    if total_ns > i64::MAX as f64 {
        return None; // Go: "invalid duration" on overflow
    }
    // Negative waits behave like no wait at all.
    Some(if negative {
        Duration::ZERO
    } else {
        Duration::from_nanos(total_ns as u64)
    })
}

/// Consistency mode of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    Default,
    Stale,
    Consistent,
}

/// Blocking and consistency options common to reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    pub min_index: u64,
    /// Time to block, jitter included; only meaningful when `min_index > 0`.
    pub wait: Duration,
    pub consistency: Consistency,
}

/// Parses `index`, `wait`, `stale`, `consistent` with Consul's errors (400 texts).
/// `jitter_unit` in [0, 1) picks the random extra wait (up to wait/16), as Consul adds.
pub fn read_options(q: &Query, jitter_unit: f64) -> Result<ReadOptions, &'static str> {
    let consistency = match (q.has("stale"), q.has("consistent")) {
        (true, true) => {
            return Err("Cannot specify ?stale with ?consistent, conflicting semantics.")
        }
        (true, false) => Consistency::Stale,
        (false, true) => Consistency::Consistent,
        (false, false) => Consistency::Default,
    };
    let wait = match q.get("wait") {
        Some(w) if !w.is_empty() => parse_go_duration(w).ok_or("Invalid wait time")?,
        _ => Duration::ZERO,
    };
    let min_index = match q.get("index") {
        Some(i) if !i.is_empty() => i.parse::<u64>().map_err(|_| "Invalid index")?,
        _ => 0,
    };
    let wait = if wait.is_zero() {
        Duration::from_millis(QUERY_WAIT_DEFAULT_MS)
    } else {
        wait
    };
    let wait = wait.min(Duration::from_millis(QUERY_WAIT_MAX_MS));
    let wait = wait + wait.mul_f64(jitter_unit.clamp(0.0, 1.0) / 16.0);
    Ok(ReadOptions {
        min_index,
        wait,
        consistency,
    })
}
