//! The authorization server endpoints: `/authorize` (auto-approving), `/token`,
//! `/register`, `/introspect`, `/revoke`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::Response;
use bearerflow::secret::Secret;
use serde_json::{json, Map, Value};
use url::Url;

use crate::config::{AuthMethod, DropMode, GrantType};
use crate::faults::bump;
use crate::server::{AbortBody, Reply, Shared};
use crate::store::{Client, CodeGrant, GrantProblem, Issued};
use crate::util::{
    basic_credentials, check_redirect_uri, constant_time_eq, is_valid_s256_challenge,
    is_valid_verifier, parse_scope, random_token, redirect_uri_matches, s256, Params,
};

const REALM: &str = "bearerflow-testbed";

/// An RFC 6749 §5.2 error response (also used for RFC 7591 §3.2.2 and RFC 7662 errors).
fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Reply {
    Reply::json(
        status,
        &json!({"error": error, "error_description": description.into()}),
    )
    .header(header::CACHE_CONTROL, "no-store")
}

fn bad_request(error: &str, description: impl Into<String>) -> Reply {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

/// `401 invalid_client`, with the `WWW-Authenticate: Basic` challenge every 401 must carry
/// (RFC 6749 §5.2, RFC 9110 §15.5.2), rendered by bearerflow.
fn invalid_client(description: impl Into<String>) -> Reply {
    let reply = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    match bearerflow::challenge::render("Basic", &[("realm", REALM)]) {
        Ok(challenge) => reply.header(header::WWW_AUTHENTICATE, challenge),
        Err(_) => reply,
    }
}

fn server_error(description: &str) -> Reply {
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        description,
    )
}

fn scope_string(scope: &[String]) -> String {
    scope.join(" ")
}

/// Whole seconds, rounded up, so a sub-second lifetime is never advertised as 0.
fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

// ---------------------------------------------------------------------------------------
// /authorize

/// Where an authorization error goes once client and redirect URI are known good
/// (RFC 6749 §4.1.2.1; RFC 9207 adds `iss`).
fn redirect_error(
    redirect: &Url,
    shared: &Shared,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut url = redirect.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error);
        q.append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &shared.issuer);
    }
    Reply::new(StatusCode::FOUND)
        .header(header::LOCATION, url.as_str())
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

