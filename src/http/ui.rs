//! The web UI (issue 18): with `ui_config.enabled`, `/` redirects to `content_path`, the app's
//! files are served under it (built into the binary from `ui/`, or read from `ui_config.dir`),
//! and every other path under it answers the app's page, whose router draws the deep link.
//!
//! The app is plain HTML, CSS and JavaScript written by hand (`ui/`): no build step, no
//! framework, nothing fetched from elsewhere. It talks to the agent only through the HTTP API,
//! as any client does.

use bytes::Bytes;

use super::response::Reply;
use crate::config::AgentConfig;

/// The built-in files, by their path under `content_path`.
const BUILT_IN: &[(&str, &str, &str)] = &[
    (
        "assets/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    ),
    (
        "assets/app.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/app.css"),
    ),
    (
        "assets/favicon.svg",
        "image/svg+xml",
        include_str!("../../ui/favicon.svg"),
    ),
];
const INDEX: &str = include_str!("../../ui/index.html");

/// The UI's answer for `path`, or `None` when the path is not the UI's (the API, or the UI
/// off).
pub fn serve(config: &AgentConfig, path: &str, method: &str) -> Option<Reply> {
    let ui = &config.ui;
    if !ui.enabled || path.starts_with("/v1/") {
        return None;
    }
    let base = ui.content_path.as_str();
    if path == "/" && base != "/" {
        return Some(Reply::empty(301).with("Location", base));
    }
    if path == base.trim_end_matches('/') {
        return Some(Reply::empty(301).with("Location", base));
    }
    let rest = path.strip_prefix(base)?;
    if method != "GET" && method != "HEAD" {
        return Some(
            Reply::text(405, format!("method {method} not allowed")).with("Allow", "GET,HEAD"),
        );
    }
    if let Some(dir) = &ui.dir {
        return Some(from_dir(config, dir, rest));
    }
    if let Some((_, content_type, text)) = BUILT_IN.iter().find(|(name, _, _)| *name == rest) {
        return Some(file(content_type, Bytes::from_static(text.as_bytes())));
    }
    if rest.starts_with("assets/") {
        return Some(Reply::text(404, "404 page not found\n"));
    }
    Some(index(config, INDEX))
}

/// The page, told where it lives and what the agent offers (the settings Consul's UI reads
/// from its `<meta>` too).
fn index(config: &AgentConfig, page: &str) -> Reply {
    let settings = serde_json::json!({
        "ContentPath": config.ui.content_path,
        "Datacenter": config.datacenter,
        "ACLsEnabled": config.acl_enabled,
        "MetricsProvider": config.ui.metrics_provider,
    });
    let escaped = settings
        .to_string()
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let page = page
        .replace("{{CONTENT_PATH}}", &config.ui.content_path)
        .replace("{{SETTINGS}}", &escaped);
    file("text/html; charset=utf-8", Bytes::from(page)).with("Cache-Control", "no-cache")
}

fn file(content_type: &'static str, body: Bytes) -> Reply {
    Reply {
        status: 200,
        content_type: Some(content_type),
        headers: Vec::new(),
        body,
        stream: None,
    }
}

/// `ui_config.dir`: the file at `rest` when there is one inside the directory, else its
/// `index.html`. The path arrives percent-decoded: only plain names are followed (no `..`, no
/// hidden files, no empty segment, so `/ui//etc/passwd` cannot make `rest` absolute), and the
/// file found must still be under the directory once links are resolved.
fn from_dir(config: &AgentConfig, dir: &std::path::Path, rest: &str) -> Reply {
    let plain = !rest.is_empty()
        && rest
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.contains('\\'));
    let wanted = dir.join(rest);
    let inside = plain
        && match (wanted.canonicalize(), dir.canonicalize()) {
            (Ok(file), Ok(root)) => file.starts_with(root) && file.is_file(),
            _ => false,
        };
    if inside {
        return match std::fs::read(&wanted) {
            Ok(bytes) => file(content_type_of(rest), Bytes::from(bytes)),
            Err(e) => Reply::text(500, format!("reading {}: {e}", wanted.display())),
        };
    }
    match std::fs::read_to_string(dir.join("index.html")) {
        Ok(page) => index(config, &page),
        Err(e) => Reply::text(404, format!("no UI in {}: {e}", dir.display())),
    }
}

