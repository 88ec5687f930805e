//! Telemetry as data: what one thread recorded (`Registry`), merged across threads and
//! differenced into Consul's 10-second intervals, rendered as `/v1/agent/metrics` JSON (go-
//! metrics' `DisplayMetrics`) and as Prometheus text. The shell keeps one registry per thread
//! (no shared atomics on the hot path) and merges them on read (`node::telemetry`).
//!
//! Samples keep an `hdrhistogram` beside go-metrics' aggregates, so every sample also shows
//! its p50, p99 and p99.9, which Consul's in-memory sink does not have.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use hdrhistogram::Histogram;

/// A metric's name (without the `consul.` prefix, e.g. `api.http`) and up to two labels.
// `eq` below is content equality (with a shortcut), so the derived hash agrees with it.
#[allow(clippy::derived_hash_with_manual_eq)]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub name: &'static str,
    pub labels: [(&'static str, &'static str); 2],
}

impl PartialEq for Key {
    /// By content, as derived, but a string at the same address and length is equal without
    /// a `memcmp` call: keys come from the same literals, and every recorded metric compares
    /// five strings (a hit of the DNS answer cache spent a tenth of its time here).
    fn eq(&self, other: &Key) -> bool {
        fn same(a: &str, b: &str) -> bool {
            (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
        }
        same(self.name, other.name)
            && self
                .labels
                .iter()
                .zip(&other.labels)
                .all(|((a, b), (c, d))| same(a, c) && same(b, d))
    }
}

impl Key {
    pub const fn plain(name: &'static str) -> Key {
        Key {
            name,
            labels: [("", ""); 2],
        }
    }

    pub const fn with(name: &'static str, label: (&'static str, &'static str)) -> Key {
        Key {
            name,
            labels: [label, ("", "")],
        }
    }

    pub const fn with2(
        name: &'static str,
        a: (&'static str, &'static str),
        b: (&'static str, &'static str),
    ) -> Key {
        Key {
            name,
            labels: [a, b],
        }
    }

    fn labels(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.labels.iter().copied().filter(|(n, _)| !n.is_empty())
    }
}

/// Latencies are histogrammed in microseconds, up to this (longer ones are clamped).
const HISTOGRAM_MAX_US: u64 = 600_000_000;

/// Aggregates of one counter or sample (go-metrics' `AggregateSample`), plus a histogram of
/// a sample's values (in ms, stored as µs).
#[derive(Clone, Debug)]
pub struct Aggregate {
    pub count: u64,
    pub sum: f64,
    pub sum_sq: f64,
    pub min: f64,
    pub max: f64,
    pub histogram: Option<Histogram<u64>>,
}

impl Aggregate {
    fn new(histogram: bool) -> Aggregate {
        Aggregate {
            count: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            histogram: histogram
                .then(|| Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 2).expect("valid bounds")),
        }
    }

    fn ingest(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.sum_sq += value * value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if let Some(h) = self.histogram.as_mut() {
            h.saturating_record(((value * 1000.0) as u64).clamp(1, HISTOGRAM_MAX_US));
        }
    }

    fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if let (Some(a), Some(b)) = (self.histogram.as_mut(), other.histogram.as_ref()) {
            let _ = a.add(b);
        }
    }

    /// What was recorded after `earlier` (a cumulative aggregate of the same metric). Min and
    /// max of the difference come from its histogram (or stay cumulative for counters).
    fn since(&self, earlier: &Aggregate) -> Aggregate {
        let mut out = self.clone();
        out.count -= earlier.count.min(out.count);
        out.sum -= earlier.sum;
        out.sum_sq -= earlier.sum_sq;
        if let (Some(h), Some(e)) = (out.histogram.as_mut(), earlier.histogram.as_ref()) {
            let _ = h.subtract(e);
            if !h.is_empty() {
                out.min = h.min() as f64 / 1000.0;
                out.max = h.max() as f64 / 1000.0;
            }
        }
        out
    }

    fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// go-metrics' `Stddev`: sqrt((n·Σx² − (Σx)²) / (n(n−1))), 0 for one value or none.
    fn stddev(&self) -> f64 {
        let n = self.count as f64;
        if self.count <= 1 {
            return 0.0;
        }
        ((n * self.sum_sq - self.sum * self.sum) / (n * (n - 1.0)))
            .max(0.0)
            .sqrt()
    }

    /// The value at `q` (0..1) in ms, from the histogram.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let h = self.histogram.as_ref().filter(|h| !h.is_empty())?;
        Some(h.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// What one thread recorded since it started (cumulative), and the gauges it set.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    pub counters: HashMap<Key, Aggregate, foldhash::fast::RandomState>,
    pub samples: HashMap<Key, Aggregate, foldhash::fast::RandomState>,
    pub gauges: HashMap<Key, f64, foldhash::fast::RandomState>,
}