/// The authorization endpoint (RFC 6749 §4.1.1 with PKCE, RFC 7636 §4.3, and RFC 8707
/// `resource`). There is no user: every valid request is approved at once and answered
/// with `302` to the redirect URI carrying `code`, `state` and `iss` (RFC 9207).
///
/// Errors about the client or the redirect URI are shown here (400) and never redirected,
/// as RFC 6749 §4.1.2.1 requires; everything else is redirected back.
pub(crate) fn authorize(shared: &Arc<Shared>, query: &str) -> Response {
    bump(&shared.counters.authorizations);
    let (params, duplicate) = Params::parse(query.as_bytes());
    if let Some(d) = duplicate
        .as_deref()
        .filter(|d| *d == "client_id" || *d == "redirect_uri")
    {
        return bad_request("invalid_request", format!("parameter {d} is repeated")).finish();
    }
    let Some(client_id) = params.get("client_id") else {
        return bad_request("invalid_request", "client_id is missing").finish();
    };
    let client = {
        let store = shared.store();
        match store.client(client_id) {
            Some(c) => c.clone(),
            None => {
                return bad_request(
                    "invalid_request",
                    format!("client_id {client_id:?} is not registered"),
                )
                .finish()
            }
        }
    };
    let redirect_param = params.get("redirect_uri");
    let redirect = match redirect_param {
        Some(r) => {
            if !client
                .redirect_uris
                .iter()
                .any(|reg| redirect_uri_matches(reg, r))
            {
                return bad_request(
                    "invalid_request",
                    format!("redirect_uri {r:?} is not registered for this client"),
                )
                .finish();
            }
            r.to_string()
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            [] => {
                return bad_request(
                    "invalid_request",
                    "the client has no registered redirect URI",
                )
                .finish()
            }
            _ => {
                return bad_request(
                    "invalid_request",
                    "redirect_uri is required: the client registered several",
                )
                .finish()
            }
        },
    };
    let Ok(redirect_url) = Url::parse(&redirect) else {
        return bad_request("invalid_request", "the redirect URI is not a valid URL").finish();
    };
    let state = params.get("state");
    let fail = |error: &str, description: &str| {
        redirect_error(&redirect_url, shared, state, error, description)
    };

    if let Some(d) = duplicate {
        return fail("invalid_request", &format!("parameter {d} is repeated"));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return fail(
                "unsupported_response_type",
                &format!("response_type {other:?} is not supported; use code"),
            )
        }
        None => return fail("invalid_request", "response_type is missing"),
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return fail(
            "unauthorized_client",
            "the client is not registered for authorization_code",
        );
    }
    if state.is_none() && shared.config.require_state {
        return fail("invalid_request", "state is missing");
    }
    let Some(challenge) = params.get("code_challenge") else {
        return fail(
            "invalid_request",
            "code_challenge is missing: PKCE is required (OAuth 2.1)",
        );
    };
    match params.get("code_challenge_method") {
        Some("S256") => {}
        Some(m) => {
            return fail(
                "invalid_request",
                &format!("code_challenge_method {m:?} is not supported; use S256"),
            )
        }
        None => {
            return fail(
                "invalid_request",
                "code_challenge_method is missing (it would mean plain); use S256",
            )
        }
    }
    if !is_valid_s256_challenge(challenge) {
        return fail(
            "invalid_request",
            "code_challenge is not 43 base64url characters",
        );
    }
    let scope = match params.get("scope").map(parse_scope) {
        None => shared.config.default_scopes.clone(),
        Some(Err(e)) => return fail("invalid_scope", &e),
        Some(Ok(s)) => s,
    };
    if let Some(unknown) = scope
        .iter()
        .find(|s| !shared.config.scopes_supported.contains(s))
    {
        return fail(
            "invalid_scope",
            &format!("scope {unknown:?} is not supported"),
        );
    }
    let Some(resource) = shared.resource_for(params.get("resource")) else {
        let res = params.get("resource").unwrap_or("");
        return fail(
            "invalid_target",
            &format!("resource {res:?} is not served here"),
        );
    };
    let grant = CodeGrant {
        client_id: client.id.clone(),
        redirect_uri: redirect_param.map(str::to_string),
        challenge: challenge.to_string(),
        scope,
        resource,
    };
    let code = shared
        .store()
        .create_code(grant, shared.now(), shared.lifetimes());
    let Some(code) = code else {
        return fail("server_error", "no randomness available");
    };
    let mut url = redirect_url.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &shared.issuer);
    }
    Reply::new(StatusCode::FOUND)
        .header(header::LOCATION, url.as_str())
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

// ---------------------------------------------------------------------------------------
// /token

/// Client authentication at the token endpoint (RFC 6749 §2.3.1). The method used must
/// be the one the client registered.
fn authenticate(shared: &Shared, headers: &HeaderMap, params: &Params) -> Result<Client, Reply> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| invalid_client("the Authorization header is not visible ASCII"))?;
            match basic_credentials(v) {
                Ok(Some(creds)) => Some(creds),
                Ok(None) => {
                    return Err(invalid_client(
                        "the Authorization header must use the Basic scheme",
                    ))
                }
                Err(why) => return Err(invalid_client(why)),
            }
        }
    };
    let (id, secret, method) = match &basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                return Err(bad_request(
                    "invalid_request",
                    "the client used both HTTP Basic and client_secret in the body",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(bad_request(
                    "invalid_request",
                    "client_id in the body differs from the HTTP Basic client id",
                ));
            }
            (
                id.as_str(),
                Some(secret.as_str()),
                AuthMethod::ClientSecretBasic,
            )
        }
        None => {
            let Some(id) = body_id else {
                return Err(invalid_client(
                    "no client authentication: client_id is missing",
                ));
            };
            match body_secret {
                Some(s) => (id, Some(s), AuthMethod::ClientSecretPost),
                None => (id, None, AuthMethod::None),
            }
        }
    };
    let store = shared.store();
    let Some(client) = store.client(id) else {
        return Err(invalid_client(format!(
            "client_id {id:?} is not registered"
        )));
    };
    if client.auth_method != method {
        return Err(invalid_client(format!(
            "the client registered token_endpoint_auth_method {} but authenticated with {}",
            client.auth_method.as_str(),
            method.as_str()
        )));
    }
    if let (Some(given), Some(expected)) = (secret, &client.secret) {
        if !constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) {
            return Err(invalid_client("the client secret does not match"));
        }
    }
    Ok(client.clone())
}