fn content_type_of(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(enabled: bool, content_path: &str) -> AgentConfig {
        let mut c = AgentConfig::dev_defaults("n1".into(), 1);
        c.ui.enabled = enabled;
        c.ui.content_path = content_path.into();
        c
    }

    #[test]
    fn the_root_redirects_deep_links_load_the_page_and_assets_are_served() {
        let c = config(true, "/ui/");
        let root = serve(&c, "/", "GET").unwrap();
        assert_eq!(root.status, 301);
        assert!(root.headers.contains(&("Location", "/ui/".to_string())));
        assert_eq!(serve(&c, "/ui", "GET").unwrap().status, 301);
        for deep in ["/ui/", "/ui/dc1/services/web", "/ui/dc1/kv/a/b%20c/"] {
            let page = serve(&c, deep, "GET").unwrap();
            assert_eq!(page.status, 200, "{deep}");
            let html = String::from_utf8_lossy(&page.body).to_string();
            assert!(html.contains("/ui/assets/app.js"), "{deep}: {html}");
        }
        let js = serve(&c, "/ui/assets/app.js", "GET").unwrap();
        assert_eq!(js.content_type, Some("text/javascript; charset=utf-8"));
        assert_eq!(serve(&c, "/ui/assets/nope.js", "GET").unwrap().status, 404);
        assert_eq!(serve(&c, "/ui/", "POST").unwrap().status, 405);
        assert!(
            serve(&c, "/v1/kv/x", "GET").is_none(),
            "the API is not the UI's"
        );
        assert!(serve(&c, "/other", "GET").is_none());
    }

    #[test]
    fn a_content_path_moves_it_and_off_means_off() {
        let c = config(true, "/console/");
        let root = serve(&c, "/", "GET").unwrap();
        assert!(root
            .headers
            .contains(&("Location", "/console/".to_string())));
        let page = serve(&c, "/console/dc1/nodes", "GET").unwrap();
        assert!(String::from_utf8_lossy(&page.body).contains("/console/assets/app.css"));
        assert!(serve(&c, "/ui/", "GET").is_none());
        assert!(serve(&config(false, "/ui/"), "/", "GET").is_none());
        assert_eq!(crate::config::ui_content_path("console"), "/console/");
        assert_eq!(crate::config::ui_content_path("/"), "/");
    }

    #[test]
    fn a_directory_is_served_instead_without_escaping_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>{{CONTENT_PATH}}</p>").unwrap();
        std::fs::write(dir.path().join("x.css"), "p{}").unwrap();
        let mut c = config(true, "/ui/");
        c.ui.dir = Some(dir.path().to_path_buf());
        let css = serve(&c, "/ui/x.css", "GET").unwrap();
        assert_eq!(
            (css.status, css.content_type),
            (200, Some("text/css; charset=utf-8"))
        );
        let page = serve(&c, "/ui/dc1/services", "GET").unwrap();
        assert_eq!(&page.body[..], b"<p>/ui/</p>");
        for escape in [
            "/ui/../etc/passwd",
            "/ui//etc/passwd",
            "/ui/x.css/../../etc/passwd",
        ] {
            let answer = serve(&c, escape, "GET").unwrap();
            assert_eq!(
                &answer.body[..],
                b"<p>/ui/</p>",
                "{escape}: never outside the directory"
            );
        }
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        let linked = serve(&c, "/ui/link", "GET").unwrap();
        assert_eq!(
            &linked.body[..],
            b"<p>/ui/</p>",
            "a link out of the directory is not followed"
        );
    }
}