impl Registry {
    pub fn incr(&mut self, key: Key, by: f64) {
        self.counters
            .entry(key)
            .or_insert_with(|| Aggregate::new(false))
            .ingest(by);
    }

    /// A sample in milliseconds (timers are samples, as in go-metrics).
    pub fn sample(&mut self, key: Key, ms: f64) {
        self.samples
            .entry(key)
            .or_insert_with(|| Aggregate::new(true))
            .ingest(ms);
    }

    pub fn gauge(&mut self, key: Key, value: f64) {
        self.gauges.insert(key, value);
    }

    /// Adds another thread's registry (gauges: the other's value wins).
    pub fn merge(&mut self, other: &Registry) {
        for (k, a) in &other.counters {
            self.counters
                .entry(*k)
                .or_insert_with(|| Aggregate::new(false))
                .merge(a);
        }
        for (k, a) in &other.samples {
            self.samples
                .entry(*k)
                .or_insert_with(|| Aggregate::new(true))
                .merge(a);
        }
        self.gauges
            .extend(other.gauges.iter().map(|(k, v)| (*k, *v)));
    }

    /// What was recorded after `earlier` (both cumulative): one interval.
    pub fn since(&self, earlier: &Registry) -> Registry {
        let diff = |now: &HashMap<Key, Aggregate, _>, then: &HashMap<Key, Aggregate, _>| {
            now.iter()
                .filter_map(|(k, a)| {
                    let d = match then.get(k) {
                        Some(e) => a.since(e),
                        None => a.clone(),
                    };
                    (d.count > 0).then_some((*k, d))
                })
                .collect()
        };
        Registry {
            counters: diff(&self.counters, &earlier.counters),
            samples: diff(&self.samples, &earlier.samples),
            gauges: self.gauges.clone(),
        }
    }
}

/// How names are built (`telemetry { metrics_prefix, disable_hostname }`).
#[derive(Clone, Debug)]
pub struct Naming {
    pub prefix: String,
    /// The host name gauges carry after the prefix (go-metrics puts it on gauges only);
    /// `None` with `disable_hostname`.
    pub host: Option<String>,
}

impl Naming {
    fn name(&self, key: &Key, gauge: bool) -> String {
        match (&self.host, gauge) {
            (Some(host), true) => format!("{}.{}.{}", self.prefix, host, key.name),
            _ => format!("{}.{}", self.prefix, key.name),
        }
    }
}

