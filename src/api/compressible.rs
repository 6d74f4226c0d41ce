//! Which answers the compression layer may gzip: tower-http's default rule, with the answer's
//! content type looked up once (the default predicate's three parts each looked it up: ~600 of
//! a cached get's ~34,000 instructions, callgrind). A test holds it to the default's answers.

use axum::body::HttpBody;
use axum::http::Response;
use axum::http::header::CONTENT_TYPE;
use tower_http::compression::predicate::{Predicate, SizeAbove};

#[derive(Clone, Copy, Default)]
pub(super) struct Compressible;

impl Predicate for Compressible {
    fn should_compress<B: HttpBody>(&self, response: &Response<B>) -> bool {
        let kind = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // Not gRPC (gRPC-Web is), no image but SVG, never an event stream (it must flow as
        // written).
        let excluded = (kind.starts_with("application/grpc")
            && !kind.starts_with("application/grpc-web"))
            || (kind.starts_with("image/") && !kind.starts_with("image/svg+xml"))
            || kind.starts_with("text/event-stream");
        !excluded && SizeAbove::default().should_compress(response)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower_http::compression::predicate::DefaultPredicate;

    use super::*;

    #[test]
    fn answers_as_the_default_rule_does() {
        let kinds = [
            None,
            Some("application/json"),
            Some("text/html; charset=utf-8"),
            Some("application/grpc"),
            Some("application/grpc+proto"),
            Some("application/grpc-web"),
            Some("image/png"),
            Some("image/svg+xml"),
            Some("text/event-stream"),
            Some("text/event-stream; charset=utf-8"),
        ];
        for kind in kinds {
            for body in ["", "short", &"x".repeat(100)] {
                let mut response = Response::new(Body::from(body.to_owned()));
                if let Some(kind) = kind {
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, kind.parse().unwrap());
                }
                assert_eq!(
                    Compressible.should_compress(&response),
                    DefaultPredicate::new().should_compress(&response),
                    "{kind:?}, {} bytes",
                    body.len()
                );
            }
        }
    }
}
