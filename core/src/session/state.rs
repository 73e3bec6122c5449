//! The session's internal state, as enums whose variants carry exactly the data that is
//! valid in that state (quinn-proto's `State`, rustls' connection states): what
//! credential is held ([`Cred`]) and what single piece of credential work is under way
//! ([`Work`]). Single flight is a property of the type: there is one `Work`.

use super::flow::{Awaiting, Discovery, Plan};
use super::FetchPurpose;
use crate::http::Header;
use crate::policy::Schedule;
use crate::session::FetchId;
use crate::time::Timestamp;
use crate::token::{Generation, TokenSet};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// The credential in hand.
pub(crate) enum Cred {
    /// None yet, or dropped.
    None,
    /// OAuth tokens.
    Tokens(TokenCred),
    /// A header helper's output.
    Helper(HelperCred),
}

/// OAuth tokens with the moments that matter for them.
pub(crate) struct TokenCred {
    pub(crate) set: TokenSet,
    /// The schedule, or [`NO_SCHEDULE`] when the lifetime is unknown (only a `401`
    /// tells): a sentinel rather than an `Option`, to keep a word out of every session.
    sched: Schedule,
    /// The resource answered `401` to this generation.
    pub(crate) rejected: bool,
}

/// "No schedule": an expiry no token has (lifetimes are clamped to a year).
const NO_SCHEDULE: Schedule = Schedule {
    refresh_at: Timestamp(u64::MAX),
    expired_at: Timestamp(u64::MAX),
};

impl TokenCred {
    pub(crate) fn new(set: TokenSet, schedule: Option<Schedule>) -> TokenCred {
        TokenCred {
            set,
            sched: schedule.unwrap_or(NO_SCHEDULE),
            rejected: false,
        }
    }

    /// When the token is due a refresh and when it is expired, if its lifetime is known.
    pub(crate) fn schedule(&self) -> Option<Schedule> {
        (self.sched != NO_SCHEDULE).then_some(self.sched)
    }
}

/// Headers printed by the header helper.
pub(crate) struct HelperCred {
    pub(crate) headers: Vec<Header>,
    pub(crate) generation: Generation,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) rejected: bool,
}

impl Cred {
    pub(crate) fn generation(&self) -> Option<Generation> {
        match self {
            Cred::None => None,
            Cred::Tokens(t) => Some(t.set.generation()),
            Cred::Helper(h) => Some(h.generation),
        }
    }

    pub(crate) fn tokens(&self) -> Option<&TokenCred> {
        match self {
            Cred::Tokens(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn set(&self) -> Option<&TokenSet> {
        self.tokens().map(|t| &t.set)
    }

    pub(crate) fn has_refresh_token(&self) -> bool {
        self.set().is_some_and(|s| s.refresh_token().is_some())
    }

    pub(crate) fn reject(&mut self, generation: Generation) {
        match self {
            Cred::Tokens(t) if t.set.generation() == generation => t.rejected = true,
            Cred::Helper(h) if h.generation == generation => h.rejected = true,
            _ => {}
        }
    }
}

/// The one piece of credential work under way (single flight).
#[derive(Default)]
pub(crate) enum Work {
    /// Nothing.
    #[default]
    Idle,
    /// Waiting out a backoff after a failure; nothing starts before `until`.
    Backoff { until: Timestamp },
    /// One HTTP exchange: a refresh or a step of the authorization flow.
    Fetch(Box<Fetch>),
    /// The header helper is running.
    Helper { deadline: Timestamp },
    /// The user is in the browser.
    Redirect(Box<Awaiting>),
    /// A refresh is due and the host was asked for the shared store's refresh lease.
    AwaitLease { deadline: Timestamp },
    /// Another process holds the lease: waiting for its tokens to reach the store.
    LeaseWait { until: Timestamp },
}

impl Work {
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self, Work::Idle)
    }

    /// The moment this work is due something from the timer, and why.
    pub(crate) fn deadline(&self) -> Option<(Timestamp, super::TimeoutReason)> {
        use super::TimeoutReason as R;
        match self {
            Work::Idle => None,
            Work::Backoff { until } => Some((*until, R::Backoff)),
            Work::Fetch(f) => Some((f.deadline, R::FetchDeadline)),
            Work::Helper { deadline } => Some((*deadline, R::HelperDeadline)),
            Work::Redirect(a) => Some((a.deadline, R::AuthorizationDeadline)),
            Work::AwaitLease { deadline } => Some((*deadline, R::LeaseDeadline)),
            Work::LeaseWait { until } => Some((*until, R::LeaseWait)),
        }
    }
}

/// An HTTP exchange in flight.
pub(crate) struct Fetch {
    pub(crate) id: FetchId,
    pub(crate) purpose: FetchPurpose,
    /// When it was asked for: token lifetimes count from here, the conservative end of
    /// the exchange (the server started the clock no earlier than this).
    pub(crate) sent_at: Timestamp,
    pub(crate) deadline: Timestamp,
    /// What the answer is for.
    pub(crate) step: Step,
    /// A token request of a signing session, unsigned: sent again with a new proof
    /// after the server asks for a DPoP nonce (RFC 9449 §8), once.
    pub(crate) unsigned: Option<Box<crate::http::Request>>,
    /// Already sent again with a nonce.
    pub(crate) nonce_retried: bool,
}

/// Which step an exchange belongs to, with that step's context.
pub(crate) enum Step {
    /// A refresh-token grant of the credential of `generation`, under the shared
    /// store's lease when `leased`.
    Refresh {
        generation: Generation,
        leased: bool,
    },
    /// Resource or authorization server metadata.
    Discovery(Discovery),
    /// Dynamic client registration.
    Registration(Plan),
    /// A code exchange or a client-credentials grant.
    Grant,
}

/// The authorization server in use, as far as it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Server {
    pub(crate) issuer: String,
    pub(crate) token_endpoint: String,
    pub(crate) authorization_endpoint: Option<String>,
    pub(crate) registration_endpoint: Option<String>,
    /// The resource exactly as its protected resource metadata published it (RFC 9728
    /// §3), for the RFC 8707 `resource` parameter.
    pub(crate) resource: Option<String>,
    /// The scope last asked of this server (MCP 2026-07-28 step-up: asked again, at
    /// least, by every later authorization).
    pub(crate) requested_scope: Option<String>,
    /// Full metadata when it was discovered in this session.
    pub(crate) metadata: Option<Box<crate::oauth::AuthorizationServerMetadata>>,
}

/// Consecutive failures of each kind of work, for the backoff.
#[derive(Clone, Copy, Default)]
pub(crate) struct Attempts {
    pub(crate) refresh: u8,
    pub(crate) flow: u8,
    pub(crate) helper: u8,
    pub(crate) persist: u8,
}
