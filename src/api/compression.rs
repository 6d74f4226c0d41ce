//! gzip for the clients that ask for it: tower-http's compression layer, called only for
//! requests that name an `Accept-Encoding`, with which answers it may compress.
//!
//! A request without the header takes any coding, and the layer would answer it as it is
//! (`identity`) after looking up the answer's headers, wrapping its body and adding `Vary`:
//! ~1,000 of a cached get's ~30,000 instructions (callgrind), spent for every client that never
//! asks (curl, wrk, scripts). Such a request now goes straight to the service, so its answer
//! carries no `Vary: Accept-Encoding`; that is safe for any cache, since the plain answer suits
//! every client. A request that names the header, `identity` alone included, is the layer's as
//! before, through this one (~500 instructions more; gzip itself costs a hundred times that).

use std::task::{Context, Poll};

use axum::body::HttpBody;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_TYPE};
use axum::http::{Request, Response};
use futures_util::TryFutureExt;
use futures_util::future::{Either, MapOk};
use http_body_util::Either as EitherBody;
use tower::{Layer, Service};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{Compression, CompressionBody, CompressionLayer};

/// The compression layer for the requests that ask (gzip only if `gzip`).
#[derive(Clone, Copy)]
pub(super) struct WhenAskedLayer {
    pub(super) gzip: bool,
}

impl<S> Layer<S> for WhenAskedLayer {
    type Service = WhenAsked<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WhenAsked(
            CompressionLayer::new()
                .gzip(self.gzip)
                .compress_when(Compressible)
                .layer(inner),
        )
    }
}

#[derive(Clone)]
pub(super) struct WhenAsked<S>(Compression<S, Compressible>);

/// An answer as it was, or as the compression layer gave it.
type Answer<B> = Response<EitherBody<B, CompressionBody<B>>>;

impl<S, Req, B> Service<Request<Req>> for WhenAsked<S>
where
    S: Service<Request<Req>, Response = Response<B>>,
    B: HttpBody,
{
    type Response = Answer<B>;
    type Error = S::Error;
    type Future = Either<
        MapOk<S::Future, fn(Response<B>) -> Answer<B>>,
        MapOk<
            <Compression<S, Compressible> as Service<Request<Req>>>::Future,
            fn(Response<CompressionBody<B>>) -> Answer<B>,
        >,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Req>) -> Self::Future {
        if request.headers().contains_key(ACCEPT_ENCODING) {
            Either::Right(self.0.call(request).map_ok(compressed::<B> as fn(_) -> _))
        } else {
            Either::Left(
                self.0
                    .get_mut()
                    .call(request)
                    .map_ok(plain::<B> as fn(_) -> _),
            )
        }
    }
}

fn plain<B: HttpBody>(response: Response<B>) -> Answer<B> {
    response.map(EitherBody::Left)
}

fn compressed<B: HttpBody>(response: Response<CompressionBody<B>>) -> Answer<B> {
    response.map(EitherBody::Right)
}

/// Which answers may be gzipped: tower-http's default rule, with the answer's content type
/// looked up once (the default predicate's three parts each looked it up: ~600 of a cached
/// get's ~34,000 instructions, callgrind). A test holds it to the default's answers.
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
