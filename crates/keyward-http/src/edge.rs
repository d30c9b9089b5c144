//! The edge: limits every request passes through before a handler sees it, and brute-force
//! protection of credentials (SECURITY.md, "The edge").
//!
//! - a deadline for the request body ([`body_deadline`]): it is read in full before the request
//!   takes a slot, so a client that trickles its body holds no slot, only its connection;
//! - a cap on requests in flight (over it: 503 with `Retry-After`, at once, never a queue);
//! - a time limit on each request (over it: 503; the handler is stopped);
//! - a nesting cap on JSON bodies, checked on the raw bytes before any deserialiser runs;
//! - per client address, a count of failed credentials (`POST /apiops/auth/token` answered 401, a
//!   bearer token that is unknown, expired or revoked) with an exponential lockout ([`Throttle`]).
//!
//! Connections (caps per address and in total, head, idle and TLS deadlines) are limited where
//! they are accepted, in `server.rs`. The multipart part cap is applied where forms are read
//! (`routes/file_import.rs`). Every refusal leaves as the error envelope, and is counted in
//! [`Overload`], which logs one summary line per second at most.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::body::HttpBody;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::{ApiError, envelope};
use crate::fetch::Cidr;
use crate::messages;

/// The limits of the edge, with their defaults (README, "Running it").
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most parts in one multipart body.
    pub max_parts: usize,
    /// Deepest nesting of arrays and objects in a JSON body.
    pub json_max_depth: usize,
    /// Longest time one request may take, body upload included.
    pub request_timeout: Duration,
    /// Longest time a request body may take to arrive in full (capped by `request_timeout`).
    pub body_read_timeout: Duration,
    /// Longest time from the first byte of a request head (or from connecting) to its end.
    pub header_read_timeout: Duration,
    /// Longest silence of a keep-alive connection between two requests.
    pub idle_timeout: Duration,
    /// Longest time a client may take to finish its TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Most open connections of this node (lowered further to fit the open-files limit).
    pub max_connections: usize,
    /// Most open connections from one client address (IPv6: one /64); 0: no cap. Trusted
    /// proxies are exempt.
    pub max_connections_per_address: usize,
    /// Most requests in flight at once on this node.
    pub max_concurrent: usize,
    /// Lockout of addresses that keep failing to authenticate.
    pub brute_force: BruteForce,
    /// Peers whose `X-Forwarded-For` names the client (empty: the peer is the client).
    pub trusted_proxies: Vec<Cidr>,
    /// Whether the server speaks TLS itself (adds `Strict-Transport-Security`).
    pub tls: bool,
    /// Most pieces of heavy work (key derivations and decryptions, keystores, packages, password
    /// hashes and checks, key generation; `heavy.rs`) at once; 0: one per core.
    pub heavy_work: usize,
    /// Longest wait for a piece of heavy work's turn; then 503.
    pub heavy_work_wait: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_parts: 16,
            json_max_depth: 64,
            request_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_address: 256,
            max_concurrent: 256,
            brute_force: BruteForce::default(),
            trusted_proxies: Vec::new(),
            tls: false,
            heavy_work: 0,
            heavy_work_wait: Duration::from_secs(5),
        }
    }
}

/// The brute-force schedule: `max_failures` failures within `window` lock the address for
/// `lockout`; each failure after a lockout ended (and before `window` passed quietly) locks it
/// again for twice as long as the last time, at most `lockout_max`.
#[derive(Debug, Clone)]
pub struct BruteForce {
    /// Failures within `window` that lock an address; 0 turns the protection off.
    pub max_failures: u32,
    pub window: Duration,
    /// The first lockout.
    pub lockout: Duration,
    /// The longest lockout.
    pub lockout_max: Duration,
    /// Most addresses tracked at once (the oldest are forgotten first).
    pub max_tracked: usize,
}

impl Default for BruteForce {
    fn default() -> BruteForce {
        BruteForce {
            max_failures: 10,
            window: Duration::from_secs(300),
            lockout: Duration::from_secs(60),
            lockout_max: Duration::from_secs(900),
            max_tracked: 10_000,
        }
    }
}

