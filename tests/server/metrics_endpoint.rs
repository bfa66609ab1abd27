//! `GET /metrics` over a real socket: the OpenMetrics text written by
//! `prometheus-client` from the hub's counters, after real Socket.IO traffic, and its
//! optional bearer token.

use crate::support::*;
use serde_json::json;

fn get(url: &str, token: Option<&str>) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().expect("HTTP exchange");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.body_mut().read_to_string().expect("UTF-8 body");
    (response.status().as_u16(), content_type, body)
}

#[test]
fn metrics_endpoint_serves_the_openmetrics_text_over_a_socket() {
    let server = serve(builder().build().unwrap(), config());
    let (status, content_type, body) = run(async {
        let mut ada = SioWs::login(server.addr, "ada", &token("u1", "user", None), "modules").await;
        server
            .hub
            .emit_module_online("MC-1", &json!({"userId": "u1"}))
            .unwrap();
        server
            .hub
            .emit_module_online("MC-1", &json!({"userId": "u1"}))
            .unwrap();
        assert_eq!(ada.event().await.0, "module:status:changed");
        // Scraped while Ada is still connected (a blocking call is fine here: the
        // server runs on its own runtime).
        get(&format!("http://{}/metrics", server.addr), None)
    });
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for line in [
        "# TYPE mcrt_emits counter",
        "mcrt_emits_total{outcome=\"changed\"} 1",
        "mcrt_emits_total{outcome=\"unchanged\"} 1",
        "mcrt_connections{state=\"user\"} 1",
        "mcrt_auth_attempts_total{result=\"success\"} 1",
        "# TYPE mcrt_delivery_latency_seconds histogram",
        "mcrt_bad_inputs_total{kind=\"invalid_json\"} 0",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    let count: u64 = body
        .lines()
        .find_map(|line| line.strip_prefix("mcrt_delivery_latency_seconds_count "))
        .and_then(|n| n.parse().ok())
        .expect("latency count");
    assert!(
        count >= 2,
        "auth:ok and the status change were drained: {count}"
    );
    let inf = format!("mcrt_delivery_latency_seconds_bucket{{le=\"+Inf\"}} {count}");
    assert!(body.contains(&inf), "missing {inf:?} in\n{body}");
    assert!(body.ends_with("# EOF\n"));
}

#[test]
fn metrics_token_is_required_when_configured() {
    let config = microcoaster_realtime::ServerConfig {
        metrics_token: Some("scrape-secret".into()),
        ..config()
    };
    let server = serve(builder().build().unwrap(), config);
    let url = format!("http://{}/metrics", server.addr);
    assert_eq!(get(&url, None).0, 401);
    assert_eq!(get(&url, Some("wrong")).0, 401);
    let (status, _, body) = get(&url, Some("scrape-secret"));
    assert_eq!(status, 200);
    assert!(body.contains("mcrt_frames_delivered_total 0"), "{body}");
}
