//! The dashboard the server example serves at `/`: the reference front end (static
//! HTML + JS compiled into the binary, using the seed's client event names), the
//! official Socket.IO browser client at `/vendor/socket.io.min.js`, the charting
//! library uPlot at `/vendor/uPlot.iife.min.js` and `/vendor/uPlot.min.css`, and in `--demo`
//! mode the demo logins at `/demo/tokens`.
//!
//! The Socket.IO client bundle is not part of this repository: it is read at start from
//! `<web dir>/node_modules/socket.io-client/dist/socket.io.min.js`, which
//! `npm ci --prefix web` installs (scripts/test does it). When it is missing at start
//! and npm is on the PATH, the server runs `npm ci --omit=dev` in the web directory
//! once, so the main command works on a fresh clone with nothing to configure. If
//! that fails the server still runs: `/vendor/socket.io.min.js` answers 404 with the
//! command, the page shows a banner saying the same, and a warning is logged.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use microcoaster_realtime::transport::server::{HttpHandler, HttpRequest, HttpResponse};
use serde_json::Value;

const INDEX: &str = include_str!("../../web/index.html");
const APP: &str = include_str!("../../web/app.js");
const CHARTS_JS: &str = include_str!("../../web/charts.js");
const STYLE: &str = include_str!("../../web/style.css");

/// Installs the dashboard's runtime dependency (the Socket.IO browser client) with npm;
/// a failure is only logged, the server runs without the dashboard.
fn install_bundle(web_dir: &Path) {
    eprintln!(
        "installing the dashboard's Socket.IO browser client: npm ci --omit=dev in {}",
        web_dir.display()
    );
    let status = std::process::Command::new("npm")
        .args([
            "ci",
            "--omit=dev",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(web_dir)
        .env("PUPPETEER_SKIP_DOWNLOAD", "1")
        .stdout(std::process::Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!(%status, "npm ci for the dashboard failed"),
        Err(error) => {
            tracing::warn!(%error, "npm is not available to install the dashboard's client")
        }
    }
}

/// Where the bundle sits inside the web directory.
pub const BUNDLE: &str = "node_modules/socket.io-client/dist/socket.io.min.js";

/// The charting library (uPlot, MIT, ~50 KB), installed by the same `npm ci`: served
/// path, file inside the web directory, content type.
const CHARTS: [(&str, &str, &str); 2] = [
    (
        "/vendor/uPlot.iife.min.js",
        "node_modules/uplot/dist/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "/vendor/uPlot.min.css",
        "node_modules/uplot/dist/uPlot.min.css",
        "text/css; charset=utf-8",
    ),
];

fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Option<HttpResponse> {
    Some(HttpResponse {
        status: 200,
        content_type,
        body: body.into(),
    })
}

/// The charting library's files under `web_dir`, each with its path and content type
/// (`None`, and a warning, for a missing one).
fn read_charts(web_dir: &Path) -> Vec<(&'static str, &'static str, Option<Bytes>)> {
    CHARTS
        .iter()
        .map(|(path, file, content_type)| {
            let bytes = std::fs::read(web_dir.join(file)).ok().map(Bytes::from);
            if bytes.is_none() {
                tracing::warn!(
                    file,
                    "the charting library is missing: the dashboard draws no charts \
                     (run `npm ci --prefix web`)"
                );
            }
            (*path, *content_type, bytes)
        })
        .collect()
}

/// The handler for the dashboard's paths; `demo_logins` is the JSON array served at
/// `/demo/tokens` (only in demo mode).
pub fn handler(web_dir: &Path, demo_logins: Option<Value>) -> HttpHandler {
    let bundle_path = web_dir.join(BUNDLE);
    let charts_missing = CHARTS
        .iter()
        .any(|(_, file, _)| !web_dir.join(file).exists());
    if (!bundle_path.exists() || charts_missing) && web_dir.join("package-lock.json").exists() {
        install_bundle(web_dir);
    }
    let bundle = match std::fs::read(&bundle_path) {
        Ok(bytes) => Some(Bytes::from(bytes)),
        Err(error) => {
            tracing::warn!(
                path = %bundle_path.display(),
                %error,
                "the Socket.IO browser client is missing: the dashboard cannot connect \
                 (run `npm ci --prefix web`)"
            );
            None
        }
    };
    let charts = read_charts(web_dir);
    let demo = demo_logins.map(|logins| Bytes::from(logins.to_string()));
    Arc::new(move |request: HttpRequest| {
        if request.method != "GET" {
            return None;
        }
        match request.path.as_str() {
            "/" | "/index.html" => ok("text/html; charset=utf-8", INDEX),
            "/dashboard/app.js" => ok("text/javascript; charset=utf-8", APP),
            "/dashboard/charts.js" => ok("text/javascript; charset=utf-8", CHARTS_JS),
            "/dashboard/style.css" => ok("text/css; charset=utf-8", STYLE),
            "/vendor/socket.io.min.js" => match &bundle {
                Some(bytes) => ok("text/javascript; charset=utf-8", bytes.clone()),
                None => Some(HttpResponse {
                    status: 404,
                    content_type: "text/plain; charset=utf-8",
                    body: Bytes::from_static(
                        b"socket.io-client is not installed: run `npm ci --prefix web`\n",
                    ),
                }),
            },
            "/demo/tokens" => demo.clone().and_then(|body| ok("application/json", body)),
            path => charts
                .iter()
                .find(|(served, _, _)| *served == path)
                .and_then(|(_, content_type, bytes)| ok(content_type, bytes.clone()?)),
        }
    })
}