/// RFC 6749 §5.1 success response.
fn token_response(issued: &Issued) -> Reply {
    let mut body = Map::new();
    body.insert("access_token".into(), json!(issued.access_token.expose()));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(ceil_secs(issued.expires_in_ms)));
    body.insert("scope".into(), json!(scope_string(&issued.scope)));
    if let Some(r) = &issued.refresh_token {
        body.insert("refresh_token".into(), json!(r.expose()));
    }
    Reply::json(StatusCode::OK, &Value::Object(body))
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
}

fn grant_problem(shared: &Shared, p: GrantProblem) -> Reply {
    match p {
        GrantProblem::InvalidGrant(d) => bad_request("invalid_grant", d),
        GrantProblem::Replay(d) => {
            bump(&shared.counters.refresh_reuse_detected);
            bad_request("invalid_grant", d)
        }
        GrantProblem::InvalidScope(d) => bad_request("invalid_scope", d),
        GrantProblem::Entropy => server_error("no randomness available"),
    }
}

fn check_resource(shared: &Shared, params: &Params) -> Result<String, Reply> {
    let requested = params.get("resource");
    shared.resource_for(requested).ok_or_else(|| {
        bad_request(
            "invalid_target",
            format!(
                "resource {:?} is not served by this authorization server",
                requested.unwrap_or("")
            ),
        )
    })
}

fn authorization_code_grant(
    shared: &Shared,
    client: &Client,
    params: &Params,
) -> Result<Reply, Reply> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(bad_request(
            "unauthorized_client",
            "the client is not registered for authorization_code",
        ));
    }
    let code = params
        .get("code")
        .ok_or_else(|| bad_request("invalid_request", "code is missing"))?;
    let grant = shared.store().code(code).ok_or_else(|| {
        bad_request(
            "invalid_grant",
            "The authorization code is not known to this server",
        )
    })?;
    let now = shared.now();
    let generation = shared.faults.generation();
    let with_refresh = shared.config.issue_refresh_tokens && client.allows(GrantType::RefreshToken);
    if !grant.1 {
        // Not used yet: check who presents it and how before spending it.
        let grant = grant.0;
        if grant.client_id != client.id {
            return Err(bad_request(
                "invalid_grant",
                "The authorization code was issued to another client",
            ));
        }
        match (&grant.redirect_uri, params.get("redirect_uri")) {
            (Some(expected), Some(given)) if expected == given => {}
            (Some(_), _) => {
                return Err(bad_request(
                    "invalid_grant",
                    "redirect_uri does not match the one in the authorization request",
                ))
            }
            (None, Some(given))
                if !client
                    .redirect_uris
                    .iter()
                    .any(|r| redirect_uri_matches(r, given)) =>
            {
                return Err(bad_request(
                    "invalid_grant",
                    "redirect_uri is not registered for this client",
                ))
            }
            (None, _) => {}
        }
        let verifier = params.get("code_verifier").ok_or_else(|| {
            bad_request(
                "invalid_request",
                "code_verifier is missing (PKCE, RFC 7636 §4.5)",
            )
        })?;
        if !is_valid_verifier(verifier) {
            return Err(bad_request(
                "invalid_grant",
                "code_verifier is not 43-128 characters of A-Z a-z 0-9 - . _ ~",
            ));
        }
        if s256(verifier) != grant.challenge {
            return Err(bad_request(
                "invalid_grant",
                "PKCE verification failed: code_verifier does not match code_challenge",
            ));
        }
        check_resource(shared, params)?;
    }
    let issued = shared
        .store()
        .redeem_code(code, now, generation, shared.lifetimes(), with_refresh)
        .map_err(|p| grant_problem(shared, p))?;
    Ok(token_response(&issued))
}

