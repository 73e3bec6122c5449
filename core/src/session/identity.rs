//! Who the client is and which authorization server it talks to.
//!
//! Both come either from configuration or from this session's own discovery and
//! registration. What configuration says is read from the shared [`Config`] and never
//! copied, so a gateway's million sessions of one server keep one copy of the client
//! id, the issuer and the token endpoint; what a session learns itself is boxed, so a
//! session that learns nothing pays a pointer.
//!
//! [`Config`]: super::Config

use super::state::Server;
use super::{OAuthConfig, Session};
use crate::oauth::{AuthorizationServerMetadata, ClientRegistration};
use alloc::boxed::Box;

/// Where the client registration comes from.
#[derive(Default)]
pub(crate) enum ClientSlot {
    /// None yet.
    #[default]
    None,
    /// [`OAuthConfig::client`].
    Configured,
    /// This session's own registration (RFC 7591), or one restored from a snapshot that
    /// configuration does not name: dropped on `invalid_client` or an issuer change.
    Registered(Box<ClientRegistration>),
}

/// Where the authorization server's endpoints come from.
#[derive(Default)]
pub(crate) enum ServerSlot {
    /// Not known yet: discovery finds it.
    #[default]
    None,
    /// [`OAuthConfig::token_endpoint`] and [`OAuthConfig::issuer`].
    Configured,
    /// Discovered in this session, or restored from a snapshot.
    Known(Box<Server>),
}

/// The authorization server as the session sees it, borrowed from wherever it lives.
#[derive(Clone, Copy)]
pub(crate) struct ServerView<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) token_endpoint: &'a str,
    pub(crate) authorization_endpoint: Option<&'a str>,
    pub(crate) registration_endpoint: Option<&'a str>,
    /// The resource as its metadata published it.
    pub(crate) resource: Option<&'a str>,
    /// The scope last asked of this server.
    pub(crate) requested_scope: Option<&'a str>,
    /// Full metadata, when it was discovered in this session.
    pub(crate) metadata: Option<&'a AuthorizationServerMetadata>,
}

impl ClientSlot {
    /// The slot for a session starting from `oauth`.
    pub(crate) fn from_config(oauth: Option<&OAuthConfig>) -> ClientSlot {
        match oauth.and_then(|o| o.client.as_ref()) {
            Some(_) => ClientSlot::Configured,
            None => ClientSlot::None,
        }
    }
}

impl ServerSlot {
    /// The slot for a session starting from `oauth`.
    pub(crate) fn from_config(oauth: Option<&OAuthConfig>) -> ServerSlot {
        match oauth.and_then(|o| o.token_endpoint.as_ref()) {
            Some(_) => ServerSlot::Configured,
            None => ServerSlot::None,
        }
    }
}

impl Session {
    /// The client registration in use, if any.
    pub(crate) fn client(&self) -> Option<&ClientRegistration> {
        match &self.client {
            ClientSlot::None => None,
            ClientSlot::Configured => self.oauth_config().and_then(|o| o.client.as_ref()),
            ClientSlot::Registered(c) => Some(c),
        }
    }

    /// Adopt a registration: configuration's when it is the same, else this session's.
    pub(crate) fn set_client(&mut self, client: ClientRegistration) {
        let configured = self.oauth_config().and_then(|o| o.client.as_ref());
        self.client = if configured == Some(&client) {
            ClientSlot::Configured
        } else {
            ClientSlot::Registered(Box::new(client))
        };
    }

    /// Forget a registration this session made or restored; configuration's stays.
    pub(crate) fn drop_registered_client(&mut self) {
        if matches!(self.client, ClientSlot::Registered(_)) {
            self.client = ClientSlot::None;
        }
    }

    /// Whether the client came from this session's own registration.
    pub(crate) fn client_is_registered(&self) -> bool {
        matches!(self.client, ClientSlot::Registered(_))
    }

    /// The authorization server in use, if known.
    pub(crate) fn server(&self) -> Option<ServerView<'_>> {
        match &self.server {
            ServerSlot::None => None,
            ServerSlot::Configured => {
                let o = self.oauth_config()?;
                Some(ServerView {
                    issuer: o.issuer.as_deref().unwrap_or(""),
                    token_endpoint: o.token_endpoint.as_deref()?,
                    authorization_endpoint: None,
                    registration_endpoint: None,
                    resource: None,
                    requested_scope: None,
                    metadata: None,
                })
            }
            ServerSlot::Known(s) => Some(ServerView {
                issuer: &s.issuer,
                token_endpoint: &s.token_endpoint,
                authorization_endpoint: s.authorization_endpoint.as_deref(),
                registration_endpoint: s.registration_endpoint.as_deref(),
                resource: s.resource.as_deref(),
                requested_scope: s.requested_scope.as_deref(),
                metadata: s.metadata.as_deref(),
            }),
        }
    }

    /// The server record to write what the session learns into (a configured server
    /// gets a record of its own the first time).
    pub(crate) fn known_server_mut(&mut self) -> Option<&mut Server> {
        if matches!(self.server, ServerSlot::Configured) {
            let view = self.server()?;
            let known = Server {
                issuer: view.issuer.into(),
                token_endpoint: view.token_endpoint.into(),
                authorization_endpoint: None,
                registration_endpoint: None,
                resource: None,
                requested_scope: None,
                metadata: None,
            };
            self.server = ServerSlot::Known(Box::new(known));
        }
        match &mut self.server {
            ServerSlot::Known(s) => Some(s),
            _ => None,
        }
    }

    /// The RFC 8707 `resource` to send: the resource as its metadata published it
    /// (MCP authorization "Canonical Server URI": the client uses the value the server
    /// published, verbatim), else the canonical form of the configured URL.
    pub(crate) fn resource_parameter(&self) -> Option<alloc::string::String> {
        match self.server().and_then(|s| s.resource) {
            Some(r) => Some(r.into()),
            None => crate::oauth::canonical_resource(&self.config.resource_url).ok(),
        }
    }

    /// Whether the client in use is a Client ID Metadata Document URL: portable across
    /// authorization servers (MCP 2026-07-28 "Authorization Server Binding").
    pub(crate) fn client_is_metadata_document(&self) -> bool {
        let cimd = self
            .oauth_config()
            .and_then(|o| o.client_id_metadata_url.as_deref());
        matches!((self.client(), cimd), (Some(c), Some(url)) if c.client_id == url)
    }

    /// Start over from what configuration says (a helper session switching to its OAuth
    /// fallback).
    pub(crate) fn reset_identity(&mut self) {
        let client = ClientSlot::from_config(self.oauth_config());
        let server = ServerSlot::from_config(self.oauth_config());
        self.client = client;
        self.server = server;
    }
}
