//! The RFC 9728 protected resource metadata document as a tower service, for the route
//! a [`ProtectedResource`]'s [`metadata_path`](ProtectedResource::metadata_path) names.

use crate::body::GuardedBody;
use crate::resource::ProtectedResource;
use bytes::Bytes;
use http::header::{HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};
use tower_service::Service;

/// Answers `GET` (and `HEAD`) with the metadata document as JSON (RFC 9728 §3.2),
/// readable from any origin (browser-based MCP clients fetch it cross-origin); other
/// methods get `405`.
#[derive(Clone)]
pub struct MetadataService {
    document: Bytes,
}

impl std::fmt::Debug for MetadataService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataService")
            .field("document", &String::from_utf8_lossy(&self.document))
            .finish()
    }
}

impl MetadataService {
    /// Serve `resource`'s document (rendered once, by core).
    pub fn new(resource: &ProtectedResource) -> MetadataService {
        MetadataService {
            document: Bytes::from(resource.metadata_document()),
        }
    }
}

impl<B> Service<Request<B>> for MetadataService {
    type Response = Response<GuardedBody<Empty>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method();
        let mut response = if method == Method::GET || method == Method::HEAD {
            let body = if method == Method::HEAD {
                Bytes::new()
            } else {
                self.document.clone()
            };
            let mut r = Response::new(GuardedBody::full(body));
            let h = r.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
            r
        } else {
            let mut r = Response::new(GuardedBody::full(Bytes::new()));
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        };
        response
            .headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        ready(Ok(response))
    }
}

/// A body with nothing in it (the type parameter of [`MetadataService`]'s body).
#[derive(Debug, Default, Clone, Copy)]
pub struct Empty;

impl Body for Empty {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        true
    }
}
