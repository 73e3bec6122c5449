//! One session kept alive through a thousand refreshes, as a device would: the refresh
//! tokens rotate (each token response carries a new refresh token, RFC 6749 §6 and
//! OAuth 2.1 §4.3.1), every token request goes over the wire through
//! `bearerflow::http::blocking::fetch` to a simulated token endpoint, and every
//! snapshot is serialized as a device would persist it.
//!
//! Half the refreshes are proactive (the request goes out with the current, still
//! valid token while the refresh runs: phase `expiring`), half after expiry (the request
//! waits for the refresh: phase `expired`). After each refresh a few requests go out
//! with the new token. The run checks the machine's rules on the way (the rotated
//! refresh token is persisted before the new access token is used; the old refresh
//! token is never sent again; one token request per refresh) and measures the heap:
//! what an idle session holds, the high-water mark during refreshes, and that neither
//! grows after the first few refreshes.

use crate::heap::{self, Usage};
use crate::wire::{self, FixedBuf, Framing, SimSocket};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use bearerflow::http::blocking;
use bearerflow::secret::Secret;
use bearerflow::session::{Action, Config, FetchPurpose, Session, Verdict};
use bearerflow::time::Timestamp;
use bearerflow::token::Phase;

/// The device's configuration, as it would sit in its flash: a pre-registered public
/// client and a known token endpoint (no discovery needed).
pub const CONFIG_JSON: &str = r#"{
  "resource_url": "https://mcp.example.com/mcp",
  "credential": {
    "kind": "oauth",
    "client": {"client_id": "device-7", "auth_method": "none"},
    "token_endpoint": "https://auth.example.com/token",
    "issuer": "https://auth.example.com"
  }
}"#;

/// Length of every token: a base64url-encoded 256-bit value, the common opaque token.
pub const TOKEN_LEN: usize = 43;
const LIFETIME_S: u64 = 3600;
const SCOPE: &str = "mcp:tools offline_access";
const START: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, unix ms
/// Requests sent with each new token after its refresh.
const REQUESTS_PER_TOKEN: u32 = 3;
/// Refreshes after which the heap must have stopped growing.
pub const WARMUP: u32 = 4;

/// A 43-byte token from the base64url alphabet, unique per `(kind, n)`.
fn token(kind: u8, n: u32) -> [u8; TOKEN_LEN] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = [0u8; TOKEN_LEN];
    out[0] = kind;
    let mut state = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(kind);
    for (i, b) in out.iter_mut().enumerate().skip(1) {
        // Eight hex-ish digits of n first (readable in a failure), then noise.
        *b = if i <= 8 {
            b"0123456789abcdef"[((n >> ((8 - i) * 4)) & 0xf) as usize]
        } else {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            ALPHABET[(state >> 58) as usize]
        };
    }
    out
}

fn text(bytes: &[u8]) -> &str {
    // Tokens are built from ASCII only.
    core::str::from_utf8(bytes).unwrap_or("")
}

/// What the run measured.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// The first sign that the heap kept growing after [`WARMUP`] refreshes, if any.
    pub growth: Option<Growth>,
    /// Refreshes done.
    pub refreshes: u32,
    /// Of which proactive (phase `expiring` when the request began).
    pub proactive: u32,
    /// Requests delivered.
    pub requests: u32,
    /// `size_of::<Session>()`: the session's own bytes, wherever the host keeps it.
    pub session_inline: usize,
    /// Heap held by the parsed configuration (shared by every session of the server).
    pub config_heap: usize,
    /// Heap held by one idle session with 43-byte tokens, one request through.
    pub idle_session_heap: usize,
    /// The allocator's `used()` with the configuration and the idle session.
    pub idle_used: usize,
    /// High-water of the allocator's `used()` while creating the session and its first
    /// request (configuration included).
    pub setup_used_peak: usize,
    /// High-water of bytes requested during the refreshes (configuration and session
    /// included).
    pub refresh_peak: usize,
    /// High-water of the allocator's `used()` during the refreshes: the heap a device
    /// must give one session.
    pub refresh_used_peak: usize,
    /// The allocator's `used()` high-water after the first refresh, and after
    /// [`WARMUP`] refreshes.
    pub used_peak_after_first: usize,
    /// See `used_peak_after_first`.
    pub used_peak_after_warmup: usize,
    /// The persisted snapshot's size in bytes.
    pub snapshot_json: usize,
    /// Size of the arena the run used.
    pub arena: usize,
}

/// The heap still growing after [`WARMUP`] refreshes: at refresh `refresh`, the bytes
/// in use between refreshes or the high-water mark differ from what they were after
/// refresh [`WARMUP`]. Plain numbers, so that noticing it allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Growth {
    /// The refresh after which it was seen.
    pub refresh: u32,
    /// Bytes in use between refreshes then, and after refresh [`WARMUP`].
    pub in_use: (usize, usize),
    /// The allocator's high-water mark then, and after refresh [`WARMUP`].
    pub used_peak: (usize, usize),
}

