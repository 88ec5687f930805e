//! The agent's operations endpoints: `PUT /v1/agent/reload` (answered by the main thread,
//! which owns the config sources), `GET /v1/agent/monitor` (the log, streamed) and
//! `/v1/agent/metrics` (`node::telemetry`, rendered by `metrics`).

use bytes::Bytes;

use crate::config::AgentConfig;
use crate::http::request::ApiRequest;
use crate::http::response::{BodyStream, Reply};
use crate::io::logging;
use crate::mesh::ReloadRequest;
use crate::node::ctx::ShardCtx;
use crate::node::telemetry;

/// Reloads the agent and answers once it is done: 200 with an empty body, or 500 with the
/// reason the new configuration was refused (the running one stays).
pub async fn reload(ctx: &ShardCtx) -> Reply {
    let (reply, outcome) = tokio::sync::oneshot::channel();
    if ctx.mesh.reload.try_send(ReloadRequest { reply }).is_err() {
        return Reply::error(&crate::error::ApiError::RateLimited);
    }
    match outcome.await {
        Ok(Ok(())) => Reply {
            status: 200,
            content_type: None,
            headers: Vec::new(),
            body: Bytes::new(),
            stream: None,
        },
        Ok(Err(e)) => Reply::text(500, e),
        Err(_) => Reply::text(500, "agent did not answer the reload"),
    }
}

/// Streams the agent's log from now on at `?loglevel=` (INFO by default, whatever the
/// agent's own level), in JSON when `logjson` is present at all, until the client goes.
pub fn monitor(req: &ApiRequest) -> Reply {
    let asked = req
        .query
        .get("loglevel")
        .filter(|l| !l.is_empty())
        .unwrap_or("INFO");
    let Some(level) = logging::parse_level(asked) else {
        return Reply::text(400, format!("Unknown log level: {asked}"));
    };
    let mut lines = logging::monitor(level, req.query.has("logjson"));
    Reply {
        status: 200,
        // Consul sets none: its first flush carries no data for Go to sniff.
        content_type: None,
        headers: Vec::new(),
        body: Bytes::new(),
        stream: Some(BodyStream(Box::new(move |cx| lines.poll_line(cx)))),
    }
}

/// True when the request asks for Prometheus text: `?format=prometheus`, or an `Accept` of
/// OpenMetrics or `text/plain; version=0.4.0` (Consul's tests).
fn wants_prometheus(req: &ApiRequest) -> bool {
    if req.query.get("format") == Some("prometheus") {
        return true;
    }
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("accept"))
        .any(|(_, accept)| {
            accept.contains("application/openmetrics-text")
                || accept
                    .split(';')
                    .nth(1)
                    .is_some_and(|v| v.trim() == "version=0.4.0")
        })
}

/// `GET /v1/agent/metrics`: the last 10-second interval as go-metrics' summary, or
/// everything since start as Prometheus text (only with `prometheus_retention_time` set).
pub fn metrics(config: &AgentConfig, req: &ApiRequest) -> Reply {
    telemetry::publish();
    let naming = telemetry::naming(config);
    if wants_prometheus(req) {
        if config.telemetry.prometheus_retention_ms == 0 {
            // Consul 1.21 builds a 415 with this text, but its HTTP wrapper returns before
            // writing it: on the wire it is a 200 with an empty body and the reason in a
            // header (py-consul's suite checks exactly that).
            let reason = "Prometheus is not enabled since its retention time is not positive";
            return Reply {
                status: 200,
                content_type: None,
                headers: vec![("X-Consul-Reason", reason.to_string())],
                body: Bytes::new(),
                stream: None,
            };
        }
        let (_, interval) = telemetry::last_interval();
        let text = crate::metrics::prometheus_text(&telemetry::collect(), &interval, &naming);
        return Reply {
            status: 200,
            content_type: Some("text/plain; version=0.0.4; charset=utf-8"),
            headers: Vec::new(),
            body: Bytes::from(text),
            stream: None,
        };
    }
    let (start, interval) = telemetry::last_interval();
    Reply::json(
        &crate::metrics::summary_json(&interval, start, &naming),
        req.style,
    )
}

/// `GET /v1/agent/metrics/stream`: the summary now and then after every interval, indented
/// and one per line, until the client goes.
pub fn metrics_stream(config: &AgentConfig) -> Reply {
    let naming = telemetry::naming(config);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    let style = crate::http::response::JsonStyle {
        indent: true,
        newline: true,
    };
    let next = move |cx: &mut std::task::Context<'_>| {
        tick.poll_tick(cx).map(|_| {
            let (start, interval) = telemetry::last_interval();
            let summary = crate::metrics::summary_json(&interval, start, &naming);
            Some(Bytes::from(crate::http::response::encode_json(
                &summary, style,
            )))
        })
    };
    Reply {
        status: 200,
        content_type: Some("application/json"),
        headers: Vec::new(),
        body: Bytes::new(),
        stream: Some(BodyStream(Box::new(next))),
    }
}
