//! What every handler shares: the active bundle, the store, the settings.

use std::sync::{Arc, RwLock};

use certflow_core::CompiledBundle;
use certflow_store::Store;
use time::OffsetDateTime;

/// The active bundle. A reload swaps the whole `Arc`; a request keeps the
/// bundle it started with until it finishes.
#[derive(Debug, Clone)]
pub struct BundleHandle(Arc<RwLock<Active>>);

#[derive(Debug)]
struct Active {
    bundle: Arc<CompiledBundle>,
    loaded_at: OffsetDateTime,
}

impl BundleHandle {
    pub fn new(bundle: CompiledBundle) -> Self {
        Self(Arc::new(RwLock::new(Active { bundle: Arc::new(bundle), loaded_at: OffsetDateTime::now_utc() })))
    }

    pub fn current(&self) -> Arc<CompiledBundle> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).bundle.clone()
    }

    pub fn loaded_at(&self) -> OffsetDateTime {
        self.0.read().unwrap_or_else(|p| p.into_inner()).loaded_at
    }

    /// Makes `bundle` the active one.
    pub fn replace(&self, bundle: CompiledBundle) {
        let mut active = self.0.write().unwrap_or_else(|p| p.into_inner());
        *active = Active { bundle: Arc::new(bundle), loaded_at: OffsetDateTime::now_utc() };
    }
}

/// Settings of one server instance.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Cookies carry `Secure` (browsers accept it on http://127.0.0.1 too).
    pub secure_cookies: bool,
    /// How long a session lasts without use.
    pub session_idle: time::Duration,
    /// The built-in customs simulator.
    pub customs: CustomsConfig,
    /// The local signer the pages talk to (E-Port client compatible).
    pub signer_url: String,
    /// Where certificate layouts are rendered: in this process, or in
    /// time-limited worker processes (what `certflow serve` uses).
    pub render: certflow_render::RenderService,
    /// The address certificates' QR codes point to for verification.
    pub public_url: String,
    /// Where status notifications by e-mail are written (one .eml file a
    /// message) for the mail system to send.
    pub mail_spool: std::path::PathBuf,
    /// The bundle directory, watched and reloaded; `None` when the bundle
    /// was given in memory.
    pub bundle_root: Option<std::path::PathBuf>,
    /// A secret that lets a local process (`certflow reload`) ask for a
    /// reload without a session.
    pub control_token: Option<String>,
    /// How status notifications are POSTed to webhooks.
    pub webhooks: crate::webhook::WebhookConfig,
    /// How long the bundle's folders must be quiet before a reload (an
    /// editor's save is several writes).
    pub reload_quiet: std::time::Duration,
}

/// Where the E-Port client (and `certflow agent`) listens.
pub const DEFAULT_SIGNER_URL: &str = "ws://127.0.0.1:61232";

/// How the customs simulator behaves.
#[derive(Debug, Clone)]
pub struct CustomsConfig {
    /// Run the simulator in this process.
    pub simulate: bool,
    /// Time customs takes to store a submission (receipt 入库成功/失败).
    pub delay: std::time::Duration,
    /// Share of submissions refused on storing, and of reviews failed (0.0–1.0).
    pub failure_rate: f64,
    /// After storing, also review (审核合格/不合格) instead of waiting for an officer.
    pub auto_review: bool,
    /// Bearer token of the receipts endpoint for an outside gateway.
    pub gateway_token: Option<String>,
}

impl Default for CustomsConfig {
    fn default() -> Self {
        Self {
            simulate: true,
            delay: std::time::Duration::from_millis(1500),
            failure_rate: 0.0,
            auto_review: false,
            gateway_token: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            secure_cookies: true,
            session_idle: time::Duration::hours(8),
            customs: CustomsConfig::default(),
            signer_url: DEFAULT_SIGNER_URL.to_owned(),
            render: certflow_render::RenderService::Local(certflow_render::Renderer::default()),
            public_url: "http://127.0.0.1:8080".to_owned(),
            mail_spool: std::path::PathBuf::from("data/mail-outbox"),
            bundle_root: None,
            control_token: None,
            webhooks: crate::webhook::WebhookConfig::default(),
            reload_quiet: crate::reload::QUIET,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub bundle: BundleHandle,
    pub store: Store,
    pub config: Arc<ServerConfig>,
    pub(crate) templates: Arc<minijinja::Environment<'static>>,
    /// The certificate templates of the bundle version last rendered.
    pub(crate) layouts: Arc<certflow_render::TemplateCache>,
    /// Hot reload of the bundle directory.
    pub reloader: Arc<crate::reload::Reloader>,
    /// Earlier versions compiled for documents made with them, newest first.
    versions: Arc<std::sync::Mutex<Vec<Arc<CompiledBundle>>>>,
}

/// A bundle's files as the database keeps them.
pub fn sources_of(bundle: &CompiledBundle) -> Vec<(String, Vec<u8>)> {
    bundle.sources.iter().map(|f| (f.path.clone(), f.bytes.to_vec())).collect()
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("bundle", &self.bundle).field("config", &self.config).finish_non_exhaustive()
    }
}

/// Earlier bundle versions kept compiled for the documents made with them.
const VERSION_CACHE: usize = 4;

impl AppState {
    /// Keeps the active bundle's sources in the database, so that documents
    /// made with it keep it after a reload or a restart.
    pub async fn remember_active(&self) -> Result<(), certflow_store::StoreError> {
        let bundle = self.bundle.current();
        self.store.save_bundle_version(&bundle.hash, &sources_of(&bundle)).await.map(|_| ())
    }

    /// The definitions a document follows: the version it was made with
    /// (compiled again from the database when it is no longer cached), or
    /// the active bundle for types that follow the latest definitions, for
    /// versions not kept, and when the kept version no longer compiles.
    pub async fn bundle_for(&self, doc: &certflow_store::Document) -> Arc<CompiledBundle> {
        let current = self.bundle.current();
        if doc.bundle_hash == current.hash || current.doctype(&doc.doctype).is_some_and(|t| !t.pinned) {
            return current;
        }
        if let Some(found) =
            self.versions.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|b| b.hash == doc.bundle_hash)
        {
            return found.clone();
        }
        let files = match self.store.load_bundle_version(&doc.bundle_hash).await {
            Ok(Some(files)) => files,
            Ok(None) => return current,
            Err(e) => {
                tracing::warn!("cannot read bundle version {}: {e}", doc.bundle_hash);
                return current;
            }
        };
        let compiled = tokio::task::spawn_blocking(move || {
            let mut source = certflow_core::BundleSource::default();
            for (path, bytes) in files {
                source.insert(path, bytes);
            }
            certflow_core::compile(&source).0
        })
        .await
        .ok()
        .flatten();
        let Some(compiled) = compiled else {
            tracing::warn!("bundle version {} no longer compiles; the active one is used", doc.bundle_hash);
            return current;
        };
        let compiled = Arc::new(compiled);
        let mut cache = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(0, compiled.clone());
        cache.truncate(VERSION_CACHE);
        compiled
    }

    /// Forgets the compiled earlier versions (as a restart would).
    pub fn forget_cached_versions(&self) {
        self.versions.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn new(bundle: CompiledBundle, store: Store, config: ServerConfig) -> Self {
        let templates = crate::web::templates(&config.signer_url);
        let reloader = Arc::new(crate::reload::Reloader::new(config.bundle_root.clone()));
        Self {
            bundle: BundleHandle::new(bundle),
            store,
            config: Arc::new(config),
            templates,
            layouts: Arc::new(certflow_render::TemplateCache::default()),
            reloader,
            versions: Arc::default(),
        }
    }
}
