//! One protected resource's settings, owned, checked once: what core's
//! [`Guard`](bearerflow::guard::Guard) borrows on every request, and what its RFC 9728
//! metadata document says.

use bearerflow::guard::{self, Guard, GuardError};
use bearerflow::oauth::protected_resource_metadata_urls;
use bearerflow::oauth::url::Url;
use core::fmt;

/// A setting the resource cannot work with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsError {
    /// The resource is not an absolute `http(s)` URL without a fragment (RFC 8707 §2:
    /// the canonical URI of the MCP server).
    Resource(String),
    /// A value cannot go into a `WWW-Authenticate` challenge (core's check: a control
    /// character or a non-ASCII byte, RFC 9110 §5.5 and §5.6.4).
    Challenge(GuardError),
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Resource(why) => write!(f, "resource: {why}"),
            SettingsError::Challenge(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SettingsError {}

impl From<GuardError> for SettingsError {
    fn from(e: GuardError) -> SettingsError {
        SettingsError::Challenge(e)
    }
}

/// A protected resource (an MCP endpoint): its canonical URI, where its metadata is, its
/// realm, the scope every request needs, and what the metadata document lists.
///
/// ```
/// use bearerflow_server::ProtectedResource;
/// let r = ProtectedResource::new("https://mcp.example.com/mcp")?
///     .authorization_server("https://auth.example.com")
///     .scopes_supported(["mcp:tools"]);
/// // RFC 9728 §3.1: the well-known suffix goes between the host and the path.
/// assert_eq!(r.metadata_url(), "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
/// assert_eq!(r.metadata_path(), "/.well-known/oauth-protected-resource/mcp");
/// # Ok::<(), bearerflow_server::SettingsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    resource: String,
    metadata_url: String,
    metadata_path: String,
    realm: Option<String>,
    metadata_in_challenges: bool,
    required_scope: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
}

