//! What every request handler can reach, built once by [`crate::service`].

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use super::{Cursors, ListCache};
use crate::auth::{Authorizer, Passwords, TokenService};
use crate::services::Sessions;
use crate::store::Store;

/// A handle on the [`Services`], cloned for every request (axum hands each handler and extractor
/// its own copy): one reference count, where a copy of the fields took nine, on counters every
/// core touches.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub store: Arc<dyn Store>,
    pub authorizer: Arc<dyn Authorizer>,
    /// Whether a read that needs nothing of the caller's profile starts beside the authorizer's
    /// check rather than after it: where profiles are not kept, each check reads one.
    pub read_beside_check: bool,
    pub tokens: Arc<TokenService>,
    pub passwords: Arc<Passwords>,
    /// Logins, refreshes, logouts.
    pub sessions: Arc<Sessions>,
    /// Whether anyone may make an account with POST /users.
    pub signup: bool,
    pub cursors: Arc<Cursors>,
    /// Sign-up, profiles, passwords, deleting accounts.
    pub accounts: crate::services::Accounts,
    /// Everyone's todos, with each account's limits.
    pub todos: crate::services::Todos,
    /// List pages and single todos as sent, kept while the owner's todos are unchanged.
    pub kept: Arc<ListCache>,
    /// Changes made through this process, for live event streams.
    pub events: Arc<crate::services::ChangeFeed>,
    /// Whether GET /todos/events streams (not under Lambda, which answers once per request).
    pub live_events: bool,
    /// Whether the router logs a line per request (the Lambda entry logs its own).
    pub log_requests: bool,
    /// Whether answers are gzipped for clients that ask. Not under Lambda: a REST API without
    /// binary media types would hand the compressed bytes on as base64 text, which no client
    /// reads (API Gateway compresses by itself where it is told to).
    pub compress: bool,
    pub request_timeout: Duration,
    /// Reverse proxies whose word on the client's address is taken.
    pub proxies: crate::config::Proxies,
    /// Origins allowed to call from a browser (none: no CORS headers at all).
    pub cors_origins: Vec<String>,
    /// How people sign in: with a password, through an identity provider, or both.
    pub sign_in: crate::auth::SignIn,
    /// The OIDC issuer whose tokens the document offers beside checkoff's own, if any.
    pub oidc: Option<crate::config::OidcSettings>,
    /// The OpenAPI document as served: made at its first request (not at every Lambda cold
    /// start), then kept (it follows the settings, not the requests).
    pub document: std::sync::OnceLock<axum::body::Bytes>,
}