/// Go's `time.Time.String()` of a UTC instant: `2025-05-20 10:41:30 +0000 UTC`.
fn go_time(unix_secs: u64) -> String {
    let rem = unix_secs % 86_400;
    let (year, month, day) = crate::civil::civil_from_days((unix_secs / 86_400) as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000 UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A float as Go's `encoding/json` writes it: integral values without a fraction (`1`, not
/// `1.0`).
fn go_float(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Value::from(v)
    }
}

fn labels_json(key: &Key) -> serde_json::Value {
    let map: BTreeMap<&str, &str> = key.labels().collect();
    serde_json::json!(map)
}

/// go-metrics sorts by the key plus `;name=value` per label.
fn sort_hash(name: &str, key: &Key) -> String {
    let mut h = name.to_string();
    for (n, v) in key.labels() {
        let _ = write!(h, ";{n}={v}");
    }
    h
}

/// `/v1/agent/metrics`: one interval as go-metrics' `MetricsSummary`, in its field order. The
/// samples also carry `P50`, `P99` and `P999` (ms), which Consul's lack.
pub fn summary_json(
    interval: &Registry,
    interval_start_secs: u64,
    naming: &Naming,
) -> serde_json::Value {
    use serde_json::{json, Value};
    let rate_denominator = 10.0;
    let aggregates = |map: &HashMap<Key, Aggregate, foldhash::fast::RandomState>,
                      percentiles: bool| {
        let mut rows: Vec<(String, Value)> = map
            .iter()
            .map(|(k, a)| {
                let name = naming.name(k, false);
                let mut row = json!({
                    "Name": name,
                    "Count": a.count,
                    "Rate": go_float(a.sum / rate_denominator),
                    "Sum": go_float(a.sum),
                    "Min": go_float(a.min),
                    "Max": go_float(a.max),
                    "Mean": go_float(a.mean()),
                    "Stddev": go_float(a.stddev()),
                    "Labels": labels_json(k),
                });
                if percentiles {
                    let obj = row.as_object_mut().expect("an object");
                    for (field, q) in [("P50", 0.5), ("P99", 0.99), ("P999", 0.999)] {
                        obj.insert(field.into(), go_float(a.quantile(q).unwrap_or(0.0)));
                    }
                }
                (sort_hash(&name, k), row)
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Array(rows.into_iter().map(|(_, v)| v).collect())
    };
    let mut gauges: Vec<(String, Value)> = interval
        .gauges
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| {
            let name = naming.name(k, true);
            let row = json!({"Name": name, "Value": go_float(*v), "Labels": labels_json(k)});
            (sort_hash(&name, k), row)
        })
        .collect();
    gauges.sort_by(|a, b| a.0.cmp(&b.0));
    json!({
        "Timestamp": go_time(interval_start_secs),
        "Gauges": gauges.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "Points": [],
        "Counters": aggregates(&interval.counters, false),
        "Samples": aggregates(&interval.samples, true),
    })
}

/// A Prometheus metric name: go-metrics' sink joins with `_` and maps ` .=-/` to `_`.
fn prometheus_name(dotted: &str) -> String {
    dotted
        .chars()
        .map(|c| match c {
            ' ' | '.' | '=' | '-' | '/' => '_',
            c => c,
        })
        .collect()
}

fn prometheus_labels(key: &Key, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = key
        .labels()
        .map(|(n, v)| format!("{n}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    parts.sort();
    if let Some((n, v)) = extra {
        parts.push(format!("{n}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The Prometheus text exposition (0.0.4): counters and summaries cumulative since start
/// (`total`), summary quantiles from the last interval (`interval`) as Consul's sink keeps a
/// 10-second window; families sorted by name.
pub fn prometheus_text(total: &Registry, interval: &Registry, naming: &Naming) -> String {
    let mut families: BTreeMap<String, (&'static str, Vec<String>)> = BTreeMap::new();
    for (k, v) in total.gauges.iter().filter(|(_, v)| v.is_finite()) {
        let name = prometheus_name(&naming.name(k, true));
        families
            .entry(name.clone())
            .or_insert(("gauge", Vec::new()))
            .1
            .push(format!("{name}{} {v}", prometheus_labels(k, None)));
    }
    for (k, a) in &total.counters {
        let name = prometheus_name(&naming.name(k, false));
        families
            .entry(name.clone())
            .or_insert(("counter", Vec::new()))
            .1
            .push(format!("{name}{} {}", prometheus_labels(k, None), a.sum));
    }
    for (k, a) in &total.samples {
        let name = prometheus_name(&naming.name(k, false));
        let recent = interval.samples.get(k);
        // One entry per series (sorted by its labels), its lines in the exposition's order:
        // quantiles, then `_sum` and `_count`.
        let mut series = Vec::new();
        for q in [0.5, 0.9, 0.99, 0.999] {
            let v = match recent.and_then(|r| r.quantile(q)) {
                Some(v) => v.to_string(),
                None => "NaN".to_string(),
            };
            let labels = prometheus_labels(k, Some(("quantile", q.to_string())));
            series.push(format!("{name}{labels} {v}"));
        }
        let labels = prometheus_labels(k, None);
        series.push(format!("{name}_sum{labels} {}", a.sum));
        series.push(format!("{name}_count{labels} {}", a.count));
        families
            .entry(name.clone())
            .or_insert(("summary", Vec::new()))
            .1
            .push(series.join("\n"));
    }
    let mut out = String::new();
    for (name, (kind, mut lines)) in families {
        lines.sort();
        let _ = writeln!(out, "# HELP {name} {name}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP: Key = Key::with2("api.http", ("method", "GET"), ("path", "v1_kv_"));

    #[test]
    fn registries_merge_and_difference_into_intervals() {
        let (mut a, mut b) = (Registry::default(), Registry::default());
        a.sample(HTTP, 1.0);
        b.sample(HTTP, 3.0);
        a.incr(Key::plain("rpc.request"), 1.0);
        let mut first = Registry::default();
        first.merge(&a);
        first.merge(&b);
        b.sample(HTTP, 10.0);
        let mut second = Registry::default();
        second.merge(&a);
        second.merge(&b);
        let interval = second.since(&first);
        let s = &interval.samples[&HTTP];
        assert_eq!((s.count, s.sum), (1, 10.0));
        assert!(
            (s.min - 10.0).abs() < 0.1 && (s.max - 10.0).abs() < 0.1,
            "{s:?}"
        );
        assert!(interval.counters.is_empty(), "no new counts");
        let total = &second.samples[&HTTP];
        assert_eq!((total.count, total.min, total.max), (3, 1.0, 10.0));
        // go-metrics' sample stddev of 1, 3, 10.
        assert!((total.stddev() - 4.725).abs() < 0.001, "{}", total.stddev());
    }

    #[test]
    fn the_summary_has_consuls_shape_and_names() {
        let mut r = Registry::default();
        r.sample(HTTP, 2.0);
        r.incr(Key::plain("rpc.request"), 1.0);
        r.gauge(Key::plain("runtime.alloc_bytes"), 1024.0);
        r.gauge(Key::plain("raft.leader.lastContact"), f64::NAN);
        let naming = Naming {
            prefix: "consul".into(),
            host: Some("node1".into()),
        };
        let v = summary_json(&r, 1_747_737_690, &naming);
        assert_eq!(v["Timestamp"], "2025-05-20 10:41:30 +0000 UTC");
        assert_eq!(v["Gauges"][0]["Name"], "consul.node1.runtime.alloc_bytes");
        assert_eq!(
            v["Gauges"].as_array().unwrap().len(),
            1,
            "NaN gauges are left out"
        );
        assert_eq!(v["Counters"][0]["Name"], "consul.rpc.request");
        assert_eq!(v["Counters"][0]["Rate"], 0.1);
        assert_eq!(
            v["Gauges"][0]["Value"].to_string(),
            "1024",
            "as Go writes a float64"
        );
        let s = &v["Samples"][0];
        assert_eq!(s["Name"], "consul.api.http");
        assert_eq!(
            s["Labels"],
            serde_json::json!({"method": "GET", "path": "v1_kv_"})
        );
        let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "Name", "Count", "Rate", "Sum", "Min", "Max", "Mean", "Stddev", "Labels", "P50",
                "P99", "P999"
            ]
        );
        assert!((s["P99"].as_f64().unwrap() - 2.0).abs() < 0.02);
    }

    #[test]
    fn prometheus_text_names_and_types_each_family() {
        let mut r = Registry::default();
        r.sample(HTTP, 2.0);
        r.incr(Key::with("rpc.cross-dc", ("datacenter", "dc2")), 1.0);
        let naming = Naming {
            prefix: "consul".into(),
            host: None,
        };
        let text = prometheus_text(&r, &r, &naming);
        assert!(text.contains("# TYPE consul_api_http summary\n"), "{text}");
        assert!(
            text.contains("consul_api_http{method=\"GET\",path=\"v1_kv_\",quantile=\"0.99\"} 2")
        );
        assert!(text.contains("consul_api_http_count{method=\"GET\",path=\"v1_kv_\"} 1\n"));
        assert!(text.contains(
            "# TYPE consul_rpc_cross_dc counter\nconsul_rpc_cross_dc{datacenter=\"dc2\"} 1\n"
        ));
    }
}
