//! The web app at `/`: its files are compiled into the binary (no Node.js to build or run).
//! Each asset is served under a name carrying a digest of its content, cached for a year; the
//! page names them and is revalidated on every load, so a new binary is picked up at once.

use std::sync::LazyLock;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::auth::SignInProvider;

/// What the page may load and run: only its own files, no inline script or style, no frames.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A file of the app, under the name the page links it by.
struct Asset {
    /// `/assets/<stem>.<digest>.<extension>`
    path: String,
    content_type: &'static str,
    body: &'static [u8],
}

struct Site {
    page: Vec<u8>,
    page_etag: String,
    assets: Vec<Asset>,
}

/// The app's files: name in `web/` (and in the page's `{{name}}` placeholders), type, content.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../web/icon.svg"),
    ),
];

const PAGE: &str = include_str!("../../web/index.html");

fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

static SITE: LazyLock<Site> = LazyLock::new(|| {
    let mut page = PAGE.to_owned();
    let mut assets = Vec::new();
    for (name, content_type, body) in FILES {
        let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
        let path = format!("/assets/{stem}.{}.{extension}", digest(body));
        // Linked relative to the page (`assets/…`), so that it works below an API Gateway
        // stage as well as at the root.
        page = page.replace(&format!("{{{{{name}}}}}"), path.trim_start_matches('/'));
        assets.push(Asset {
            path,
            content_type,
            body,
        });
    }
    Site {
        page_etag: format!("\"{}\"", digest(page.as_bytes())),
        page: page.into_bytes(),
        assets,
    }
});

/// The web app
#[utoipa::path(get, path = "/", tag = "web",
    responses((status = 200, description = "The web app's page", content_type = "text/html")))]
pub async fn page(
    State(app): State<AppState>,
    stage: Option<Extension<SignInProvider>>,
    headers: HeaderMap,
) -> Response {
    let site = &*SITE;
    // The page may call the provider's token endpoint (a code or a refresh token becomes
    // tokens) and its revocation endpoint (signing out), and nowhere else but this service.
    let provider = app.sign_in.provider(stage.map(|Extension(p)| p)).await;
    let policy = provider
        .as_ref()
        .map(SignInProvider::connect_origins)
        .filter(|origins| !origins.is_empty())
        .map(|origins| {
            let connect = format!("connect-src 'self' {}", origins.join(" "));
            CONTENT_SECURITY_POLICY.replace("connect-src 'self'", &connect)
        })
        .and_then(|policy| HeaderValue::from_str(&policy).ok());
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == site.page_etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(CONTENT_TYPE, "text/html; charset=utf-8")],
            Body::from(site.page.as_slice()),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(policy) = policy {
        headers.insert(axum::http::header::CONTENT_SECURITY_POLICY, policy);
    }
    if let Ok(etag) = HeaderValue::from_str(&site.page_etag) {
        headers.insert(ETAG, etag);
    }
    response
}

/// A file of the web app
#[utoipa::path(get, path = "/assets/{file}", tag = "web",
    params(("file" = String, Path, description = "A name the page links, e.g. app.1a2b3c4d5e6f7a8b.js")),
    responses(
        (status = 200, description = "The file; its name changes with its content, so it is cached for a year"),
        (status = 404, description = "No such file (an old name after an upgrade, say)"),
    ))]
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let wanted = format!("/assets/{file}");
    let asset = SITE
        .assets
        .iter()
        .find(|a| a.path == wanted)
        .ok_or(ApiError::NotFound("Not found"))?;
    Ok((
        [
            (CONTENT_TYPE, asset.content_type),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        Body::from(asset.body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_asset_by_its_digest() {
        let page = String::from_utf8(SITE.page.clone()).unwrap();
        assert!(!page.contains("{{"), "a placeholder is left: {page}");
        for asset in &SITE.assets {
            let link = format!("\"{}\"", asset.path.trim_start_matches('/'));
            assert!(page.contains(&link), "{link} not linked");
        }
    }
}
