//! The one place that assembles the service from [`Settings`]: store, caches, secret and
//! authorizer. `checkoff serve`, the Lambda entry and the tests all build it here.

use std::sync::Arc;

use crate::api::{AppState, Cursors, ListCache, Services};
use crate::auth::{
    Authorizer, DiscoveredSignIn, GatewayAuthorizer, JwtAuthorizer, JwtSecret, LoginThrottle,
    OidcAuthorizer, Passwords, SignIn, TokenCheck, TokenService, load_or_create_secret,
};
use crate::config::{AuthorizerKind, Runtime, SecretSource, Settings, StoreKind, StoreSettings};
use crate::services::{AccountLimits, Accounts, ChangeFeed, Sessions, Todos};
use crate::store::{DynamoStore, SqliteStore, Store, UserCache};

/// Opens the store the settings name (SQLite in the data dir, or the DynamoDB table).
pub async fn open_store(settings: &StoreSettings) -> Result<Arc<dyn Store>, String> {
    match settings.kind {
        StoreKind::Sqlite => SqliteStore::open(&settings.data_dir)
            .map(|store| Arc::new(store) as Arc<dyn Store>)
            .map_err(|e| {
                format!(
                    "cannot open the store in {}: {e}",
                    settings.data_dir.display()
                )
            }),
        StoreKind::Dynamodb => Ok(Arc::new(DynamoStore::from_env(&settings.table).await)),
    }
}

/// The JWT signing secret from where the settings say.
pub async fn load_secret(source: &SecretSource) -> Result<JwtSecret, String> {
    match source {
        SecretSource::Env => {
            let text = std::env::var("CHECKOFF_JWT_SECRET")
                .map_err(|_| "CHECKOFF_JWT_SECRET is not set".to_owned())?;
            JwtSecret::from_base64(&text).map_err(|e| format!("CHECKOFF_JWT_SECRET: {e}"))
        }
        SecretSource::Ssm(name) => {
            let value = crate::aws::ssm::read_secret(name).await?;
            JwtSecret::from_base64(&value).map_err(|e| format!("the SSM parameter {name}: {e}"))
        }
        SecretSource::DataDir(dir) => load_or_create_secret(dir),
    }
}

/// The whole service on the store the settings name.
pub async fn build(settings: &Settings) -> Result<AppState, String> {
    let store = open_store(&settings.store).await?;
    build_on(settings, store).await
}

/// The whole service on a store that is already open (tests keep a handle on theirs).
pub async fn build_on(settings: &Settings, store: Arc<dyn Store>) -> Result<AppState, String> {
    let store = cached(settings, store);
    let secret = load_secret(&settings.secret).await?;
    let tokens = Arc::new(TokenService::new(&secret, settings.service.token_ttl));
    let identity = &settings.identity;
    // The local server never takes identity from anything but its own tokens.
    let authorizer: Arc<dyn Authorizer> = match (settings.runtime, identity.kind) {
        (Runtime::Lambda, kind) if kind.is_gateway() => Arc::new(GatewayAuthorizer::new(
            kind,
            identity.claim.clone(),
            Arc::clone(&store),
        )),
        _ => Arc::new(token_check(
            settings,
            Arc::clone(&tokens),
            Arc::clone(&store),
            true,
        )?),
    };
    let passwords = Arc::new(Passwords::new());
    let events = Arc::new(ChangeFeed::default());
    let sessions = Arc::new(Sessions::new(
        Arc::clone(&store),
        Arc::clone(&passwords),
        Arc::new(LoginThrottle::new(
            settings.service.throttle.clone(),
            Arc::clone(&store),
        )),
        Arc::clone(&tokens),
        settings.service.session_ttl,
        Arc::clone(&events),
    ));
    let accounts = Accounts::new(
        Arc::clone(&store),
        Arc::clone(&passwords),
        Arc::clone(&sessions),
        Arc::clone(&events),
    );
    let todos = Todos::new(
        Arc::clone(&store),
        AccountLimits::new(settings.service.quota),
        Arc::clone(&events),
    );
    Ok(AppState::new(Services {
        accounts,
        todos,
        store,
        authorizer,
        read_beside_check: settings.user_cache_ttl.is_zero(),
        tokens,
        passwords,
        sessions,
        signup: settings.service.signup,
        cursors: Arc::new(Cursors::new(&secret)),
        kept: Arc::new(ListCache::new(settings.service.list_cache_bytes)),
        events,
        live_events: settings.runtime == Runtime::Local,
        log_requests: settings.runtime == Runtime::Local,
        compress: settings.runtime == Runtime::Local,
        request_timeout: settings.service.request_timeout,
        proxies: settings.service.proxies.clone(),
        cors_origins: settings.cors_origins.clone(),
        sign_in: SignIn {
            password: matches!(
                settings.identity.kind,
                AuthorizerKind::Builtin | AuthorizerKind::Lambda
            ),
            discovered: match &settings.identity.oidc {
                Some(oidc) => Some(DiscoveredSignIn::new(oidc)?),
                None => None,
            },
        },
        oidc: settings.identity.oidc.clone(),
        document: std::sync::OnceLock::new(),
    }))
}

/// checkoff's token check alone, for the API Gateway Lambda authorizer function. It only reads
/// the store: an OIDC caller's profile is made by the API function behind it.
pub async fn build_token_check(settings: &Settings) -> Result<TokenCheck, String> {
    let store = cached(settings, open_store(&settings.store).await?);
    let secret = load_secret(&settings.secret).await?;
    let tokens = Arc::new(TokenService::new(&secret, settings.service.token_ttl));
    token_check(settings, tokens, store, false)
}

/// checkoff's own tokens, and the OIDC issuer's when one is configured.
fn token_check(
    settings: &Settings,
    tokens: Arc<TokenService>,
    store: Arc<dyn Store>,
    provision: bool,
) -> Result<TokenCheck, String> {
    let oidc = match &settings.identity.oidc {
        Some(oidc) => Some(OidcAuthorizer::new(oidc, Arc::clone(&store), provision)?),
        None => None,
    };
    Ok(TokenCheck::new(JwtAuthorizer::new(tokens, store), oidc))
}

fn cached(settings: &Settings, store: Arc<dyn Store>) -> Arc<dyn Store> {
    if settings.user_cache_ttl.is_zero() {
        store
    } else {
        Arc::new(UserCache::new(store, settings.user_cache_ttl))
    }
}

/// A short line for the start-up banner: where the data is.
pub fn describe(settings: &Settings) -> String {
    let store = &settings.store;
    let data = match store.kind {
        StoreKind::Sqlite => {
            let dir = std::path::absolute(&store.data_dir).unwrap_or(store.data_dir.clone());
            format!("data in {}", dir.display())
        }
        StoreKind::Dynamodb => format!("DynamoDB table {}", store.table),
    };
    let data = match settings.identity.kind {
        AuthorizerKind::Builtin => data,
        kind => format!("{data}, {} authorizer", kind.as_str()),
    };
    match &settings.identity.oidc {
        Some(oidc) => format!("{data}, OIDC tokens of {}", oidc.issuer),
        None => data,
    }
}
