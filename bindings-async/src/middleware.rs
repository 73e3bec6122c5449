//! A `reqwest-middleware` layer: an existing `ClientWithMiddleware` gets bearerflow by
//! adding one `.with(...)`.

use crate::client::{Call, Client};
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
        let mut call = Call::begin(&self.client, req)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        loop {
            let request = call
                .next()
                .await
                .map_err(reqwest_middleware::Error::middleware)?;
            let response = next.clone().run(request, extensions).await?;
            match call
                .report(&response)
                .await
                .map_err(reqwest_middleware::Error::middleware)?
            {
                Verdict::Deliver => return Ok(response),
                Verdict::Retry => continue,
            }
        }
    }
}
