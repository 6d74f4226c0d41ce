//! hyper's side of the service, one per connection.
//!
//! hyper calls a service through `&self`, tower through `&mut self`; hyper-util's adapter
//! bridges the two by cloning the whole layer stack for every request (its shared counters
//! touched from both cores, every layer copied, a `Oneshot` around the call). An HTTP/1
//! connection hands over one request at a time, so here the connection's own copy is called in
//! place.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use axum::extract::{ConnectInfo, Request};
use futures_util::future::Either;
use hyper::body::Incoming;
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

pub(super) struct Connection<S> {
    service: RefCell<S>,
    /// Who is on the other end, as handlers ask for it (`ConnectInfo`), put on each request.
    peer: SocketAddr,
}

impl<S> Connection<S> {
    pub(super) fn new(service: S, peer: SocketAddr) -> Self {
        Self {
            service: RefCell::new(service),
            peer,
        }
    }
}

impl<S> hyper::service::Service<Request<Incoming>> for Connection<S>
where
    S: Service<Request, Error = Infallible> + Clone,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = Either<S::Future, Oneshot<S, Request>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let mut service = self.service.borrow_mut();
        // Every layer here is always ready; one that is not gets its turn through a copy, as
        // hyper-util would have given it.
        match service.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => Either::Left(service.call(request)),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Either::Right(service.clone().oneshot(request)),
        }
    }
}
