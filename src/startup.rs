//! Start-up: configuration → state → router → a bound listener → serving until stopped.
//! `main.rs` and every in-process test start the app here, the same way.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use leptos::config::{get_configuration, LeptosOptions};
use tokio::net::TcpListener;

use crate::{
    assets::Assets,
    config::{Backing, Config, ConfigError, RedisAddress, SandboxMode},
    events::{Backend, Events, EventsSettings, RedisConnection},
    metrics::Metrics,
    oidc::Provider,
    protocol::Operator,
    server::{client::Proxies, router, serve_with_limits, ConnectionLimits},
    sessions::Sessions,
    state::AppState,
    support::{redacted::Secret, urls::is_loopback_http},
    verification::{
        store::{Settings, Store, StoreError},
        Verifier, PENDING_TTL, RESULT_TTL,
    },
};

/// Why the server did not start. Each knows its exit code: 2 for what the configuration
/// must fix, 1 for what the machine must (a port taken, say).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("configuration error: Leptos settings: {0}")]
    Leptos(String),
    #[error("configuration error: {setting} does not lead to a working Redis: {error}")]
    Redis { setting: &'static str, error: StoreError },
    #[error("configuration error: REDIS_URL (or REDIS_CLUSTER_URLS): cannot read the session key: {0}")]
    SessionKey(StoreError),
    #[error("configuration error: {0}")]
    Sessions(String),
    #[error(
        "configuration error: CAMARA_ISSUER {issuer}: OpenID discovery failed ({failure}); \
         check the issuer URL and that {}/.well-known/openid-configuration answers",
        issuer.trim_end_matches('/')
    )]
    Discovery { issuer: String, failure: String },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("cannot listen on {addr} (LEPTOS_SITE_ADDR): {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("configuration error: {setting}: the signed events' outbox cannot open: {error}")]
    Events { setting: &'static str, error: String },
    #[error("cannot listen on {addr} (METRICS_ADDR): {source}")]
    MetricsBind { addr: SocketAddr, source: std::io::Error },
}

impl StartupError {
    pub fn exit_code(&self) -> u8 {
        match self {
            StartupError::Bind { .. } | StartupError::MetricsBind { .. } | StartupError::HttpClient(_) => 1,
            _ => 2,
        }
    }
}

/// The app (or, with `SANDBOX=only`, the virtual operator alone), bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    request_timeout: Duration,
    shutdown_grace: Duration,
    limits: ConnectionLimits,
    /// The app's verifier (none for the virtual operator alone): its live streams end
    /// when the server drains.
    verifier: Option<Arc<Verifier>>,
    /// `METRICS_ADDR`'s listener and what it shows.
    metrics: Option<(TcpListener, Router)>,
    /// The signed events' worker: it stops after the last request in flight.
    events: Option<Arc<Events>>,
}

