//! The configuration schema's unit tests: defaults, aliases, refusals (each naming its
//! key), and that a hub and a server build from what the schema returns. They must not
//! start a server (a hub built here is shut down at once).

use serde_json::{Value, json};

use std::time::Duration;

use super::{ConfigError, HubConfig, ServeConfig};
use crate::hub::Hub;

/// The canonical form of the defaults; the C, Node and Python suites check the same.
fn documented_defaults() -> Value {
    json!({
        "jwtSecret": null,
        "jwt": null,
        "pages": ["modules", "admin", "dashboard"],
        "routes": [],
        "queueCapacity": 65536,
        "queueMaxBytes": 2_097_152,
        "maxAuthFailures": 5,
        "maxConnectionsPerUser": 100,
        "maxMessageBytes": 65536,
        "snapshotPageSize": 500,
        "deviceOfflineGraceMs": 5000,
        "persist": null,
        "redis": null,
        "nodeId": null,
    })
}

fn hub(value: Value) -> Result<HubConfig, ConfigError> {
    HubConfig::from_json(&value)
}

#[test]
fn defaults_are_the_documented_ones() {
    let empty = hub(json!({})).unwrap();
    assert_eq!(empty, HubConfig::default());
    assert_eq!(serde_json::to_value(&empty).unwrap(), documented_defaults());
    let serve = ServeConfig::from_json(&json!({})).unwrap();
    assert_eq!(serve, ServeConfig::default());
    assert_eq!(
        serde_json::to_value(&serve).unwrap(),
        json!({
            "workerThreads": 0, "pingIntervalMs": 25000, "pingTimeoutMs": 20000,
            "maxPayload": 1_000_000, "maxMessageBytes": 65536, "authDeadlineMs": 10000,
            "maxAttachments": 10, "connectTimeoutMs": 45000,
            "maxConnections": 100_000, "maxConnectionsPerIp": 0, "socketioPath": "/socket.io/", "nativePath": "/ws",
            "shutdownDeadlineMs": 5000, "writeCoalesceMs": 2,
            "slowConsumerTimeoutMs": 10000, "apiKey": null,
            "allowedOrigins": [], "handshakesPerSecond": 0, "maxHeaderBytes": 32768,
            "headerTimeoutMs": 10000, "trustedProxies": [], "raiseFdLimit": true,
        })
    );
}

/// The builder a configuration makes and `Hub::builder()` agree, and on the
/// documented values: neither side keeps defaults of its own.
#[test]
fn hub_builder_defaults_are_the_schema_defaults() {
    let schema = HubConfig::default().into_builder();
    let builder = Hub::builder();
    assert_eq!(schema.limits, builder.limits);
    assert_eq!(schema.pages, builder.pages);
    assert_eq!(schema.device_grace, builder.device_grace);
    assert_eq!(schema.jwt_secret, builder.jwt_secret);
    assert_eq!(schema.routes, builder.routes);
    assert_eq!(schema.persist, builder.persist);
    let config = HubConfig::default();
    assert_eq!(
        (
            config.queue_capacity,
            config.queue_max_bytes,
            config.max_auth_failures,
            config.max_message_bytes
        ),
        (65_536, 2 * 1024 * 1024, 5, 64 * 1024)
    );
    assert_eq!(config.device_offline_grace, Duration::from_secs(5));
    assert_eq!(config.pages, ["modules", "admin", "dashboard"]);
    assert!(config.jwt_secret.is_none() && config.routes.is_empty());
    assert!(config.persist.is_none());
}

#[test]
fn the_slow_consumer_bounds_are_read_in_every_form() {
    let flat = hub(json!({"queueMaxBytes": 4096})).unwrap();
    let nested = hub(json!({"limits": {"queue_max_bytes": 4096}})).unwrap();
    assert_eq!(flat.queue_max_bytes, 4096);
    assert_eq!(flat, nested);
    assert!(hub(json!({"queueMaxBytes": 0})).is_err());
    assert!(hub(json!({"queueMaxBytes": 1, "limits": {"queue_max_bytes": 2}})).is_err());
    let serve = ServeConfig::from_json(&json!({"slowConsumerTimeoutMs": 250})).unwrap();
    assert_eq!(serve.slow_consumer_timeout, Duration::from_millis(250));
    assert_eq!(
        serve.into_config().slow_consumer_timeout,
        Duration::from_millis(250)
    );
    let snake = ServeConfig::from_json(&json!({"slow_consumer_timeout_ms": 250})).unwrap();
    assert_eq!(snake.slow_consumer_timeout, Duration::from_millis(250));
    assert!(ServeConfig::from_json(&json!({"slowConsumerTimeoutMs": 0})).is_err());
}

#[test]
fn workers_default_to_the_cpus_the_process_may_run_on() {
    let config = ServeConfig::from_json(&json!({})).unwrap().into_config();
    assert_eq!(config.worker_threads, 0);
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(config.workers(), cpus);
    let pinned = ServeConfig::from_json(&json!({"workerThreads": 3})).unwrap();
    assert_eq!(pinned.into_config().workers(), 3);
}