enum RefreshOutcome {
    Reply(Reply),
    Dropped(DropMode),
}

fn refresh_grant(
    shared: &Shared,
    client: &Client,
    params: &Params,
) -> Result<RefreshOutcome, Reply> {
    if !client.allows(GrantType::RefreshToken) {
        return Err(bad_request(
            "unauthorized_client",
            "the client is not registered for refresh_token",
        ));
    }
    let token = params
        .get("refresh_token")
        .ok_or_else(|| bad_request("invalid_request", "refresh_token is missing"))?;
    if shared.faults.take_invalid_grant() {
        return Err(bad_request(
            "invalid_grant",
            "The refresh token is invalid (injected fault)",
        ));
    }
    let scope = match params.get("scope").map(parse_scope) {
        None => None,
        Some(Err(e)) => return Err(bad_request("invalid_scope", e)),
        Some(Ok(s)) => Some(s),
    };
    check_resource(shared, params)?;
    let issued = shared
        .store()
        .refresh(
            token,
            &client.id,
            scope,
            None,
            shared.now(),
            shared.faults.generation(),
            shared.lifetimes(),
        )
        .map_err(|p| grant_problem(shared, p))?;
    if let Some(mode) = shared.faults.take_drop() {
        return Ok(RefreshOutcome::Dropped(mode));
    }
    Ok(RefreshOutcome::Reply(token_response(&issued)))
}

fn client_credentials_grant(
    shared: &Shared,
    client: &Client,
    params: &Params,
) -> Result<Reply, Reply> {
    if !client.allows(GrantType::ClientCredentials) || client.auth_method == AuthMethod::None {
        return Err(bad_request(
            "unauthorized_client",
            "the client is not a confidential client registered for client_credentials",
        ));
    }
    let scope = match params.get("scope").map(parse_scope) {
        None => shared.config.default_scopes.clone(),
        Some(Err(e)) => return Err(bad_request("invalid_scope", e)),
        Some(Ok(s)) => s,
    };
    if let Some(unknown) = scope
        .iter()
        .find(|s| !shared.config.scopes_supported.contains(s))
    {
        return Err(bad_request(
            "invalid_scope",
            format!("scope {unknown:?} is not supported"),
        ));
    }
    let resource = check_resource(shared, params)?;
    let issued = shared
        .store()
        .issue_family(
            client.id.clone(),
            scope,
            resource,
            shared.now(),
            shared.faults.generation(),
            shared.lifetimes(),
            false,
        )
        .map_err(|p| grant_problem(shared, p))?;
    Ok(token_response(&issued))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6), with the fault injection of
/// [`Faults`](crate::Faults).
pub(crate) async fn token(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    let (params, duplicate) = Params::parse(body);
    let grant = params.get("grant_type").and_then(GrantType::parse);
    bump(match grant {
        Some(GrantType::AuthorizationCode) => &shared.counters.token_authorization_code,
        Some(GrantType::RefreshToken) => &shared.counters.token_refresh,
        Some(GrantType::ClientCredentials) => &shared.counters.token_client_credentials,
        None => &shared.counters.token_other,
    });
    let delay = shared.faults.token_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let result = token_inner(shared, headers, &params, duplicate, grant);
    let reply = match result {
        Ok(RefreshOutcome::Reply(r)) => return r.finish(),
        Ok(RefreshOutcome::Dropped(DropMode::Status500)) => {
            Reply::new(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Ok(RefreshOutcome::Dropped(DropMode::CloseConnection)) => {
            bump(&shared.counters.token_errors);
            let mut resp = Response::new(Body::new(AbortBody));
            *resp.status_mut() = StatusCode::OK;
            return resp;
        }
        Err(r) => r,
    };
    bump(&shared.counters.token_errors);
    reply.finish()
}

fn token_inner(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
    duplicate: Option<String>,
    grant: Option<GrantType>,
) -> Result<RefreshOutcome, Reply> {
    if shared.faults.take_500() {
        return Err(server_error("injected fault"));
    }
    if let Some(secs) = shared.faults.take_503() {
        return Err(oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "injected fault",
        )
        .header(header::RETRY_AFTER, secs.to_string()));
    }
    if !is_form(headers) {
        return Err(bad_request(
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        ));
    }
    if let Some(d) = duplicate {
        return Err(bad_request(
            "invalid_request",
            format!("parameter {d} is repeated"),
        ));
    }
    let client = authenticate(shared, headers, params)?;
    match grant {
        Some(GrantType::AuthorizationCode) => {
            authorization_code_grant(shared, &client, params).map(RefreshOutcome::Reply)
        }
        Some(GrantType::RefreshToken) => refresh_grant(shared, &client, params),
        Some(GrantType::ClientCredentials) => {
            client_credentials_grant(shared, &client, params).map(RefreshOutcome::Reply)
        }
        None => Err(match params.get("grant_type") {
            Some(g) => bad_request(
                "unsupported_grant_type",
                format!("grant_type {g:?} is not supported"),
            ),
            None => bad_request("invalid_request", "grant_type is missing"),
        }),
    }
}

// ---------------------------------------------------------------------------------------
// /register

fn string_list(
    obj: &Map<String, Value>,
    key: &str,
    error: &str,
) -> Result<Option<Vec<String>>, Reply> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad_request(error, format!("{key} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad_request(
            error,
            format!("{key} must be an array of strings"),
        )),
    }
}