impl core::fmt::Display for Growth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "the heap still grows after refresh {WARMUP}: at refresh {}, {} bytes in use between refreshes ({} after refresh {WARMUP}), high-water {} bytes ({})",
            self.refresh, self.in_use.0, self.in_use.1, self.used_peak.0, self.used_peak.1
        )
    }
}

/// The token endpoint's answer for refresh `n`: rotated refresh token, new access token.
fn token_response(n: u32, out: &mut FixedBuf<512>, framing: Framing) -> Result<(), String> {
    let mut body = FixedBuf::<256>::new();
    use wire::Sink as _;
    let parts: [&[u8]; 7] = [
        b"{\"access_token\":\"",
        &token(b'A', n),
        b"\",\"token_type\":\"Bearer\",\"expires_in\":3600,\"refresh_token\":\"",
        &token(b'R', n),
        b"\",\"scope\":\"",
        SCOPE.as_bytes(),
        b"\"}",
    ];
    for p in parts {
        body.put(p)
            .map_err(|_| String::from("token response body too large"))?;
    }
    out.clear();
    let headers = [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
    ];
    wire::render_response(out, 200, &headers, body.as_slice(), framing)
        .map_err(|_| String::from("token response too large"))
}

fn usage() -> Usage {
    heap::usage(heap::current_arena())
}

/// The device's state between events.
struct Device {
    session: Session,
    /// The generation number and token of the access token the server accepts now.
    access: u32,
    /// The refresh token the session must present next.
    refresh: u32,
    /// Refresh number whose tokens the last `Persist` stored.
    persisted: u32,
    requests: u32,
    fetches: u32,
    snapshot_json: usize,
}

impl Device {
    /// Drain every action and act on it as a device host does: answer sends, run
    /// fetches over the wire, persist snapshots.
    fn drain(&mut self, now: Timestamp) -> Result<(), String> {
        while let Some(action) = self.session.poll_action() {
            match action {
                Action::Send { id, generation } => {
                    let headers = self
                        .session
                        .headers(generation)
                        .ok_or("a drained send has no headers")?;
                    let auth = headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                        .map(|h| h.value.expose())
                        .ok_or("a send without Authorization")?;
                    let want = token(b'A', self.access);
                    let ok = auth.strip_prefix("Bearer ") == Some(text(&want));
                    if !ok {
                        return Err(format!(
                            "request {} went out with another token than access token {}",
                            id.0, self.access
                        ));
                    }
                    if self.persisted < self.access {
                        return Err(format!(
                            "access token {} used before its refresh token was persisted",
                            self.access
                        ));
                    }
                    match self.session.handle_resource_response(id, 200, &[], now) {
                        Verdict::Deliver => self.requests += 1,
                        Verdict::Retry => return Err(format!("a 200 for {} was retried", id.0)),
                    }
                }
                Action::Fetch {
                    id,
                    purpose,
                    request,
                } => {
                    if purpose != FetchPurpose::Refresh {
                        return Err(format!("unexpected fetch for {}", purpose.as_str()));
                    }
                    let body = core::str::from_utf8(&request.body).unwrap_or("");
                    let presented = body
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("refresh_token="))
                        .unwrap_or("");
                    if presented != text(&token(b'R', self.refresh)) {
                        return Err(format!(
                            "refresh {} did not present refresh token {}",
                            self.refresh + 1,
                            self.refresh
                        ));
                    }
                    self.fetches += 1;
                    let n = self.refresh + 1;
                    let framing = Framing::ALL[n as usize % Framing::ALL.len()];
                    let mut reply = FixedBuf::<512>::new();
                    token_response(n, &mut reply, framing)?;
                    let mut written = [0u8; 1024];
                    let mut socket = SimSocket::new(reply.as_slice(), 97, &mut written);
                    let mut scratch = [0u8; 256];
                    let answered = now + bearerflow::time::Millis(40);
                    blocking::fetch(
                        &mut self.session,
                        id,
                        &request,
                        &mut socket,
                        &mut scratch,
                        answered,
                    )
                    .map_err(|e| format!("refresh {n} over the wire: {e:?}"))?;
                    wire::check_request(socket.written(), &request)?;
                    // The server has rotated: from now on it accepts only the new pair.
                    self.access = n;
                    self.refresh = n;
                }
                Action::Persist(snapshot) => {
                    let tokens = snapshot
                        .tokens
                        .as_ref()
                        .ok_or("a snapshot without tokens")?;
                    let rt = tokens.refresh_token.as_ref().map(Secret::expose);
                    if rt != Some(text(&token(b'R', self.refresh))) {
                        return Err(format!(
                            "the snapshot does not hold refresh token {}",
                            self.refresh
                        ));
                    }
                    // What a device writes to its flash.
                    let json = snapshot.to_json();
                    self.snapshot_json = json.len();
                    self.persisted = self.refresh;
                }
                Action::Fail { id, error, .. } => {
                    return Err(format!("request {} failed: {}", id.0, error.code()));
                }
                Action::Authorize { .. } => return Err(String::from("asked to authorize")),
                Action::RunHelper => return Err(String::from("asked to run a helper")),
                Action::AcquireLease { .. } | Action::ReleaseLease => {
                    return Err(String::from("asked for a shared store's lease"))
                }
            }
        }
        Ok(())
    }

    fn request(&mut self, now: Timestamp) -> Result<(), String> {
        let before = self.requests;
        let _ = self.session.begin_request(now);
        self.drain(now)?;
        if self.requests != before + 1 {
            return Err(format!("the request at {} was not delivered", now.0));
        }
        Ok(())
    }
}