impl ProtectedResource {
    /// The resource at `resource`, its metadata at the path-inserted well-known URL
    /// (RFC 9728 §3.1; what MCP clients try first).
    pub fn new(resource: impl Into<String>) -> Result<ProtectedResource, SettingsError> {
        let resource = resource.into();
        let url = Url::parse(&resource).map_err(|e| SettingsError::Resource(e.to_string()))?;
        if url.fragment().is_some() {
            return Err(SettingsError::Resource(
                "a resource URI has no fragment (RFC 8707 §2)".into(),
            ));
        }
        let metadata_url = protected_resource_metadata_urls(&resource)
            .map_err(|e| SettingsError::Resource(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| SettingsError::Resource("no metadata URL".into()))?;
        let metadata_path = path_of(&metadata_url)?;
        // The metadata URL is named in every challenge: it must be quotable.
        Guard::new(&resource).with_resource_metadata(&metadata_url)?;
        Ok(ProtectedResource {
            resource,
            metadata_url,
            metadata_path,
            realm: None,
            metadata_in_challenges: true,
            required_scope: String::new(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            resource_name: None,
        })
    }

    /// Serve the metadata at another URL (the root one, say) and name it in challenges.
    pub fn with_metadata_url(
        mut self,
        url: impl Into<String>,
    ) -> Result<ProtectedResource, SettingsError> {
        let url = url.into();
        Guard::new(&self.resource).with_resource_metadata(&url)?;
        self.metadata_path = path_of(&url)?;
        self.metadata_url = url;
        Ok(self)
    }

    /// Whether challenges name the metadata URL (default yes: RFC 9728 §5.1, and MCP
    /// clients start discovery from it). Off, clients fall back to probing the
    /// well-known URLs.
    pub fn metadata_in_challenges(mut self, name_it: bool) -> ProtectedResource {
        self.metadata_in_challenges = name_it;
        self
    }

    /// The `realm` of every challenge (RFC 9110 §11.5).
    pub fn with_realm(
        mut self,
        realm: impl Into<String>,
    ) -> Result<ProtectedResource, SettingsError> {
        let realm = realm.into();
        Guard::new(&self.resource).with_realm(&realm)?;
        self.realm = Some(realm);
        Ok(self)
    }

    /// The scope every request needs (space separated); a valid token without it gets
    /// `403 insufficient_scope` naming it (RFC 6750 §3.1). Refused when it cannot go into
    /// a challenge (core's renderer says so).
    pub fn required_scope(
        mut self,
        scope: impl Into<String>,
    ) -> Result<ProtectedResource, SettingsError> {
        let scope = scope.into();
        bearerflow::challenge::render("Bearer", &[("scope", &scope)]).map_err(|reason| {
            SettingsError::Challenge(GuardError {
                field: "scope",
                reason,
            })
        })?;
        self.required_scope = scope;
        Ok(self)
    }

    /// An authorization server clients may get tokens from (RFC 9728 §2
    /// `authorization_servers`).
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> ProtectedResource {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes the metadata lists (RFC 9728 §2 `scopes_supported`).
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> ProtectedResource
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A name for people (RFC 9728 §2 `resource_name`).
    pub fn resource_name(mut self, name: impl Into<String>) -> ProtectedResource {
        self.resource_name = Some(name.into());
        self
    }

    /// The canonical resource URI tokens must name as their audience.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The metadata URL every challenge names.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The path (and query) part of [`metadata_url`](Self::metadata_url), for routing.
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The scope every request needs.
    pub fn required(&self) -> &str {
        &self.required_scope
    }

    /// Core's guard over these settings (borrowed, allocation-free to build).
    pub fn guard(&self) -> Guard<'_> {
        let guard = Guard::new(&self.resource);
        // Both settings were checked by the same calls when they were set, so these
        // cannot fail; the fallback keeps the guard usable (without the parameter)
        // rather than panicking.
        let guard = if self.metadata_in_challenges {
            guard
                .with_resource_metadata(&self.metadata_url)
                .unwrap_or(guard)
        } else {
            guard
        };
        match &self.realm {
            Some(realm) => guard.with_realm(realm).unwrap_or(guard),
            None => guard,
        }
    }

    /// The RFC 9728 §2 document (core's rendering).
    pub fn metadata_document(&self) -> String {
        let servers: Vec<&str> = self
            .authorization_servers
            .iter()
            .map(String::as_str)
            .collect();
        let scopes: Vec<&str> = self.scopes_supported.iter().map(String::as_str).collect();
        guard::protected_resource_metadata(
            &self.resource,
            &servers,
            &scopes,
            self.resource_name.as_deref(),
        )
    }
}

/// The path and query of an absolute URL.
fn path_of(url: &str) -> Result<String, SettingsError> {
    let u = Url::parse(url).map_err(|e| SettingsError::Resource(e.to_string()))?;
    let mut p = match u.path() {
        "" => "/".to_string(),
        p => p.to_string(),
    };
    if let Some(q) = u.query() {
        p.push('?');
        p.push_str(q);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_cannot_be_a_resource_or_go_into_a_challenge() {
        assert!(matches!(
            ProtectedResource::new("mcp.example.com/mcp"),
            Err(SettingsError::Resource(_))
        ));
        assert!(matches!(
            ProtectedResource::new("https://mcp.example.com/mcp#x"),
            Err(SettingsError::Resource(_))
        ));
        let r = ProtectedResource::new("https://mcp.example.com/mcp").unwrap();
        assert!(matches!(
            r.clone().with_realm("a\r\nSet-Cookie: x"),
            Err(SettingsError::Challenge(_))
        ));
        assert!(matches!(
            r.with_metadata_url("https://mcp.example.com/\u{7}"),
            Err(SettingsError::Challenge(_))
        ));
    }

    #[test]
    fn a_resource_at_the_root_has_its_metadata_at_the_root() {
        let r = ProtectedResource::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(r.metadata_path(), "/.well-known/oauth-protected-resource");
        let r = ProtectedResource::new("http://127.0.0.1:8080/")
            .unwrap()
            .with_metadata_url("http://127.0.0.1:8080/meta?x=1")
            .unwrap();
        assert_eq!(r.metadata_path(), "/meta?x=1");
    }

    #[test]
    fn the_metadata_document_is_cores() {
        let r = ProtectedResource::new("https://mcp.example.com/mcp")
            .unwrap()
            .authorization_server("https://auth.example.com")
            .scopes_supported(["mcp:tools"])
            .resource_name("example");
        let v: serde_json::Value = serde_json::from_str(&r.metadata_document()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "resource": "https://mcp.example.com/mcp",
                "authorization_servers": ["https://auth.example.com"],
                "bearer_methods_supported": ["header"],
                "scopes_supported": ["mcp:tools"],
                "resource_name": "example",
            })
        );
    }
}
