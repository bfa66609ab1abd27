//! A JWKS document fetched from an `http(s)://` URL: its settings ([`JwksUrl`]), its
//! health ([`JwksStats`]) and the live key set the JWT authenticator reads
//! (`RemoteJwks`).
//!
//! Owns how the document is fetched (ureq; https verified against the Mozilla roots, or
//! only against a configured CA) and when: once at start (bounded by the timeout), every
//! `refresh_interval` on its own thread, and when a token names a `kid` no key has, at
//! most once per `min_refresh_interval` whatever the number of such tokens (the others are
//! refused `unknown_kid` at once). A failed fetch (unreachable, timeout, HTTP error,
//! oversized or invalid document, no usable key) keeps the last good key set, is logged
//! at `warn` and counted (`JwksStats::fetch_failures`,
//! `mcrt_jwks_fetches_total{outcome="failed"}`).
//!
//! Invariants: a handshake never waits for a fetch unless its own token names an unknown
//! `kid`, and then at most one fetch timeout (the key set is an `Arc` swapped under a
//! short lock; one fetch runs at a time under its own mutex, never under a lock of the
//! hub); the verification runs before the hub's emit lock is taken
//! (`hub/authenticate.rs`), and on a multi-thread tokio runtime the wait runs inside
//! `block_in_place`, so the worker's other connections move on. It must not verify
//! tokens (`jwt.rs` does). Guarded by `tests/hub/jwks_url.rs`
//! (`jwks_url_keys_are_chosen_by_kid_and_rotation_is_fetched_on_unknown_kid`,
//! `unknown_kid_flood_fetches_at_most_once_per_min_interval`,
//! `endpoint_down_keeps_last_good_keys_and_counts_the_failure`, …).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use super::jwt_keys::JwtKey;

/// Default time between two scheduled fetches of a JWKS URL: 10 minutes.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(600);
/// Default shortest time between two fetches caused by unknown `kid`s: 30 seconds.
pub const DEFAULT_JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Default limit on one whole fetch (connect, TLS, headers, body): 5 seconds.
pub const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS document read; a bigger one is a failed fetch.
pub const MAX_JWKS_BYTES: u64 = 1 << 20;

/// Where and how often to fetch a JWKS document over HTTP(S): set it as
/// [`JwtSettings::jwks_url`](super::JwtSettings::jwks_url) (schema: `jwt.jwks` given as a
/// URL, with `jwksRefreshSecs`, `jwksMinRefreshSecs`, `jwksTimeoutMs`).
///
/// ```no_run
/// use std::time::Duration;
/// use microcoaster_realtime::{Hub, auth::{JwksUrl, JwtSettings}};
/// let settings = JwtSettings {
///     jwks_url: Some(JwksUrl {
///         min_refresh_interval: Duration::from_secs(60),
///         ..JwksUrl::new("https://id.example/.well-known/jwks.json")
///     }),
///     issuer: Some("https://id.example".into()),
///     ..JwtSettings::default()
/// };
/// let hub = Hub::builder().jwt(settings).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksUrl {
    /// `http://` or `https://` URL of the document (`{"keys": [...]}`); https is verified
    /// against the Mozilla root certificates.
    pub url: String,
    /// Time between scheduled fetches ([`DEFAULT_JWKS_REFRESH`]).
    pub refresh_interval: Duration,
    /// Shortest time between two fetches caused by tokens with an unknown `kid`
    /// ([`DEFAULT_JWKS_MIN_REFRESH`]): the bound on what a flood of forged kids costs.
    pub min_refresh_interval: Duration,
    /// Limit on one fetch ([`DEFAULT_JWKS_TIMEOUT`]); the longest a handshake with an
    /// unknown `kid` waits.
    pub timeout: Duration,
    /// PEM certificates of the authorities to trust for an `https://` URL instead of the
    /// public roots (an identity provider behind a private CA); `None`: the Mozilla roots.
    pub ca_pem: Option<String>,
}

impl JwksUrl {
    /// `url` with the default intervals and timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            refresh_interval: DEFAULT_JWKS_REFRESH,
            min_refresh_interval: DEFAULT_JWKS_MIN_REFRESH,
            timeout: DEFAULT_JWKS_TIMEOUT,
            ca_pem: None,
        }
    }

    /// Whether `location` is a URL this module fetches (else it is a file path).
    pub fn is_url(location: &str) -> bool {
        let lower = location.trim_start().to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    }
}

/// Health of a JWKS URL, in [`MetricsSnapshot::jwks`](crate::MetricsSnapshot::jwks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JwksStats {
    /// Fetches that installed a new key set.
    pub fetches: u64,
    /// Fetches that failed (the last good key set stayed).
    pub fetch_failures: u64,
    /// Keys in the current set.
    pub keys: u64,
}

/// What the fetching thread and the verifying threads share.
struct Shared {
    config: JwksUrl,
    #[cfg(feature = "jwks-url")]
    agent: ureq::Agent,
    keys: RwLock<Arc<Vec<JwtKey>>>,
    /// When the last fetch started; held for the whole fetch, so one runs at a time.
    last_fetch: Mutex<Option<Instant>>,
    fetches: AtomicU64,
    failures: AtomicU64,
}