/// The connection's peer address, left on every request as `ConnectInfo` (`server.rs`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

// ---- overload log ------------------------------------------------------------------------------

/// What the edge refused, counted for [`Overload::report`].
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// 503: `--max-concurrent-requests` in flight.
    Busy,
    /// 429: an address locked out (or locking now), or with as many password checks under way
    /// as it may still fail.
    Lockout,
    /// 503: a request stopped by `--request-timeout`.
    RequestTimeout,
    /// A connection closed at once: its address holds `--max-connections-per-address`.
    AddressConnections,
    /// A connection closed at once: the node holds `--max-connections`.
    Connections,
    /// A connection closed: its head, idle or stall deadline passed, or its TLS handshake's.
    ConnectionTimeout,
    /// 408/503: a request body that did not arrive in time.
    BodyTimeout,
    /// 503: no heavy work (a password check, a key decryption, …) could start within
    /// `--heavy-work-wait`.
    HeavyBusy,
    /// `accept` failed (e.g. out of file descriptors).
    AcceptError,
}

const REFUSALS: usize = 9;

/// Counts refusals instead of logging each: under attack one line per refused request is itself
/// a flood. [`Overload::report`] (called once a second by the server) logs one line with the
/// counts since the last call, if any.
#[derive(Default)]
pub struct Overload {
    counts: [AtomicU64; REFUSALS],
}

