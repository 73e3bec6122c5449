//! A `reqwest-middleware` layer: an existing `ClientWithMiddleware` gets bearerflow by
//! adding one `.with(...)`.

use crate::client::{Call, Client};
use crate::error::Error;
use async_trait::async_trait;
use bearerflow::session::Verdict;
use reqwest_middleware::{Middleware, Next};

/// Runs every request through a bearerflow [`Client`]'s session: waits for a credential,
/// attaches its headers, reports the response (`401` → one retry with a new credential,
/// or a typed failure). The rest of the middleware chain performs the HTTP request, so
/// layers after this one see the request with its `Authorization` header.
///
/// ```no_run
/// # async fn demo(client: bearerflow_async::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(bearerflow_async::BearerflowMiddleware::new(client))
///     .build();
/// let response = http.get("https://mcp.example.com/mcp").send().await?;
/// # let _ = response; Ok(()) }
/// ```
///
/// Failures come back as `reqwest_middleware::Error::Middleware` wrapping a
/// [`crate::Error`] (downcast to read the [`RequestError`](bearerflow::session::RequestError)).
///
/// The session policy's resource limits hold here as in [`Client::send`]: the rest of
/// the chain must produce the response headers within `resource_deadline`
/// ([`Error::Limit`](crate::Error::Limit) otherwise), and the body of the response
/// handed back stops at `max_resource_body` (per event and idle time for a
/// `text/event-stream`). Redirects are the inner client's: build it with
/// [`resource_redirect_policy`](crate::resource_redirect_policy) so that a credential
/// never follows a redirect to another origin.
#[derive(Clone, Debug)]
pub struct BearerflowMiddleware {
    client: Client,
}

impl BearerflowMiddleware {
    /// A layer driven by `client`'s session.
    pub fn new(client: Client) -> BearerflowMiddleware {
        BearerflowMiddleware { client }
    }
}

#[async_trait]
impl Middleware for BearerflowMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        // The same fast path as `Client::send`: the bookkeeping runs on this task.
        let mut call =
            Call::begin(&self.client, req).map_err(reqwest_middleware::Error::middleware)?;
        let limits = self.client.limits();
        loop {
            let request = call
                .next()
                .await
                .map_err(reqwest_middleware::Error::middleware)?;
            let started = call.released();
            let response = limits
                .headers_by_deadline(started, next.clone().run(request, extensions))
                .await
                .map_err(|_| {
                    reqwest_middleware::Error::middleware(Error::Limit(
                        limits.headers_late(call.url()),
                    ))
                })??;
            match call
                .report(&response)
                .map_err(reqwest_middleware::Error::middleware)?
            {
                Verdict::Deliver => return Ok(call.deliver(response, &limits, started)),
                Verdict::Retry => continue,
            }
        }
    }
}