#[test]
fn every_alias_reaches_its_field() {
    let canonical = hub(json!({
        "jwtSecret": "s3cret", "pages": ["modules", "admin", "stats"],
        "routes": [{"event": "cart:moved", "userPages": ["stats"], "adminPages": []}],
        "queueCapacity": 16, "maxAuthFailures": 2, "maxMessageBytes": 1024,
        "deviceOfflineGraceMs": 50, "persist": {"path": "/tmp/x.db", "durability": "sync"},
        "redis": "redis://127.0.0.1:6379", "nodeId": "n1",
    }))
    .unwrap();
    // Python's dict: snake_case, nested limits, routes as a map, the grace in seconds.
    let python = hub(json!({
        "jwt_secret": "s3cret", "pages": ["modules", "admin", "stats"],
        "routes": {"cart:moved": {"users": ["stats"]}},
        "limits": {"queue_capacity": 16, "max_auth_failures": 2, "max_message_bytes": 1024},
        "device_grace": 0.05, "persist": {"path": "/tmp/x.db", "durability": "sync"},
        "redis": "redis://127.0.0.1:6379", "node_id": "n1",
    }))
    .unwrap();
    assert_eq!(python, canonical);
    let snake = hub(json!({
        "jwt_secret": [115, 51, 99, 114, 101, 116], "pages": ["modules", "admin", "stats"],
        "routes": [{"event": "cart:moved", "user_pages": ["stats"]}],
        "queue_capacity": 16, "max_auth_failures": 2, "max_message_bytes": 1024,
        "device_offline_grace_ms": 50.0, "persist": {"path": "/tmp/x.db", "durability": "sync"},
        "redis": "redis://127.0.0.1:6379", "node_id": "n1",
    }))
    .unwrap();
    assert_eq!(snake, canonical);
    // The canonical form reads back as itself.
    let written = serde_json::to_value(&canonical).unwrap();
    assert_eq!(hub(written).unwrap(), canonical);

    let seconds = ServeConfig::from_json(&json!({
        "ping_interval": 0.5, "ping_timeout": 2, "auth_deadline": 1.25, "api_key": "k",
        "max_connections": 3, "worker_threads": 1, "raise_fd_limit": false,
    }))
    .unwrap();
    let millis = ServeConfig::from_json(&json!({
        "pingIntervalMs": 500, "pingTimeoutMs": 2000, "authDeadlineMs": 1250,
        "apiKey": "k", "maxConnections": 3, "workerThreads": 1, "raiseFdLimit": false,
    }))
    .unwrap();
    assert_eq!(seconds, millis);
    assert_eq!(
        millis.clone().into_config().ping_interval,
        Duration::from_millis(500)
    );
    assert!(!millis.clone().into_config().raise_fd_limit);
}

#[test]
fn unknown_keys_are_refused_naming_the_key() {
    for (config, key) in [
        (json!({"jwtSecert": "x"}), "jwtSecert"),
        (
            json!({"persist": {"path": "a", "durabilty": "sync"}}),
            "persist.durabilty",
        ),
        (json!({"limits": {"queue_size": 1}}), "limits.queue_size"),
        (
            json!({"routes": [{"event": "e", "users_pages": []}]}),
            "routes[0].users_pages",
        ),
        (json!({"routes": {"e": {"user": []}}}), "routes.e.user"),
    ] {
        let error = hub(config).unwrap_err();
        assert!(matches!(error, ConfigError::UnknownKey { .. }), "{error}");
        assert_eq!(error.key(), key);
        assert!(error.to_string().contains(key), "{error}");
    }
    let error = ServeConfig::from_json(&json!({"pingIntervalSecs": 1})).unwrap_err();
    assert_eq!(error.key(), "pingIntervalSecs");
    assert!(
        error.to_string().contains("pingIntervalMs"),
        "lists what is accepted: {error}"
    );
}

