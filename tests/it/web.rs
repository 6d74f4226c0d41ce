//! The web app as the server delivers it: the page, its fingerprinted assets, security headers,
//! caching and compression. (What it does in a browser: tests/web, in Chromium.)

use reqwest::{Method, StatusCode};

use crate::helpers::TestApp;

/// The page's asset paths (it links them relative to itself, `assets/…`).
fn assets(page: &str) -> Vec<String> {
    page.match_indices("\"assets/")
        .map(|(start, _)| {
            let start = start + 1;
            let end = start + page[start..].find('"').unwrap();
            format!("/{}", &page[start..end])
        })
        .collect()
}

#[tokio::test]
async fn the_page_is_revalidated_and_its_assets_cached_for_good() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::GET, "/").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(rule), "{rule} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let page = response.text().await.unwrap();
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "inline code: {page}"
    );

    let etag = headers["etag"].to_str().unwrap();
    let again = app
        .request(Method::GET, "/")
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let linked = assets(&page);
    assert!(linked.len() >= 3, "{linked:?}");
    for path in &linked {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    // An asset name of another build is a 404, not someone else's file.
    let stale = app
        .request(Method::GET, "/assets/app.0000000000000000.js")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_app_is_sent_compressed_within_its_budget() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        client
            .get(format!("{}{path}", app.base))
            .header("Accept-Encoding", "gzip")
            .send()
    };
    let page = get("/".into()).await.unwrap();
    assert_eq!(page.headers()["content-encoding"], "gzip");
    let plain = app
        .request(Method::GET, "/")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut total = page.bytes().await.unwrap().len();
    for path in assets(&plain) {
        let response = get(path.clone()).await.unwrap();
        let bytes = response.bytes().await.unwrap().len();
        total += bytes;
    }
    assert!(total <= 60 * 1024, "{total} bytes compressed");
}

/// Only a client that names `Accept-Encoding` meets the compression layer: one that names
/// nothing gets the plain answer, with no `Vary` (the plain answer suits any client, so a
/// cache may keep it for all); one that asks for gzip gets it, with `Vary`; one that takes
/// `identity` alone gets the plain answer as the layer gives it.
#[tokio::test]
async fn only_a_client_that_asks_about_codings_meets_the_compression_layer() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let get = |coding: Option<&'static str>| {
        let request = client.get(format!("{}/", app.base));
        match coding {
            Some(coding) => request.header("Accept-Encoding", coding),
            None => request,
        }
        .send()
    };
    let plain = get(None).await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(!plain.headers().contains_key("content-encoding"));
    assert!(
        !plain.headers().contains_key("vary"),
        "{:?}",
        plain.headers()
    );
    assert_eq!(plain.headers()["x-content-type-options"], "nosniff");
    let page = plain.text().await.unwrap();

    let zipped = get(Some("gzip")).await.unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["vary"], "accept-encoding");
    let bytes = zipped.bytes().await.unwrap();
    assert!(
        bytes.len() < page.len(),
        "{} of {}",
        bytes.len(),
        page.len()
    );
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    assert_eq!(text, page);

    let identity = get(Some("identity")).await.unwrap();
    assert!(!identity.headers().contains_key("content-encoding"));
    assert_eq!(identity.headers()["vary"], "accept-encoding");
    assert_eq!(identity.text().await.unwrap(), page);
}