impl Overload {
    pub fn note(&self, what: Refusal) {
        self.counts[what as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the counts since the last call; `None` when nothing was refused.
    pub fn take(&self) -> Option<[u64; REFUSALS]> {
        let counts = std::array::from_fn(|i| self.counts[i].swap(0, Ordering::Relaxed));
        counts.iter().any(|c| *c > 0).then_some(counts)
    }

    /// Logs one line with what was refused since the last call, if anything was.
    pub fn report(&self) {
        let Some(c) = self.take() else {
            return;
        };
        tracing::warn!(
            busy_503 = c[Refusal::Busy as usize],
            locked_out_429 = c[Refusal::Lockout as usize],
            stopped_by_request_timeout = c[Refusal::RequestTimeout as usize],
            connections_over_address_cap = c[Refusal::AddressConnections as usize],
            connections_over_node_cap = c[Refusal::Connections as usize],
            connections_timed_out = c[Refusal::ConnectionTimeout as usize],
            body_timeouts = c[Refusal::BodyTimeout as usize],
            heavy_work_busy_503 = c[Refusal::HeavyBusy as usize],
            accept_errors = c[Refusal::AcceptError as usize],
            "the edge refused requests or connections in the last second"
        );
    }
}

// ---- in flight and time ------------------------------------------------------------------------

/// Requests in flight and their time limit.
pub struct Capacity {
    permits: Arc<Semaphore>,
    timeout: Duration,
    overload: Arc<Overload>,
}

impl Capacity {
    pub fn new(limits: &Limits, overload: Arc<Overload>) -> Capacity {
        Capacity {
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            timeout: limits.request_timeout,
            overload,
        }
    }
}

/// When a request's head was read: the clock of `--request-timeout` starts there, so the time
/// its body took counts (set by [`body_deadline`]).
#[derive(Debug, Clone, Copy)]
pub struct Started(pub Instant);

/// Refuses a request at once when `max_concurrent` are in flight; stops one that runs longer
/// than `request_timeout` (counted from [`Started`]). Every 503 leaves with `Retry-After`.
pub async fn capacity(State(cap): State<Arc<Capacity>>, req: Request, next: Next) -> Response {
    let Ok(_permit) = cap.permits.clone().try_acquire_owned() else {
        cap.overload.note(Refusal::Busy);
        return with_retry_after(
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: messages::OVERLOADED.to_owned(),
            },
            Duration::from_secs(1),
        );
    };
    let started = req
        .extensions()
        .get::<Started>()
        .map_or_else(Instant::now, |s| s.0);
    let deadline = tokio::time::Instant::from_std(started + cap.timeout);
    match tokio::time::timeout_at(deadline, next.run(req)).await {
        Ok(mut resp) => {
            // A busy password check, an unreachable store: a client may try again shortly.
            if resp.status() == StatusCode::SERVICE_UNAVAILABLE
                && !resp.headers().contains_key(header::RETRY_AFTER)
            {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            resp
        }
        Err(_) => {
            cap.overload.note(Refusal::RequestTimeout);
            with_retry_after(
                ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: messages::request_timeout(cap.timeout),
                },
                Duration::from_secs(1),
            )
        }
    }
}

/// What [`body_deadline`] needs.
pub struct BodyRead {
    pub timeout: Duration,
    pub request_timeout: Duration,
    pub limit: usize,
    pub overload: Arc<Overload>,
}

/// Reads a request's body in full, within `min(body_read_timeout, request_timeout)` and the body
/// limit, before the request goes on to take a slot of [`capacity`]: a client that trickles its
/// body holds its connection, never a slot. Over the deadline: 408 (503 with the request-timeout
/// message when the request's own clock is the shorter one), and the connection is closed.
pub async fn body_deadline(State(cfg): State<Arc<BodyRead>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(Started(started));
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let wait = cfg.timeout.min(cfg.request_timeout);
    let read = tokio::time::timeout(wait, axum::body::to_bytes(body, cfg.limit)).await;
    let mut resp = match read {
        Ok(Ok(bytes)) => {
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
        Ok(Err(e)) => {
            if e.into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::too_large(cfg.limit).into_response()
            } else {
                ApiError::bad_request(messages::BODY_UNREADABLE).into_response()
            }
        }
        Err(_) => {
            cfg.overload.note(Refusal::BodyTimeout);
            if cfg.timeout < cfg.request_timeout {
                envelope(StatusCode::REQUEST_TIMEOUT, &messages::body_timeout(wait))
            } else {
                with_retry_after(
                    ApiError {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        message: messages::request_timeout(cfg.request_timeout),
                    },
                    Duration::from_secs(1),
                )
            }
        }
    };
    // The rest of the body is unread: the connection cannot carry another request.
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn with_retry_after(error: ApiError, wait: Duration) -> Response {
    let mut resp = envelope(error.status, &error.message);
    let secs = wait.as_millis().div_ceil(1000).max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

// ---- JSON nesting ------------------------------------------------------------------------------

/// Whether `json` nests arrays and objects deeper than `max`; a lexical scan that skips strings,
/// so it costs one pass and no allocation whatever the input.
pub fn json_too_deep(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &c in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"))
}

/// The JSON nesting cap and the body limit it needs to read a JSON body first.
#[derive(Debug, Clone, Copy)]
pub struct JsonCap {
    pub max_depth: usize,
    pub body_limit: usize,
}

/// Reads a JSON body (within the body limit) and refuses it when it nests too deep or repeats a
/// member name within an object; other bodies pass untouched.
pub async fn json_depth(State(cap): State<JsonCap>, req: Request, next: Next) -> Response {
    if !is_json(req.headers()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, cap.body_limit).await {
        Ok(b) => b,
        Err(e) => {
            let inner = e.into_inner();
            return if inner
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::too_large(cap.body_limit).into_response()
            } else {
                ApiError::bad_request(messages::BODY_UNREADABLE).into_response()
            };
        }
    };
    if json_too_deep(&bytes, cap.max_depth) {
        return ApiError::bad_request(messages::json_too_deep(cap.max_depth)).into_response();
    }
    // RFC 8259 §4 leaves repeated names to the reader; serde keeps the last, so refuse them.
    if let Some(member) = keyward_jose::json::first_duplicate_member(&bytes) {
        return ApiError::bad_request(messages::json_duplicate_member(&member)).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

// ---- brute force -------------------------------------------------------------------------------

/// What the token check of one request found; set by the `Caller` extractor, read by
/// [`brute_force`].
#[derive(Clone, Default)]
pub struct AuthOutcome(Arc<AtomicU8>);

impl AuthOutcome {
    const ACCEPTED: u8 = 1;
    const REJECTED: u8 = 2;

    pub fn accepted(&self) {
        self.0.store(Self::ACCEPTED, Ordering::Relaxed);
    }

    /// A token was presented and refused (unknown, expired or revoked).
    pub fn rejected(&self) {
        self.0.store(Self::REJECTED, Ordering::Relaxed);
    }

    fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The address a client is counted under: IPv4 as is, IPv6 by its /64 (one subscriber's usual
/// allotment), IPv4-mapped IPv6 as IPv4.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, also with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:443`) or in brackets (`[2001:db8::1]`); anything else is `None`.
fn forwarded_hop(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    let ip = e
        .parse::<IpAddr>()
        .ok()
        .or_else(|| e.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            e.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<Ipv6Addr>()
                .ok()
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

/// The client of a request. The peer, unless it is a trusted proxy; then `X-Forwarded-For` is
/// read entry by entry from the right (each proxy appends the address it was reached from):
///
/// - a trusted proxy is skipped;
/// - the first valid address that is not a trusted proxy is the client;
/// - an entry that is not an address (or a header line that is not text) is untrusted: the walk
///   stops there and the client is the nearest hop on its right — the trusted proxy that reported
///   it (or the peer) — since nothing left of it can be believed;
/// - empty entries (`a,,b`) are skipped (RFC 9110 §5.6.1);
/// - when every entry is a trusted proxy, the left-most one is the client.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(peer) {
        return peer;
    }
    let mut nearest = peer;
    let lines: Vec<&HeaderValue> = headers.get_all("x-forwarded-for").iter().collect();
    for line in lines.into_iter().rev() {
        let Ok(text) = line.to_str() else {
            return nearest;
        };
        for entry in text.rsplit(',') {
            if entry.trim().is_empty() {
                continue;
            }
            let Some(hop) = forwarded_hop(entry) else {
                return nearest;
            };
            if !is_trusted(hop) {
                return hop;
            }
            nearest = hop;
        }
    }
    nearest
}

#[derive(Debug, Clone)]
struct Entry {
    /// Failures in the current window (before any lockout).
    failures: u32,
    window_start: Instant,
    /// Lockouts in a row; 0: none yet, or forgiven.
    level: u32,
    locked_until: Option<Instant>,
    last_seen: Instant,
    /// Password checks under way, each counted as a failure until it is settled.
    in_flight: u32,
}

impl Entry {
    fn fresh(now: Instant) -> Entry {
        Entry {
            failures: 0,
            window_start: now,
            level: 0,
            locked_until: None,
            last_seen: now,
            in_flight: 0,
        }
    }

    /// Whether nothing needs remembering (the entry can go).
    fn empty(&self, now: Instant) -> bool {
        self.failures == 0
            && self.level == 0
            && self.in_flight == 0
            && self.lock_left(now).is_none()
    }

    /// Counts a failure; answers how long the address is locked, if it now is.
    fn fail(&mut self, cfg: &BruteForce, now: Instant) -> Option<Duration> {
        if let Some(left) = self.lock_left(now) {
            // Refused anyway; a lockout in force is not lengthened.
            return Some(left);
        }
        if self.in_flight == 0 && self.stale(now, cfg.window) {
            *self = Entry::fresh(now);
        }
        if self.level > 0 {
            // On probation after a lockout: every failure locks again, twice as long.
            self.level += 1;
            let lock = backoff(cfg, self.level);
            self.locked_until = Some(now + lock);
            return Some(lock);
        }
        if now.duration_since(self.window_start) >= cfg.window {
            self.failures = 0;
            self.window_start = now;
        }
        self.failures += 1;
        if self.failures >= cfg.max_failures {
            self.failures = 0;
            self.level = 1;
            self.locked_until = Some(now + cfg.lockout);
            return Some(cfg.lockout);
        }
        None
    }

    fn lock_left(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|u| *u > now)
            .map(|u| u.duration_since(now))
    }

    /// Whether the entry holds nothing worth keeping at `now`.
    fn stale(&self, now: Instant, window: Duration) -> bool {
        if self.in_flight > 0 {
            return false;
        }
        match self.locked_until {
            Some(u) => now >= u && now.duration_since(u) >= window,
            None => now.duration_since(self.window_start) >= window,
        }
    }
}

/// Failed credentials per client address, bounded in memory.
pub struct Throttle {
    cfg: BruteForce,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl Throttle {
    pub fn new(cfg: BruteForce) -> Throttle {
        Throttle {
            cfg,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.cfg.max_failures > 0
    }

    /// How long the address stays locked, if it is.
    pub fn locked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let entries = self.entries.lock().ok()?;
        entries.get(&address_key(ip))?.lock_left(now)
    }

    /// Counts a failure; answers how long the address is locked, if it now is.
    pub fn failure(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        self.settle(ip, now, false, Outcome::Failed)
    }

    /// A success from the address: the next lockout is again the first of the schedule. A lockout
    /// in force stays, and so does the count of failures in the current window (see SECURITY.md).
    pub fn success(&self, ip: IpAddr, now: Instant) {
        self.settle(ip, now, false, Outcome::Succeeded);
    }

    /// Reserves one password check for the address *before* it runs: it counts as a failure
    /// until [`Throttle::settle`]d, so N concurrent guesses cannot get past the lockout — at
    /// most as many checks run as failures are left before it (one while on probation).
    /// `Err`: how long to wait (the lockout in force, or 1 s while the allowance is used up).
    pub fn reserve(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = address_key(ip);
        // A poisoned lock: refuse rather than check passwords unguarded.
        let Ok(mut entries) = self.entries.lock() else {
            return Err(Duration::from_secs(1));
        };
        if !entries.contains_key(&key) && entries.len() >= self.cfg.max_tracked.max(1) {
            self.make_room(&mut entries, now);
        }
        let cfg = &self.cfg;
        let e = entries.entry(key).or_insert_with(|| Entry::fresh(now));
        e.last_seen = now;
        if let Some(left) = e.lock_left(now) {
            return Err(left);
        }
        if e.stale(now, cfg.window) {
            *e = Entry::fresh(now);
        }
        if e.level == 0 && now.duration_since(e.window_start) >= cfg.window {
            e.failures = 0;
            e.window_start = now;
        }
        let allowed = if e.level > 0 {
            1
        } else {
            cfg.max_failures.saturating_sub(e.failures)
        };
        if e.in_flight >= allowed {
            return Err(Duration::from_secs(1));
        }
        e.in_flight += 1;
        Ok(())
    }

    /// Settles an attempt under one lock: releases its reservation (if `reserved`) and counts
    /// its outcome, so no other attempt slips in between. Answers how long the address is
    /// locked when a failure locked it.
    pub fn settle(
        &self,
        ip: IpAddr,
        now: Instant,
        reserved: bool,
        outcome: Outcome,
    ) -> Option<Duration> {
        let key = address_key(ip);
        let mut entries = self.entries.lock().ok()?;
        if outcome == Outcome::Failed
            && !entries.contains_key(&key)
            && entries.len() >= self.cfg.max_tracked.max(1)
        {
            self.make_room(&mut entries, now);
        }
        let e = match outcome {
            Outcome::Failed => entries.entry(key).or_insert_with(|| Entry::fresh(now)),
            _ => entries.get_mut(&key)?,
        };
        if reserved {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
        let lock = match outcome {
            Outcome::Failed => {
                e.last_seen = now;
                e.fail(&self.cfg, now)
            }
            Outcome::Succeeded => {
                e.level = 0;
                None
            }
            Outcome::Neither => None,
        };
        if e.empty(now) {
            entries.remove(&key);
        }
        lock
    }

    /// Drops stale entries, then the least recently seen ones, until one more fits.
    fn make_room(&self, entries: &mut HashMap<IpAddr, Entry>, now: Instant) {
        let max = self.cfg.max_tracked.max(1);
        entries.retain(|_, e| !e.stale(now, self.cfg.window));
        while entries.len() >= max {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(k, _)| *k)
            else {
                break;
            };
            entries.remove(&oldest);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

/// The lockout of the `level`-th lockout in a row: `lockout · 2^(level-1)`, at most `lockout_max`.
fn backoff(cfg: &BruteForce, level: u32) -> Duration {
    let factor = 2u32.saturating_pow(level.saturating_sub(1).min(31));
    cfg.lockout.saturating_mul(factor).min(cfg.lockout_max)
}

/// How an authentication attempt ended, for [`Throttle::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failed,
    Succeeded,
    /// Neither (a malformed request, a busy server, a fault): it does not count.
    Neither,
}

/// What [`brute_force`] needs.
pub struct Guard {
    pub throttle: Throttle,
    pub trusted_proxies: Vec<Cidr>,
    pub overload: Arc<Overload>,
}

/// A password check reserved with [`Throttle::reserve`]; released uncounted if the request is
/// dropped before it settles (a timeout, a closed connection).
struct Reservation {
    guard: Arc<Guard>,
    ip: IpAddr,
    open: bool,
}

impl Reservation {
    fn settle(mut self, outcome: Outcome) -> Option<Duration> {
        self.open = false;
        self.guard
            .throttle
            .settle(self.ip, Instant::now(), true, outcome)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.open {
            self.guard
                .throttle
                .settle(self.ip, Instant::now(), true, Outcome::Neither);
        }
    }
}

fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .is_some_and(|(scheme, rest)| {
            scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty()
        })
}

fn is_token_endpoint(req: &Request) -> bool {
    req.method() == Method::POST && req.uri().path().trim_end_matches('/') == "/apiops/auth/token"
}

fn locked_out(wait: Duration) -> Response {
    with_retry_after(
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: messages::too_many_failures(wait),
        },
        wait,
    )
}

/// Counts failed credentials per client address and refuses a locked address: its
/// `POST /apiops/auth/token` is answered 429 without looking at the password, and so is any
/// request whose bearer token fails. Requests with a valid token pass (SECURITY.md says why).
pub async fn brute_force(
    State(guard): State<Arc<Guard>>,
    mut req: Request,
    next: Next,
) -> Response {
    if !guard.throttle.enabled() {
        return next.run(req).await;
    }
    let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0.ip())
    else {
        return next.run(req).await;
    };
    let token_endpoint = is_token_endpoint(&req);
    if !token_endpoint && !has_bearer(req.headers()) {
        return next.run(req).await;
    }
    let ip = client_ip(peer, req.headers(), &guard.trusted_proxies);
    // A password check is reserved before it runs (counted as a failure until it settles).
    let reservation = if token_endpoint {
        match guard.throttle.reserve(ip, Instant::now()) {
            Ok(()) => Some(Reservation {
                guard: guard.clone(),
                ip,
                open: true,
            }),
            Err(wait) => {
                guard.overload.note(Refusal::Lockout);
                return locked_out(wait);
            }
        }
    } else {
        None
    };
    let outcome = AuthOutcome::default();
    req.extensions_mut().insert(outcome.clone());
    let resp = next.run(req).await;
    let result = if token_endpoint {
        if resp.status() == StatusCode::UNAUTHORIZED {
            Outcome::Failed
        } else if resp.status().is_success() {
            Outcome::Succeeded
        } else {
            Outcome::Neither
        }
    } else {
        match outcome.get() {
            AuthOutcome::REJECTED => Outcome::Failed,
            AuthOutcome::ACCEPTED => Outcome::Succeeded,
            _ => Outcome::Neither,
        }
    };
    let lock = match reservation {
        Some(r) => r.settle(result),
        None if result == Outcome::Neither => None,
        None => guard.throttle.settle(ip, Instant::now(), false, result),
    };
    match lock {
        Some(wait) if result == Outcome::Failed => {
            guard.overload.note(Refusal::Lockout);
            locked_out(wait)
        }
        _ => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BruteForce {
        BruteForce {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
            lockout_max: Duration::from_secs(35),
            max_tracked: 4,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn json_depth_counts_brackets_outside_strings() {
        assert!(!json_too_deep(br#"{"a":[1,{"b":[]}]}"#, 4));
        assert!(json_too_deep(br#"{"a":[1,{"b":[]}]}"#, 3));
        assert!(!json_too_deep(br#"{"a":"[[[[[[[[[[{{{{{{"}"#, 1));
        assert!(!json_too_deep(br#"{"a":"\"[[[[[[\\"}"#, 1));
        let deep = "[".repeat(65) + &"]".repeat(65);
        assert!(json_too_deep(deep.as_bytes(), 64));
        assert!(!json_too_deep(deep.as_bytes(), 65));
    }

    #[test]
    fn schedule_locks_after_max_failures_then_doubles_up_to_the_cap() {
        let t = Throttle::new(cfg());
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        assert_eq!(t.failure(a, t0), None);
        assert_eq!(t.failure(a, t0), None);
        assert_eq!(t.failure(a, t0), Some(Duration::from_secs(10)));
        assert_eq!(t.locked(a, t0), Some(Duration::from_secs(10)));
        // Failures while locked neither count nor lengthen the lockout.
        assert_eq!(
            t.failure(a, t0 + Duration::from_secs(5)),
            Some(Duration::from_secs(5))
        );
        // Probation: each failure locks again, doubled: 20 s, then 35 s (the cap).
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(t.locked(a, t1), None);
        assert_eq!(t.failure(a, t1), Some(Duration::from_secs(20)));
        let t2 = t1 + Duration::from_secs(21);
        assert_eq!(t.failure(a, t2), Some(Duration::from_secs(35)));
        let t3 = t2 + Duration::from_secs(36);
        assert_eq!(t.failure(a, t3), Some(Duration::from_secs(35)));
        // A quiet window after the lockout forgives everything.
        let t4 = t3 + Duration::from_secs(35 + 60);
        assert_eq!(t.failure(a, t4), None);
        // Other addresses are not affected.
        assert_eq!(t.locked(ip("192.0.2.2"), t1), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = Throttle::new(cfg());
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        assert_eq!(t.failure(a, t0), None);
        assert_eq!(t.failure(a, t0), None);
        assert_eq!(t.failure(a, t0 + Duration::from_secs(61)), None);
        assert_eq!(t.failure(a, t0 + Duration::from_secs(62)), None);
        assert!(t.failure(a, t0 + Duration::from_secs(63)).is_some());
    }

    #[test]
    fn success_resets_the_level_but_not_a_lockout_in_force() {
        let t = Throttle::new(cfg());
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        for _ in 0..3 {
            t.failure(a, t0);
        }
        t.success(a, t0);
        assert!(
            t.locked(a, t0).is_some(),
            "a success does not lift a lockout"
        );
        let t1 = t0 + Duration::from_secs(11);
        // Level reset: the next lockout needs max_failures again and is the first of the schedule.
        assert_eq!(t.failure(a, t1), None);
        assert_eq!(t.failure(a, t1), None);
        assert_eq!(t.failure(a, t1), Some(Duration::from_secs(10)));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let t = Throttle::new(cfg());
        let t0 = Instant::now();
        t.failure(ip("2001:db8:1:2::1"), t0);
        t.failure(ip("2001:db8:1:2::ffff"), t0);
        assert!(t.failure(ip("2001:db8:1:2:3:4:5:6"), t0).is_some());
        assert!(t.locked(ip("2001:db8:1:3::1"), t0).is_none());
        t.failure(ip("::ffff:192.0.2.9"), t0);
        t.failure(ip("192.0.2.9"), t0);
        assert!(t.failure(ip("::ffff:192.0.2.9"), t0).is_some());
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_go_first() {
        let t = Throttle::new(cfg());
        let t0 = Instant::now();
        for i in 0..10u8 {
            t.failure(
                IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i)),
                t0 + Duration::from_millis(i.into()),
            );
            assert!(t.tracked() <= 4);
        }
        // The newest are still counted; the oldest were forgotten.
        let newest = ip("198.51.100.9");
        let later = t0 + Duration::from_millis(20);
        t.failure(newest, later);
        assert!(t.failure(newest, later).is_some());
        assert!(t.entries.lock().unwrap().get(&ip("198.51.100.0")).is_none());
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 198.51.100.1, 10.0.0.2"),
        );
        assert_eq!(client_ip(ip("192.0.2.1"), &h, &trusted), ip("192.0.2.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("198.51.100.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &[]), ip("10.0.0.1"));
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.1"));
    }

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forwarded_for_is_read_entry_by_entry_from_the_right() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = ip("10.0.0.1");
        let client = |values: &[&'static str]| client_ip(proxy, &xff(values), &trusted);
        // Trusted hops are skipped; the first untrusted address is the client.
        assert_eq!(
            client(&["203.0.113.7, 10.0.0.3, 10.0.0.2"]),
            ip("203.0.113.7")
        );
        // An unparsable entry left of the client does not matter any more.
        assert_eq!(
            client(&["garbage, 203.0.113.7, 10.0.0.2"]),
            ip("203.0.113.7")
        );
        // An unparsable entry where the client should be: the proxy that reported it is the
        // client (nothing left of it is believed), not the whole header ignored.
        assert_eq!(client(&["198.51.100.1, garbage, 10.0.0.2"]), ip("10.0.0.2"));
        assert_eq!(client(&["198.51.100.1, unknown"]), proxy);
        // Ports and brackets are read; IPv4-mapped IPv6 counts as IPv4.
        assert_eq!(client(&["203.0.113.7:4711"]), ip("203.0.113.7"));
        assert_eq!(client(&["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(client(&["[2001:db8::2]"]), ip("2001:db8::2"));
        assert_eq!(client(&["::ffff:203.0.113.9"]), ip("203.0.113.9"));
        // Empty entries are skipped (RFC 9110 §5.6.1).
        assert_eq!(client(&["203.0.113.7,, ,10.0.0.2,"]), ip("203.0.113.7"));
        // Several header lines are one list, in order.
        assert_eq!(
            client(&["198.51.100.1", "203.0.113.7, 10.0.0.2"]),
            ip("203.0.113.7")
        );
        assert_eq!(client(&["198.51.100.1", "10.0.0.2"]), ip("198.51.100.1"));
        // Only trusted hops: the left-most one.
        assert_eq!(client(&["10.0.0.5, 10.0.0.2"]), ip("10.0.0.5"));
        // No header: the peer.
        assert_eq!(client(&[]), proxy);
        // A line that is not text is untrusted too.
        let mut h = xff(&["198.51.100.1"]);
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff203.0.113.7").unwrap(),
        );
        assert_eq!(client_ip(proxy, &h, &trusted), proxy);
    }

    #[test]
    fn password_checks_are_reserved_before_they_run() {
        let t = Throttle::new(cfg());
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        // max_failures 3: three checks may run at once, the fourth waits.
        for _ in 0..3 {
            assert_eq!(t.reserve(a, t0), Ok(()));
        }
        assert_eq!(t.reserve(a, t0), Err(Duration::from_secs(1)));
        // A success gives its reservation back.
        assert_eq!(t.settle(a, t0, true, Outcome::Succeeded), None);
        assert_eq!(t.reserve(a, t0), Ok(()));
        // Three failures lock: no fourth check ever ran.
        assert_eq!(t.settle(a, t0, true, Outcome::Failed), None);
        assert_eq!(t.settle(a, t0, true, Outcome::Failed), None);
        assert_eq!(
            t.settle(a, t0, true, Outcome::Failed),
            Some(Duration::from_secs(10))
        );
        assert_eq!(t.reserve(a, t0), Err(Duration::from_secs(10)));
        // On probation one check at a time.
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(t.reserve(a, t1), Ok(()));
        assert_eq!(t.reserve(a, t1), Err(Duration::from_secs(1)));
        // An attempt that ends in neither way is released uncounted.
        assert_eq!(t.settle(a, t1, true, Outcome::Neither), None);
        assert_eq!(t.reserve(a, t1), Ok(()));
        assert_eq!(
            t.settle(a, t1, true, Outcome::Failed),
            Some(Duration::from_secs(20))
        );
    }

    #[test]
    fn overload_counts_until_reported() {
        let o = Overload::default();
        assert!(o.take().is_none());
        o.note(Refusal::Busy);
        o.note(Refusal::Busy);
        o.note(Refusal::AcceptError);
        let c = o.take().unwrap();
        assert_eq!(c[Refusal::Busy as usize], 2);
        assert_eq!(c[Refusal::AcceptError as usize], 1);
        assert!(o.take().is_none());
    }
}
