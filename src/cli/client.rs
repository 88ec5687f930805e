//! The CLI's HTTP client: `-http-addr` / `CONSUL_HTTP_ADDR`, `-token` / `CONSUL_HTTP_TOKEN`.

use std::io::Read;
use std::time::Duration;

/// Flags every client command accepts (Consul's `flags.HTTPFlags`, the ones we honour).
pub const HTTP_VALUE_FLAGS: &[&str] = &[
    "http-addr",
    "token",
    "token-file",
    "datacenter",
    "ca-file",
    "ca-path",
    "client-cert",
    "client-key",
    "tls-server-name",
];

/// A connection to one agent's HTTP API.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    datacenter: Option<String>,
    agent: ureq::Agent,
    streaming: ureq::Agent,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// An HTTP answer, whatever its status.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// `X-Consul-Index`, when the answer carries one.
    pub index: Option<u64>,
}

impl Client {
    /// Builds a client from the parsed flags and the environment.
    pub fn from_flags(flags: &super::flags::Parsed) -> Result<Client, String> {
        let addr = flags
            .value("http-addr")
            .map(str::to_string)
            .or_else(|| {
                std::env::var("CONSUL_HTTP_ADDR")
                    .ok()
                    .filter(|a| !a.is_empty())
            })
            .unwrap_or_else(|| "127.0.0.1:8500".into());
        // `CONSUL_HTTP_SSL=true` makes a bare address HTTPS, as Consul's client does.
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let ssl_env = env("CONSUL_HTTP_SSL").is_some_and(|v| v == "true" || v == "1");
        let (scheme, base) = if let Some(rest) = addr.strip_prefix("http://") {
            ("http", rest.to_string())
        } else if let Some(rest) = addr.strip_prefix("https://") {
            ("https", rest.to_string())
        } else if addr.starts_with("unix://") {
            return Err(format!("Error: {addr}: unix sockets are not supported"));
        } else if ssl_env {
            ("https", addr)
        } else {
            ("http", addr)
        };
        // Consul's order: -token, -token-file, CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE.
        let from_file = |path: &str| -> Result<String, String> {
            std::fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .map_err(|e| format!("Error loading token file: {e}"))
        };
        let token = match (flags.value("token"), flags.value("token-file")) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(f)) => Some(from_file(f)?),
            (None, None) => match (env("CONSUL_HTTP_TOKEN"), env("CONSUL_HTTP_TOKEN_FILE")) {
                (Some(t), _) => Some(t),
                (None, Some(f)) => Some(from_file(&f)?),
                (None, None) => None,
            },
        };
        let path = |flag: &str, var: &str| {
            flags
                .value(flag)
                .map(str::to_string)
                .or_else(|| env(var))
                .map(std::path::PathBuf::from)
        };
        let tls = crate::io::https::ClientTls {
            ca_file: path("ca-file", "CONSUL_CACERT"),
            ca_path: path("ca-path", "CONSUL_CAPATH"),
            client_cert: path("client-cert", "CONSUL_CLIENT_CERT"),
            client_key: path("client-key", "CONSUL_CLIENT_KEY"),
            verify: env("CONSUL_HTTP_SSL_VERIFY").is_none_or(|v| v != "false" && v != "0"),
        };
        let tls = match scheme {
            "https" => Some(crate::io::https::client_config(&tls)?),
            _ => None,
        };
        let builder = |timeout: Option<Duration>| {
            let mut b = ureq::AgentBuilder::new();
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            if let Some(config) = &tls {
                b = b.tls_config(config.clone());
            }
            b.build()
        };
        Ok(Client {
            base: format!("{scheme}://{}", base.trim_end_matches('/')),
            agent: builder(Some(Duration::from_secs(330))),
            // No overall timeout: a monitor runs until one side stops.
            streaming: builder(None),
            tls: tls.clone(),
            token,
            datacenter: flags.value("datacenter").map(str::to_string),
        })
    }

    /// Sends a request; `path_and_query` starts with `/v1/`.
    pub fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&[u8]>,
    ) -> Result<Answer, String> {
        let mut url = format!("{}{}", self.base, path_and_query);
        if let Some(dc) = &self.datacenter {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("dc=");
            url.push_str(dc);
        }
        let mut request = self.agent.request(method, &url);
        if let Some(token) = &self.token {
            request = request.set("X-Consul-Token", token);
        }
        let result = match body {
            Some(b) => request.send_bytes(b),
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => {
                return Err(format!(
                    "Error connecting to the agent at {}: {e}",
                    self.base
                ))
            }
        };
        let status = response.status();
        let index = response
            .header("X-Consul-Index")
            .and_then(|v| v.parse().ok());
        let mut body = Vec::new();
        response
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| e.to_string())?;
        Ok(Answer {
            status,
            body,
            index,
        })
    }
}