/// Run `refreshes` refreshes (at least [`WARMUP`] + 1) in the current heap arena and
/// check the rules on the way (`Err` at the first broken one); heap growth after
/// [`WARMUP`] refreshes is reported in [`Figures::growth`].
pub fn run(refreshes: u32) -> Result<Figures, String> {
    let mut f = Figures {
        session_inline: core::mem::size_of::<Session>(),
        arena: usage().size,
        ..Figures::default()
    };
    let base = usage().in_use;
    heap::reset_peaks(heap::current_arena());

    let config =
        Config::from_json(CONFIG_JSON.as_bytes()).map_err(|e| format!("Config::from_json: {e}"))?;
    let config = Arc::new(config);
    let with_config = usage().in_use;
    f.config_heap = with_config - base;

    let start = Timestamp(START);
    let mut session = Session::new(Arc::clone(&config), [0x42; 32], start);
    session.set_tokens(
        Secret::new(text(&token(b'A', 0))),
        Some(Secret::new(text(&token(b'R', 0)))),
        Some(LIFETIME_S),
        Some(String::from(SCOPE)),
        start,
    );
    let mut dev = Device {
        session,
        access: 0,
        refresh: 0,
        persisted: u32::MAX,
        requests: 0,
        fetches: 0,
        snapshot_json: 0,
    };
    // `set_tokens` asks for a Persist first: the tokens count as persisted from there.
    dev.persisted = 0;
    dev.drain(start)?;
    dev.request(start + bearerflow::time::Millis(1))?;
    let idle = usage();
    f.idle_session_heap = idle.in_use - with_config;
    f.idle_used = idle.used;
    f.setup_used_peak = idle.used_peak;

    heap::reset_peaks(heap::current_arena());
    let mut received = START;
    let mut at_rest_after_warmup = None;
    for n in 1..=refreshes {
        let expires = received + LIFETIME_S * 1000;
        let proactive = n % 2 == 1;
        // Expiring: one second before the clock-skew margin (5 s) ends the token's
        // use; expired: a second after the token's own expiry.
        let now = Timestamp(if proactive {
            expires - 6_000
        } else {
            expires + 1_000
        });
        let phase = dev.session.phase(now);
        let want = if proactive {
            Phase::Expiring
        } else {
            Phase::Expired
        };
        if phase != want {
            return Err(format!(
                "refresh {n}: phase {} at the chosen time, want {}",
                phase.as_str(),
                want.as_str()
            ));
        }
        f.proactive += u32::from(proactive);
        let fetches = dev.fetches;
        dev.request(now)?;
        if dev.fetches != fetches + 1 || dev.refresh != n {
            return Err(format!(
                "refresh {n}: {} token requests",
                dev.fetches - fetches
            ));
        }
        received = now.0 + 40;
        for k in 1..=REQUESTS_PER_TOKEN {
            dev.request(Timestamp(received + u64::from(k) * 60_000))?;
        }
        let u = usage();
        if n == 1 {
            f.used_peak_after_first = u.used_peak;
        }
        if n == WARMUP {
            f.used_peak_after_warmup = u.used_peak;
            at_rest_after_warmup = Some(u.in_use);
        }
        if let (Some(rest), None) = (at_rest_after_warmup, f.growth) {
            if u.in_use != rest || u.used_peak != f.used_peak_after_warmup {
                f.growth = Some(Growth {
                    refresh: n,
                    in_use: (u.in_use, rest),
                    used_peak: (u.used_peak, f.used_peak_after_warmup),
                });
            }
        }
    }
    let u = usage();
    f.refresh_peak = u.peak;
    f.refresh_used_peak = u.used_peak;
    f.refreshes = dev.fetches;
    f.requests = dev.requests;
    f.snapshot_json = dev.snapshot_json;

    if refreshes <= WARMUP {
        return Err(format!(
            "{refreshes} refreshes cannot show the heap settling after {WARMUP}"
        ));
    }
    let stats = dev.session.stats();
    if stats.refresh_requests != refreshes || stats.fails != 0 {
        return Err(format!("stats after the run: {stats:?}"));
    }
    drop(dev);
    drop(config);
    let left = usage().in_use;
    if left != base {
        return Err(format!(
            "{} bytes still allocated after the session was dropped",
            left - base
        ));
    }
    Ok(f)
}
