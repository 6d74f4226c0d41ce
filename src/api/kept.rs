//! List pages and single todos as sent, kept while the store's [`ChangeClock`] says the owner's
//! todos have not changed. Listing and reading one todo are the most frequent calls; repeated,
//! they cost neither a read nor JSON serialisation (profiled: together half of a list request's
//! CPU, and a read transaction's two file locks for a single todo). Stores without a clock
//! (DynamoDB, written by other instances unseen) are read every time.

use std::sync::{Mutex, OnceLock};

use metrics::Counter;

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::json::Items;
use crate::domain::{Todo, TodoQuery, Username};
use crate::store::{ChangeClock, PageRequest, Stamp};

/// Pages larger than this share of the budget are not kept: a few of them would crowd out
/// everyone else's.
const PAGES_PER_BUDGET: usize = 16;

/// Which page of whose list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey {
    pub owner: Username,
    pub query: TodoQuery,
    pub limit: u32,
    pub after: Option<String>,
}

/// Which kept answer: a page of a list, or one todo.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kept {
    Page(ListKey),
    Item { owner: Username, uid: Uuid },
}

impl Kept {
    fn owner(&self) -> &Username {
        match self {
            Self::Page(key) => &key.owner,
            Self::Item { owner, .. } => owner,
        }
    }
}

impl ListKey {
    pub fn new(owner: Username, query: TodoQuery, page: &PageRequest) -> Self {
        Self {
            owner,
            query,
            limit: page.limit,
            after: page.after.clone(),
        }
    }
}

/// One page as sent: the JSON array, the `Link` header to the next page, if any, and the
/// page's `ETag` (a digest of the body: pollers ask with `If-None-Match` and get a 304).
#[derive(Debug, Clone)]
pub struct Listed {
    pub body: Bytes,
    pub next: Option<HeaderValue>,
    pub etag: HeaderValue,
}

impl Listed {
    /// One todo as JSON, tagged with `etag` (its version: what `If-Match` names).
    pub fn item(todo: &Todo, etag: HeaderValue) -> Self {
        Self {
            body: super::json::todo_bytes(todo).into(),
            next: None,
            etag,
        }
    }

    /// A page of `items` as a JSON array.
    pub fn json<T: Items>(items: &[T], next: Option<HeaderValue>) -> ApiResult<Self> {
        let body = T::array_bytes(items)?;
        // The same bytes give the same tag in every process of a build (a fixed seed), so a
        // tag from one instance is known to the next. foldhash, not SipHash: a page's 8 KB
        // took SipHash ~19,000 instructions, a twentieth of reading and writing the page.
        let tag = {
            use std::hash::{BuildHasher, Hasher};
            let mut hasher = foldhash::quality::FixedState::with_seed(0).build_hasher();
            hasher.write(&body);
            hasher.finish()
        };
        let etag = HeaderValue::from_str(&format!("\"{tag:016x}\""))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Self {
            body: body.into(),
            next,
            etag,
        })
    }

    /// The page, or 304 when the client's `If-None-Match` names it already.
    pub fn answer(self, request: &IfNoneMatch) -> Response {
        let known = request
            .0
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim() == self.etag || tag.trim() == "*");
        if known {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(header::ETAG, self.etag);
            return response;
        }
        self.into_response()
    }
}

/// A request's `If-None-Match` values: all a list answer needs of its headers (a `HeaderMap`
/// extracted is a copy of every header).
pub struct IfNoneMatch(Vec<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let values = parts.headers.get_all(header::IF_NONE_MATCH).iter();
        Ok(Self(values.cloned().collect()))
    }
}

impl IntoResponse for Listed {
    fn into_response(self) -> Response {
        const JSON: HeaderValue = HeaderValue::from_static("application/json");
        let mut response = Response::new(Body::from(self.body));
        // Room for what the layers add (request id, security headers, `Vary`) without growing.
        let headers = response.headers_mut();
        headers.reserve(12);
        headers.insert(header::CONTENT_TYPE, JSON);
        headers.insert(header::ETAG, self.etag);
        if let Some(link) = self.next {
            headers.insert(header::LINK, link);
        }
        response
    }
}

/// `checkoff_list_cache_total` by result.
fn count(hit: bool) {
    static HITS: OnceLock<Counter> = OnceLock::new();
    static MISSES: OnceLock<Counter> = OnceLock::new();
    let counter = match hit {
        true => crate::telemetry::kept(
            &HITS,
            || metrics::counter!("checkoff_list_cache_total", "result" => "hit"),
        ),
        false => crate::telemetry::kept(
            &MISSES,
            || metrics::counter!("checkoff_list_cache_total", "result" => "miss"),
        ),
    };
    if let Some(counter) = counter {
        counter.increment(1);
    }
}

pub struct ListCache {
    /// All kept pages together stay under this; past it the cache starts over rather than grow.
    max_bytes: usize,
    pages: Mutex<Pages>,
}

#[derive(Default)]
struct Pages {
    by_key: foldhash::HashMap<Kept, (Stamp, Listed)>,
    bytes: usize,
}

impl ListCache {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            pages: Mutex::default(),
        }
    }

    /// The answer for `key`: the kept one while the owner's todos are unchanged, else `read`'s.
    pub async fn get_or_read(
        &self,
        changes: Option<&ChangeClock>,
        key: Kept,
        read: impl AsyncFnOnce() -> ApiResult<Listed>,
    ) -> ApiResult<Listed> {
        // Taken before reading: a write that lands meanwhile moves the clock past this stamp, so
        // an answer that might miss it is never served again.
        let stamp = changes.and_then(|clock| clock.stamp(key.owner()));
        let Some(stamp) = stamp else {
            return read().await;
        };
        if let Some(page) = self.kept(&key, stamp) {
            count(true);
            return Ok(page);
        }
        count(false);
        let page = read().await?;
        self.keep(key, stamp, page.clone());
        Ok(page)
    }

    fn kept(&self, key: &Kept, stamp: Stamp) -> Option<Listed> {
        let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        match pages.by_key.get(key) {
            Some((kept, page)) if *kept == stamp => Some(page.clone()),
            _ => None,
        }
    }

    fn keep(&self, key: Kept, stamp: Stamp, page: Listed) {
        let size = page.body.len();
        if size > self.max_bytes / PAGES_PER_BUDGET {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages.bytes + size > self.max_bytes {
            pages.by_key.clear();
            pages.bytes = 0;
        }
        if let Some((_, old)) = pages.by_key.insert(key, (stamp, page)) {
            pages.bytes -= old.body.len();
        }
        pages.bytes += size;
    }
}