impl Client {
    /// GETs a streamed body and hands it over line by line (without the newline) until the
    /// agent ends it; `Err` carries Consul's `Unexpected response code` text for a refusal.
    pub fn stream_lines(&self, path: &str, line: impl FnMut(&str)) -> Result<(), String> {
        self.stream(&self.streaming, path, line)
    }

    /// `stream_lines` until `deadline` (the connection is then closed from our side).
    pub fn stream_lines_until(
        &self,
        path: &str,
        deadline: std::time::Instant,
        line: impl FnMut(&str),
    ) -> Result<(), String> {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut builder = ureq::AgentBuilder::new().timeout(left);
        if let Some(config) = &self.tls {
            builder = builder.tls_config(config.clone());
        }
        match self.stream(&builder.build(), path, line) {
            // Reaching the deadline ends the read with a timeout: that is the normal end.
            Err(e) if std::time::Instant::now() >= deadline && !e.contains("Unexpected") => Ok(()),
            other => other,
        }
    }

    fn stream(
        &self,
        agent: &ureq::Agent,
        path: &str,
        mut line: impl FnMut(&str),
    ) -> Result<(), String> {
        use std::io::BufRead;
        let mut request = agent.get(&format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            request = request.set("X-Consul-Token", token);
        }
        let response = match request.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => {
                let body = r.into_string().unwrap_or_default();
                return Err(Answer {
                    status,
                    body: body.into_bytes(),
                    index: None,
                }
                .error_text());
            }
            Err(e) => {
                return Err(format!(
                    "Error connecting to the agent at {}: {e}",
                    self.base
                ))
            }
        };
        for text in std::io::BufReader::new(response.into_reader()).lines() {
            match text {
                Ok(text) => line(&text),
                Err(_) => break,
            }
        }
        Ok(())
    }
}

impl Answer {
    /// Consul's Go-client error text: `Unexpected response code: 500 (body)`.
    pub fn error_text(&self) -> String {
        format!(
            "Unexpected response code: {} ({})",
            self.status,
            String::from_utf8_lossy(&self.body).trim()
        )
    }
}

/// Percent-encodes a KV key for a URL path, keeping `/` (as the Go client does).
pub fn escape_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

/// Parses a client command's flags (its own plus the common HTTP ones and `-stale`) and builds
/// the client they describe.
pub fn connect(
    args: &[String],
    bools: &[&str],
    values: &[&str],
) -> Result<(super::flags::Parsed, Client), String> {
    let values: Vec<&str> = values.iter().chain(HTTP_VALUE_FLAGS).copied().collect();
    let bools: Vec<&str> = bools.iter().copied().chain(["stale"]).collect();
    let spec = super::flags::FlagSpec {
        bools: &bools,
        values: &values,
    };
    let p = super::flags::parse_command(args, &spec)?;
    let client = Client::from_flags(&p)?;
    Ok((p, client))
}

impl Client {
    /// GETs a JSON list; a 404 is an empty list (Consul's "nothing under this prefix").
    pub fn get_list<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, String> {
        let a = self.call("GET", path, None)?;
        match a.status {
            200 => serde_json::from_slice(&a.body).map_err(|e| e.to_string()),
            404 => Ok(Vec::new()),
            _ => Err(format!("Error querying Consul agent: {}", a.error_text())),
        }
    }
}