/// A refused document: the document, the key, what was expected, what arrived.
type Refused = (Value, &'static str, &'static str, &'static str);

/// Refused hub documents, scalar settings: the cluster, limits and durations.
fn bad_scalar_values() -> [Refused; 8] {
    [
        (
            json!({"redis": "http://127.0.0.1:6379"}),
            "redis",
            "a redis://",
            "\"http\"",
        ),
        (
            json!({"nodeId": ""}),
            "nodeId",
            "without whitespace",
            "\"\"",
        ),
        (json!({"node_id": "a b"}), "nodeId", "1 to 64", "\"a b\""),
        (json!([]), "", "an object", "an array"),
        (
            json!({"queueCapacity": "many"}),
            "queueCapacity",
            "usize",
            "string \"many\"",
        ),
        (json!({"queueCapacity": 0}), "queueCapacity", ">= 1", "0"),
        (
            json!({"device_grace": "soon"}),
            "device_grace",
            "a number >= 0",
            "string",
        ),
        (
            json!({"deviceOfflineGraceMs": -1}),
            "deviceOfflineGraceMs",
            "a number >= 0",
            "-1",
        ),
    ]
}

/// Refused hub documents, structured settings: pages, secret, persistence, routes.
fn bad_section_values() -> [Refused; 7] {
    [
        (
            json!({"pages": "modules"}),
            "pages",
            "a sequence",
            "string \"modules\"",
        ),
        (
            json!({"jwtSecret": 42}),
            "jwtSecret",
            "a non-empty string",
            "number 42",
        ),
        (
            json!({"jwtSecret": ""}),
            "jwtSecret",
            "a non-empty secret",
            "an empty one",
        ),
        (
            json!({"persist": {"durability": "sync"}}),
            "persist.path",
            "a file path",
            "nothing",
        ),
        (
            json!({"persist": {"path": "a", "durability": "sometimes"}}),
            "persist.durability",
            "off, batched or sync",
            "sometimes",
        ),
        (
            json!({"routes": "everywhere"}),
            "routes",
            "a list",
            "string",
        ),
        (
            json!({"routes": [{"userPages": []}]}),
            "routes[0].event",
            "an event name",
            "none",
        ),
    ]
}

#[test]
fn bad_values_name_the_key_what_was_expected_and_what_arrived() {
    for (config, key, expected, found) in
        bad_scalar_values().into_iter().chain(bad_section_values())
    {
        let error = hub(config.clone()).unwrap_err();
        let text = error.to_string();
        assert_eq!(error.key(), key, "{config}: {text}");
        assert!(
            text.contains(expected) && text.contains(found),
            "{config}: {text}"
        );
    }
}

#[test]
fn a_bad_server_value_names_its_key() {
    let zero = ServeConfig::from_json(&json!({"ping_interval": 0})).unwrap_err();
    assert_eq!(zero.key(), "ping_interval");
    assert!(zero.to_string().contains("> 0"), "{zero}");
    let path = ServeConfig::from_json(&json!({"allowed_origins": ["*", "https://a/b"]}));
    let path = path.unwrap_err();
    assert_eq!(path.key(), "allowedOrigins[1]");
    assert!(path.to_string().contains("https://a/b"), "{path}");
}

#[test]
fn allowed_origins_become_the_origin_policy() {
    use crate::transport::server::Cors;
    let cors = |origins: Value| {
        let config = ServeConfig::from_json(&json!({"allowedOrigins": origins}));
        config.unwrap().into_config().cors
    };
    assert_eq!(cors(json!([])), Cors::SameOrigin);
    assert_eq!(cors(json!(["*"])), Cors::Any);
    let listed = cors(json!(["https://app.example"]));
    assert_eq!(listed, Cors::Origins(vec!["https://app.example".into()]));
    assert_eq!(listed.allowed_origins(), ["https://app.example"]);
}

#[test]
fn a_setting_given_under_two_names_is_refused() {
    let error = hub(json!({"queueCapacity": 8, "limits": {"queue_capacity": 16}})).unwrap_err();
    assert!(matches!(error, ConfigError::Conflict { .. }), "{error}");
    let error = hub(json!({"deviceOfflineGraceMs": 8, "device_grace": 1})).unwrap_err();
    assert!(matches!(error, ConfigError::Conflict { .. }), "{error}");
}

#[test]
fn the_secret_never_shows_in_debug() {
    let config = hub(json!({"jwtSecret": "hunter2"})).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
    let config = hub(json!({"redis": "redis://user:hunter3@db:6379/0"})).unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter3"), "{shown}");
    assert!(shown.contains("redis://***@db:6379/0"), "{shown}");
    let url = "redis+sentinel://:hunter4@s1:26379,s2:26379/main";
    let shown = format!("{:?}", hub(json!({ "redis": url })).unwrap());
    assert!(!shown.contains("hunter4"), "{shown}");
    assert!(
        shown.contains("redis+sentinel://***@s1:26379,s2:26379/main"),
        "{shown}"
    );
}

#[test]
fn cluster_and_sentinel_urls_are_accepted() {
    for url in [
        "redis+cluster://10.0.0.1:7000,10.0.0.2:7000",
        "rediss+cluster://10.0.0.1:7000",
        "redis+sentinel://10.0.0.1:26379/main",
    ] {
        let config = hub(json!({ "redis": url })).unwrap();
        assert_eq!(config.redis.as_deref(), Some(url));
    }
}

#[test]
fn a_hub_builds_from_the_defaults_and_from_python_forms() {
    let config = hub(json!({"pages": ["modules", "admin"], "device_grace": 0})).unwrap();
    let built = config.into_builder().build().unwrap();
    built.shutdown(Duration::from_millis(100));
}

#[test]
fn the_snapshot_page_size_is_read_and_zero_is_refused() {
    assert_eq!(
        hub(json!({"snapshot_page_size": 7}))
            .unwrap()
            .snapshot_page_size,
        7
    );
    let error = hub(json!({"snapshotPageSize": 0})).unwrap_err().to_string();
    assert!(error.contains("snapshotPageSize"), "{error}");
}