fn register_inner(shared: &Shared, body: &[u8]) -> Result<Reply, Reply> {
    const META: &str = "invalid_client_metadata";
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        bad_request(
            META,
            format!(
                "the body is not JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err(bad_request(META, "the body must be a JSON object"));
    };
    let redirect_uris =
        string_list(&obj, "redirect_uris", "invalid_redirect_uri")?.unwrap_or_default();
    for uri in &redirect_uris {
        check_redirect_uri(uri).map_err(|e| bad_request("invalid_redirect_uri", e))?;
    }
    let auth_method = match obj.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => AuthMethod::ClientSecretBasic,
        Some(Value::String(s)) => AuthMethod::parse(s).ok_or_else(|| {
            bad_request(
                META,
                format!("token_endpoint_auth_method {s:?} is not supported"),
            )
        })?,
        Some(_) => {
            return Err(bad_request(
                META,
                "token_endpoint_auth_method must be a string",
            ))
        }
    };
    let grant_names = string_list(&obj, "grant_types", META)?
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    let mut grant_types = Vec::new();
    for g in &grant_names {
        let parsed = GrantType::parse(g)
            .ok_or_else(|| bad_request(META, format!("grant type {g:?} is not supported")))?;
        if !grant_types.contains(&parsed) {
            grant_types.push(parsed);
        }
    }
    let response_types =
        string_list(&obj, "response_types", META)?.unwrap_or_else(|| vec!["code".into()]);
    if let Some(r) = response_types.iter().find(|r| *r != "code") {
        return Err(bad_request(
            META,
            format!("response type {r:?} is not supported"),
        ));
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(bad_request(
            "invalid_redirect_uri",
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    if grant_types.contains(&GrantType::ClientCredentials) && auth_method == AuthMethod::None {
        return Err(bad_request(
            META,
            "client_credentials needs a confidential client (token_endpoint_auth_method other than none)",
        ));
    }
    if let Some(scope) = obj.get("scope") {
        let s = scope
            .as_str()
            .ok_or_else(|| bad_request(META, "scope must be a string"))?;
        let tokens = parse_scope(s).map_err(|e| bad_request(META, e))?;
        if let Some(u) = tokens
            .iter()
            .find(|t| !shared.config.scopes_supported.contains(t))
        {
            return Err(bad_request(META, format!("scope {u:?} is not supported")));
        }
    }
    let id = random_token("bfclient_").ok_or_else(|| server_error("no randomness available"))?;
    let secret = match auth_method {
        AuthMethod::None => None,
        _ => {
            Some(random_token("bfsecret_").ok_or_else(|| server_error("no randomness available"))?)
        }
    };
    let issued_at_secs = shared.now() / 1000;
    shared.store().insert_client(Client {
        id: id.clone(),
        secret: secret.clone().map(Secret::new),
        auth_method,
        redirect_uris: redirect_uris.clone(),
        grant_types: grant_types.clone(),
    });
    // RFC 7591 §3.2.1: echo the registered metadata, with defaults filled in.
    obj.insert("client_id".into(), json!(id));
    obj.insert("client_id_issued_at".into(), json!(issued_at_secs));
    obj.insert("redirect_uris".into(), json!(redirect_uris));
    obj.insert(
        "token_endpoint_auth_method".into(),
        json!(auth_method.as_str()),
    );
    obj.insert(
        "grant_types".into(),
        json!(grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>()),
    );
    obj.insert("response_types".into(), json!(response_types));
    if let Some(s) = secret {
        obj.insert("client_secret".into(), json!(s));
        obj.insert("client_secret_expires_at".into(), json!(0));
    }
    Ok(Reply::json(StatusCode::CREATED, &Value::Object(obj))
        .header(header::CACHE_CONTROL, "no-store"))
}

/// Dynamic client registration (RFC 7591 §3): JSON metadata in, `201` with `client_id`
/// (and `client_secret` unless `token_endpoint_auth_method` is `none`) out. Omitted
/// fields take the RFC 7591 §2 defaults: `client_secret_basic`, `["authorization_code"]`
/// and `["code"]`. Refresh tokens are only issued to clients that register the
/// `refresh_token` grant.
pub(crate) fn register(shared: &Arc<Shared>, body: &[u8]) -> Response {
    bump(&shared.counters.registrations);
    match register_inner(shared, body) {
        Ok(r) | Err(r) => r.finish(),
    }
}

// ---------------------------------------------------------------------------------------
// /introspect and /revoke

fn form_token(headers: &HeaderMap, body: &[u8]) -> Result<String, Reply> {
    if !is_form(headers) {
        return Err(bad_request(
            "invalid_request",
            "the request must be application/x-www-form-urlencoded",
        ));
    }
    let (params, duplicate) = Params::parse(body);
    if let Some(d) = duplicate {
        return Err(bad_request(
            "invalid_request",
            format!("parameter {d} is repeated"),
        ));
    }
    params
        .get("token")
        .map(str::to_string)
        .ok_or_else(|| bad_request("invalid_request", "token is missing"))
}

/// Token introspection (RFC 7662 §2): `{"active": false}` for anything not currently
/// valid, otherwise `active`, `scope`, `client_id`, `token_type`, `exp`, `iat`, `aud`,
/// `sub` and `iss`. Unauthenticated: the testbed only listens on loopback.
pub(crate) fn introspect(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    bump(&shared.counters.introspections);
    let token = match form_token(headers, body) {
        Ok(t) => t,
        Err(r) => return r.finish(),
    };
    let info = shared
        .store()
        .introspect(&token, shared.now(), shared.faults.generation());
    let doc = match info {
        None => json!({"active": false}),
        Some(i) => {
            let mut m = Map::new();
            m.insert("active".into(), json!(true));
            m.insert("scope".into(), json!(scope_string(&i.scope)));
            m.insert("client_id".into(), json!(i.client_id));
            m.insert(
                "token_type".into(),
                json!(if i.is_refresh {
                    "refresh_token"
                } else {
                    "Bearer"
                }),
            );
            if let Some(exp) = i.expires_at {
                m.insert("exp".into(), json!(ceil_secs(exp)));
            }
            m.insert("iat".into(), json!(i.issued_at / 1000));
            m.insert("aud".into(), json!(i.resource));
            m.insert("sub".into(), json!("testbed-user"));
            m.insert("iss".into(), json!(shared.issuer));
            Value::Object(m)
        }
    };
    Reply::json(StatusCode::OK, &doc)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

/// Token revocation (RFC 7009 §2): a refresh token revokes its whole family, an access
/// token only itself; unknown tokens still get `200`.
pub(crate) fn revoke(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    bump(&shared.counters.revocations);
    match form_token(headers, body) {
        Ok(t) => {
            shared.store().revoke(&t);
            Reply::new(StatusCode::OK).finish()
        }
        Err(r) => r.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(0), 0);
        assert_eq!(ceil_secs(1), 1);
        assert_eq!(ceil_secs(1000), 1);
        assert_eq!(ceil_secs(1001), 2);
    }
}
