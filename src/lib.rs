//! checkoff: a Todo REST API. `app(state)` is the whole service as an axum router.

pub mod api;
pub mod auth;
pub mod cli;
pub mod domain;
pub mod server;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

pub use api::app;

use crate::api::{Cursors, ListCache};
use crate::auth::{
    Authorizer, JwtAuthorizer, JwtSecret, LoginThrottle, Passwords, ThrottlePolicy, TokenService,
};
use crate::store::Store;

/// Settings the running service needs beyond its store and secret.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub token_ttl: Duration,
    pub request_timeout: Duration,
    pub throttle: ThrottlePolicy,
    /// Memory for list pages kept as sent (0 = none).
    pub list_cache_bytes: usize,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(30),
            throttle: ThrottlePolicy::default(),
            list_cache_bytes: 2 << 20,
        }
    }
}

/// Everything a request handler can reach; built once at start.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub authorizer: Arc<dyn Authorizer>,
    pub tokens: Arc<TokenService>,
    pub passwords: Arc<Passwords>,
    pub throttle: Arc<LoginThrottle>,
    pub cursors: Arc<Cursors>,
    pub lists: Arc<ListCache>,
    pub request_timeout: Duration,
}

impl AppState {
    /// The service with the built-in JWT authorizer.
    pub fn new(store: Arc<dyn Store>, secret: &JwtSecret, settings: &ServiceSettings) -> Self {
        let tokens = Arc::new(TokenService::new(secret, settings.token_ttl));
        let authorizer = Arc::new(JwtAuthorizer::new(Arc::clone(&tokens), Arc::clone(&store)));
        Self {
            store,
            authorizer,
            tokens,
            passwords: Arc::new(Passwords::new()),
            throttle: Arc::new(LoginThrottle::new(settings.throttle.clone())),
            cursors: Arc::new(Cursors::new(secret)),
            lists: Arc::new(ListCache::new(settings.list_cache_bytes)),
            request_timeout: settings.request_timeout,
        }
    }
}