/// The live key set of one JWKS URL and its refresh thread (stopped when this drops).
pub(super) struct RemoteJwks {
    shared: Arc<Shared>,
    /// Dropping it wakes the refresh thread, which then ends.
    _stop: mpsc::Sender<()>,
}

impl RemoteJwks {
    /// Fetches `config.url` once (a failure is logged and counted; tokens then wait for
    /// a later fetch) and starts the refresh thread.
    pub(super) fn start(config: JwksUrl) -> Self {
        let shared = Arc::new(Shared {
            #[cfg(feature = "jwks-url")]
            agent: agent(&config),
            config,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_fetch: Mutex::new(None),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        off_the_runtime(|| shared.fetch(&mut shared.last_fetch.lock()));
        let (stop, stopped) = mpsc::channel();
        let refresher = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("mcrt-jwks".into())
            .spawn(move || refresher.refresh_until(&stopped));
        if let Err(error) = spawned {
            tracing::error!(%error, "JWKS refresh thread not started; keys refresh on unknown kid only");
        }
        Self {
            shared,
            _stop: stop,
        }
    }

    /// The current key set.
    pub(super) fn keys(&self) -> Arc<Vec<JwtKey>> {
        Arc::clone(&self.shared.keys.read())
    }

    /// After a token named `kid` and no key has it: fetches again unless a fetch started
    /// less than `min_refresh_interval` ago; whether the set now has `kid`. While another
    /// fetch is in progress it waits for that one (at most the timeout) and never fetches
    /// itself, so no handshake waits for more than one fetch.
    pub(super) fn refresh_for_unknown_kid(&self, kid: &str) -> bool {
        off_the_runtime(|| {
            let Some(mut last) = self.shared.last_fetch.try_lock() else {
                // The fetch in progress may bring this very kid.
                let _done = self
                    .shared
                    .last_fetch
                    .try_lock_for(self.shared.config.timeout);
                return self.has_kid(kid);
            };
            if self.has_kid(kid) {
                return true;
            }
            let min = self.shared.config.min_refresh_interval;
            if last.is_some_and(|at| at.elapsed() < min) {
                return false;
            }
            self.shared.fetch(&mut last);
            self.has_kid(kid)
        })
    }

    /// The URL's health.
    pub(super) fn stats(&self) -> JwksStats {
        JwksStats {
            fetches: self.shared.fetches.load(Ordering::Relaxed),
            fetch_failures: self.shared.failures.load(Ordering::Relaxed),
            keys: self.shared.keys.read().len() as u64,
        }
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys().iter().any(|key| key.kid() == Some(kid))
    }
}

impl Shared {
    /// The refresh thread: a fetch every `refresh_interval` until the owner drops.
    fn refresh_until(&self, stopped: &mpsc::Receiver<()>) {
        while let Err(mpsc::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(self.config.refresh_interval)
        {
            self.fetch(&mut self.last_fetch.lock());
        }
    }

    /// One fetch; `last` is the held fetch lock. Installs the new set or keeps the old.
    fn fetch(&self, last: &mut Option<Instant>) {
        *last = Some(Instant::now());
        match self.download() {
            Ok(keys) => {
                tracing::debug!(url = %self.config.url, keys = keys.len(), "JWKS fetched");
                *self.keys.write() = Arc::new(keys);
                self.fetches.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(url = %self.config.url, %error, "JWKS fetch failed; keeping the last good keys");
            }
        }
    }

    #[cfg(feature = "jwks-url")]
    fn download(&self) -> Result<Vec<JwtKey>, String> {
        let mut response = self
            .agent
            .get(&self.config.url)
            .call()
            .map_err(|error| error.to_string())?;
        let document = response
            .body_mut()
            .with_config()
            .limit(MAX_JWKS_BYTES)
            .read_to_vec()
            .map_err(|error| error.to_string())?;
        JwtKey::from_jwks(&document).map_err(|error| error.to_string())
    }

    #[cfg(not(feature = "jwks-url"))]
    fn download(&self) -> Result<Vec<JwtKey>, String> {
        Err("this build has no JWKS URL support (cargo feature `jwks-url`)".into())
    }
}

/// The HTTP client of one URL: its timeout, HTTP errors as errors, and the configured
/// authorities (when their PEM holds no certificate, every fetch fails and says so).
#[cfg(feature = "jwks-url")]
fn agent(config: &JwksUrl) -> ureq::Agent {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let mut builder = ureq::Agent::config_builder()
        .timeout_global(Some(config.timeout))
        .http_status_as_error(true);
    if let Some(pem) = &config.ca_pem {
        let certificates: Vec<_> = ureq::tls::parse_pem(pem.as_bytes())
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(certificate)) => Some(certificate),
                _ => None,
            })
            .collect();
        if certificates.is_empty() {
            tracing::error!(url = %config.url, "JWKS CA PEM holds no certificate; nothing is trusted");
        }
        let roots = RootCerts::Specific(std::sync::Arc::new(certificates));
        builder = builder.tls_config(TlsConfig::builder().root_certs(roots).build());
    }
    builder.build().into()
}

/// Runs the blocking `wait` so that a multi-thread tokio worker hands its other tasks
/// to another thread meanwhile (`block_in_place` would panic on a current-thread one).
fn off_the_runtime<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}