impl Application {
    /// What `main` runs: the Leptos settings from `Cargo.toml` and the environment,
    /// listening on `LEPTOS_SITE_ADDR`.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let mut leptos_options = get_configuration(None)
            .map_err(|e| StartupError::Leptos(e.to_string()))?
            .leptos_options;
        leptos_options.site_addr = config.site_addr;
        let listener = TcpListener::bind(config.site_addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.site_addr,
                source,
            })?;
        Self::build_on(listener, config, leptos_options, PENDING_TTL).await
    }

    /// On a listener bound beforehand, with these Leptos settings and this lifetime for
    /// pending verifications (tests use a short one).
    pub async fn build_on(
        listener: TcpListener,
        config: Config,
        leptos_options: LeptosOptions,
        pending_ttl: Duration,
    ) -> Result<Self, StartupError> {
        log_operators(&config);
        let (request_timeout, shutdown_grace) = (config.request_timeout, config.shutdown_grace);
        let limits = ConnectionLimits {
            total: config.max_connections,
            per_client: config.max_connections_per_client,
            proxies: Proxies::from_config(&config),
        };
        tracing::info!(
            addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            public_url = %config.public_url,
            sandbox = ?config.sandbox,
            store = match config.redis {
                None => "memory",
                Some(RedisAddress::Single(_)) => "redis",
                Some(RedisAddress::Cluster(_)) => "redis cluster",
            },
            "Number Verify listening"
        );
        let metrics_listener = match config.metrics_addr {
            Some(addr) if config.sandbox != SandboxMode::Only => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartupError::MetricsBind { addr, source })?,
            ),
            _ => None,
        };
        let (router, verifier, watched) = match config.sandbox {
            #[cfg(feature = "sandbox")]
            SandboxMode::Only => (crate::server::virtual_operator::router(&config), None, None),
            _ => {
                let state = app_state(config, leptos_options, pending_ttl).await?;
                let verifier = state.verifier.clone();
                let watched = (state.metrics.clone(), state.events.clone());
                (router(state), Some(verifier), Some(watched))
            }
        };
        let events = watched.as_ref().and_then(|(_, events)| events.clone());
        let metrics = metrics_listener.zip(watched).map(|(listener, (metrics, events))| {
            let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            tracing::info!(%addr, "metrics at /metrics (METRICS_ADDR)");
            (listener, crate::metrics::server::router(metrics, events))
        });
        Ok(Self {
            listener,
            router,
            verifier,
            metrics,
            events,
            request_timeout,
            shutdown_grace,
            limits,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` answers, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then lets the requests in flight finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let verifier = self.verifier;
        let (stopped, _) = tokio::sync::watch::channel(false);
        // The metrics listener lives as long as the app's and stops with it.
        if let Some((listener, router)) = self.metrics {
            let mut stop = stopped.subscribe();
            tokio::spawn(crate::server::serve_with_timeout(
                listener,
                router,
                async move {
                    let _ = stop.wait_for(|&s| s).await;
                },
                self.request_timeout,
            ));
        }
        // Live streams never end by themselves soon: a drain ends them, or it would wait
        // for every open desktop page.
        let shutdown = async move {
            shutdown.await;
            if let Some(verifier) = verifier {
                verifier.notices.close();
            }
        };
        let served = serve_with_limits(self.listener, self.router, shutdown, self.request_timeout, self.limits).await;
        // Whatever the worker has not delivered stays in the outbox (Redis: for the
        // other instances, or this one's next start).
        if let Some(events) = self.events {
            events.stop();
            events.stopped().await;
        }
        let _ = stopped.send(true);
        served
    }

    /// Serves until SIGTERM or SIGINT, then drains: no new connections, requests in flight
    /// finish within `SHUTDOWN_GRACE_MS`.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        let grace = self.shutdown_grace;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut server = tokio::spawn(self.run_until_stopped(async {
            let _ = stopped.await;
        }));
        tokio::select! {
            ended = &mut server => return joined(ended),
            signal = shutdown_signal() => {
                tracing::info!(%signal, grace_ms = grace.as_millis() as u64, "draining: no new connections");
                let _ = stop.send(());
            }
        }
        match tokio::time::timeout(grace, &mut server).await {
            Ok(ended) => joined(ended),
            Err(_) => {
                tracing::warn!("SHUTDOWN_GRACE_MS passed with requests still in flight; stopping now");
                server.abort();
                Ok(())
            }
        }
    }
}

/// The app's state over the configured store: Redis when `REDIS_URL` is set (which
/// must answer now), else this process's memory; `pending_ttl` is how long a flow may
/// wait for its callback (tests use a short one).
async fn app_state(
    config: Config,
    mut leptos_options: LeptosOptions,
    pending_ttl: Duration,
) -> Result<AppState, StartupError> {
    let store = connect_store(&config, pending_ttl).await?;
    let sessions = session_signer(&config, &store).await?;
    // Under `cargo leptos watch` the files change while the server runs (the
    // stylesheet is swapped without a restart): they are served from disk as built.
    let assets = if std::env::var_os("LEPTOS_WATCH").is_some() {
        Assets::default()
    } else {
        Assets::load(
            std::path::Path::new(&*leptos_options.site_root),
            &leptos_options.site_pkg_dir,
            &leptos_options.output_name,
        )
    };
    assets.precompress_in_background();
    // The hydration scripts load `{output_name}.js` and `.wasm`: the hashed names.
    if let Some(bundle) = assets.bundle_name() {
        leptos_options.output_name = bundle.into();
    }
    let oidc = match &config.oidc {
        Some(settings) => Some(Arc::new(Provider::new(
            &config.public_url,
            settings.keys.clone(),
            settings.subject_key.clone(),
            settings.clients.clone(),
            settings.code_ttl,
            store.clone(),
            crate::operators::http_client(config.operator_timeout)?,
        ))),
        None => None,
    };
    let mut metrics = Metrics::new();
    let events = match &config.events {
        Some(settings) => {
            let events = start_events(&config, settings.clone()).await?;
            metrics.watch_events(&events);
            Some(events)
        }
        None => None,
    };
    let metrics = Arc::new(metrics);
    let code_key = code_key(&config, &store).await?;
    let verifier = Verifier::new(&config, store)?
        .with_metrics(metrics.clone())
        .with_events(events.clone())
        .with_code_key(code_key);
    verifier
        .discover_at_start_up(&config)
        .await
        .map_err(|(issuer, failure)| StartupError::Discovery {
            issuer,
            failure: failure.to_string(),
        })?;
    let verifier = Arc::new(verifier);
    Verifier::refresh_discovery(&verifier);
    Ok(AppState {
        leptos_options,
        sessions,
        assets: Arc::new(assets),
        verifier,
        config: Arc::new(config),
        oidc,
        metrics,
        events,
    })
}

/// The signed events' outbox on the configured store (a Redis stream read by every
/// instance's worker, or this process's memory) and its worker.
async fn start_events(config: &Config, settings: EventsSettings) -> Result<Arc<Events>, StartupError> {
    let (setting, backend) = match &config.redis {
        None => ("EVENTS_URL", Ok(Backend::Memory)),
        Some(RedisAddress::Single(url)) => (
            "REDIS_URL",
            RedisConnection::connect(url.secret(), &config.redis_prefix)
                .await
                .map(Backend::Redis),
        ),
        Some(RedisAddress::Cluster(seeds)) => {
            let seeds: Vec<&str> = seeds.iter().map(Secret::secret).collect();
            (
                "REDIS_CLUSTER_URLS",
                RedisConnection::connect_cluster(&seeds, &config.redis_prefix)
                    .await
                    .map(Backend::Redis),
            )
        }
    };
    let backend = backend.map_err(|e| StartupError::Events {
        setting,
        error: e.to_string(),
    })?;
    let client = crate::operators::http_client(config.operator_timeout)?;
    let events = Events::start(settings, backend, config.public_url.clone(), client)
        .await
        .map_err(|e| StartupError::Events {
            setting,
            error: e.to_string(),
        })?;
    tracing::info!(
        outbox = if config.redis.is_some() {
            "redis stream"
        } else {
            "memory"
        },
        "signed events on (EVENTS_URL)"
    );
    Ok(events)
}

/// The store `config` asks for; a Redis that does not answer stops start-up, named.
pub async fn connect_store(config: &Config, pending_ttl: Duration) -> Result<Store, StartupError> {
    let settings = Settings {
        pending_ttl,
        result_ttl: RESULT_TTL,
        starts_per_minute: config.rate_limit_per_minute,
        page_starts_per_minute: config.page_rate_limit_per_minute,
        max_pending_per_client: config.max_pending_per_client,
        max_pending: config.max_pending,
    };
    let (setting, store) = match &config.redis {
        None => return Ok(Store::memory(settings)),
        Some(RedisAddress::Single(url)) => (
            "REDIS_URL",
            Store::redis(url.secret(), &config.redis_prefix, settings).await,
        ),
        Some(RedisAddress::Cluster(seeds)) => {
            let seeds: Vec<&str> = seeds.iter().map(Secret::secret).collect();
            (
                "REDIS_CLUSTER_URLS",
                Store::redis_cluster(&seeds, &config.redis_prefix, settings).await,
            )
        }
    };
    let store = store.map_err(|error| StartupError::Redis { setting, error })?;
    // Its own purpose's key, so a client name never equals a cookie's MAC.
    let naming = config
        .session_keys
        .first()
        .and_then(|key| client_naming_key(key.secret().as_bytes()));
    Ok(match naming {
        Some(key) => store.name_clients_with(&key),
        None => store,
    })
}

/// The key one-time codes are digested under, the same on every instance: derived from
/// the current `SESSION_KEYS` key, or the store's shared key (for its purpose only, so a
/// digest never equals a cookie's MAC).
async fn code_key(config: &Config, store: &Store) -> Result<Vec<u8>, StartupError> {
    use hmac::{Hmac, Mac};
    let base = match config.session_keys.first() {
        Some(key) => key.secret().as_bytes().to_vec(),
        None => store.session_key().await.map_err(StartupError::SessionKey)?,
    };
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&base)
        .map_err(|e| StartupError::Sessions(format!("the one-time-code key cannot be derived: {e}")))?;
    mac.update(b"number-verify: one-time code digests");
    Ok(mac.finalize().into_bytes().to_vec())
}

/// The key that names clients in Redis, derived from the current session key.
fn client_naming_key(session_key: &[u8]) -> Option<Vec<u8>> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(session_key).ok()?;
    mac.update(b"number-verify: client names in the store");
    Some(mac.finalize().into_bytes().to_vec())
}

/// The session signer: `SESSION_KEYS` when given; else the store's key, shared by every
/// instance on one Redis and read again when it changes.
async fn session_signer(config: &Config, store: &Store) -> Result<Sessions, StartupError> {
    let secure = config.public_url.starts_with("https://");
    if !config.session_keys.is_empty() {
        let keys: Vec<&[u8]> = config.session_keys.iter().map(|k| k.secret().as_bytes()).collect();
        return Sessions::new(&keys, secure).map_err(StartupError::Sessions);
    }
    match store {
        Store::Memory(_) => {
            let key = store.session_key().await.map_err(StartupError::SessionKey)?;
            Sessions::new(&[&key], secure).map_err(StartupError::Sessions)
        }
        Store::Redis(_) => Sessions::shared_through(store.clone(), secure)
            .await
            .map_err(StartupError::SessionKey),
    }
}

fn joined(ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    ended.map_err(std::io::Error::other)?
}

/// The first of SIGTERM (what containers and systemd send) and SIGINT (Ctrl-C).
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM ({e}); Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// One start-up line per protocol saying who answers it (origins only, never a
/// credential), and a warning when the virtual operator answers on a public address.
fn log_operators(config: &Config) {
    if config.sandbox == SandboxMode::Only {
        tracing::info!(
            public_base = %config.sandbox_public_base(),
            "this process is the virtual operator alone (SANDBOX=only)"
        );
        return;
    }
    for operator in Operator::ALL {
        let base = match operator {
            Operator::MobileConnect => config.mobile_connect.as_ref().map(|c| &c.api_base),
            Operator::Vonage => config.vonage.as_ref().map(|c| &c.api_base),
            Operator::CamaraStandard => config.camara_standard.as_ref().map(|c| &c.issuer),
        };
        let answered_by = match config.backing(operator) {
            None => "none (not offered)",
            Some(Backing::Live) => "live operator",
            Some(Backing::VirtualOperator) => "virtual operator (test results)",
        };
        let origin = base.map(|b| b.origin().ascii_serialization());
        tracing::info!(
            protocol = operator.protocol().label(),
            operator = answered_by,
            origin = origin.as_deref().unwrap_or("-"),
            "operator for protocol"
        );
    }
    let profile = config.camara_profile.as_str();
    tracing::info!(profile, "\"CAMARA\" means the {profile} profile (CAMARA_PROFILE)");
    match &config.oidc {
        Some(oidc) => tracing::info!(
            issuer = %config.public_url,
            relying_parties = oidc.clients.len(),
            signing_kid = oidc.keys.current_kid(),
            published_keys = oidc.keys.jwks().keys.len(),
            sandbox_keys = oidc.sandbox,
            "OpenID Provider on"
        ),
        None => tracing::info!("OpenID Provider off (set OIDC_SIGNING_KEYS to turn it on)"),
    }
    match &config.sms {
        Some(sms) => tracing::info!(
            sender = match sms.backing() {
                Backing::VirtualOperator => "virtual operator's SMS gateway (test codes)",
                Backing::Live => match &sms.sender {
                    crate::operators::sms::SmsSenderSettings::Hook(_) => "hook (OTP_HOOK_URL)",
                    _ => "Vonage SMS API",
                },
            },
            countries = %sms.countries,
            per_number_per_day = sms.per_number_per_day,
            per_country_per_day = sms.per_country_per_day,
            "one-time codes by SMS on, after a network failure"
        ),
        None => tracing::info!("one-time codes by SMS off (set SMS_COUNTRIES and a sender to turn them on)"),
    }
    if config.sandbox == SandboxMode::Mounted && !is_loopback_http(&config.public_url) {
        tracing::warn!(
            public_url = %config.public_url,
            "SANDBOX=on on a non-loopback address: anyone can get a test \"verified\" for any number; \
             its results are marked as test results"
        );
    }
}
