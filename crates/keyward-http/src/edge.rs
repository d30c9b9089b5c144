//! The edge: limits every request passes through before a handler sees it, and brute-force
//! protection of credentials (SECURITY.md, "The edge").
//!
//! - a cap on requests in flight (over it: 503 with `Retry-After`, at once, never a queue);
//! - a time limit on each request (over it: 503; the handler is stopped);
//! - a nesting cap on JSON bodies, checked on the raw bytes before any deserialiser runs;
//! - per client address, a count of failed credentials (`POST /apiops/auth/token` answered 401, a
//!   bearer token that is unknown, expired or revoked) with an exponential lockout ([`Throttle`]).
//!
//! The multipart part cap is applied where forms are read (`routes/file_import.rs`). Every refusal
//! leaves as the error envelope.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
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
    /// Most requests in flight at once on this node.
    pub max_concurrent: usize,
    /// Lockout of addresses that keep failing to authenticate.
    pub brute_force: BruteForce,
    /// Peers whose `X-Forwarded-For` names the client (empty: the peer is the client).
    pub trusted_proxies: Vec<Cidr>,
    /// Whether the server speaks TLS itself (adds `Strict-Transport-Security`).
    pub tls: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_parts: 16,
            json_max_depth: 64,
            request_timeout: Duration::from_secs(30),
            max_concurrent: 256,
            brute_force: BruteForce::default(),
            trusted_proxies: Vec::new(),
            tls: false,
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

/// The connection's peer address, as `ConnectInfo` of plain and TLS listeners.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, crate::tls::TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, crate::tls::TlsListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

// ---- in flight and time ------------------------------------------------------------------------

/// Requests in flight and their time limit.
pub struct Capacity {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Capacity {
    pub fn new(limits: &Limits) -> Capacity {
        Capacity {
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            timeout: limits.request_timeout,
        }
    }
}

/// Refuses a request at once when `max_concurrent` are in flight; stops one that runs longer
/// than `request_timeout`.
pub async fn capacity(State(cap): State<Arc<Capacity>>, req: Request, next: Next) -> Response {
    let Ok(_permit) = cap.permits.clone().try_acquire_owned() else {
        tracing::warn!("request refused: too many requests in flight");
        return with_retry_after(
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: messages::OVERLOADED.to_owned(),
            },
            Duration::from_secs(1),
        );
    };
    match tokio::time::timeout(cap.timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(
                timeout_ms = cap.timeout.as_millis() as u64,
                "request stopped: it ran out of time"
            );
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: messages::request_timeout(cap.timeout),
            }
            .into_response()
        }
    }
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
fn address_key(ip: IpAddr) -> IpAddr {
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

/// The client of a request: the peer, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` address that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|h| h.parse::<IpAddr>().map(|ip| ip.to_canonical()))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client
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
}

impl Entry {
    fn fresh(now: Instant) -> Entry {
        Entry {
            failures: 0,
            window_start: now,
            level: 0,
            locked_until: None,
            last_seen: now,
        }
    }

    fn lock_left(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|u| *u > now)
            .map(|u| u.duration_since(now))
    }

    /// Whether the entry holds nothing worth keeping at `now`.
    fn stale(&self, now: Instant, window: Duration) -> bool {
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
        let key = address_key(ip);
        let mut entries = self.entries.lock().ok()?;
        if !entries.contains_key(&key) && entries.len() >= self.cfg.max_tracked.max(1) {
            self.make_room(&mut entries, now);
        }
        let cfg = &self.cfg;
        let e = entries.entry(key).or_insert_with(|| Entry::fresh(now));
        e.last_seen = now;
        if let Some(left) = e.lock_left(now) {
            // Refused anyway; a lockout in force is not lengthened.
            return Some(left);
        }
        if e.stale(now, cfg.window) {
            *e = Entry::fresh(now);
        }
        if e.level > 0 {
            // On probation after a lockout: every failure locks again, twice as long.
            e.level += 1;
            let lock = backoff(cfg, e.level);
            e.locked_until = Some(now + lock);
            return Some(lock);
        }
        if now.duration_since(e.window_start) >= cfg.window {
            e.failures = 0;
            e.window_start = now;
        }
        e.failures += 1;
        if e.failures >= cfg.max_failures {
            e.failures = 0;
            e.level = 1;
            e.locked_until = Some(now + cfg.lockout);
            return Some(cfg.lockout);
        }
        None
    }

    /// A success from the address: the next lockout is again the first of the schedule. A lockout
    /// in force stays, and so does the count of failures in the current window (see SECURITY.md).
    pub fn success(&self, ip: IpAddr, now: Instant) {
        let key = address_key(ip);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some(e) = entries.get_mut(&key) {
            e.level = 0;
            if e.failures == 0 && e.lock_left(now).is_none() {
                entries.remove(&key);
            }
        }
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

/// What [`brute_force`] needs.
pub struct Guard {
    pub throttle: Throttle,
    pub trusted_proxies: Vec<Cidr>,
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
    let now = Instant::now();
    if token_endpoint && let Some(wait) = guard.throttle.locked(ip, now) {
        tracing::warn!(client = %ip, "credentials refused: the address is locked out");
        return locked_out(wait);
    }
    let outcome = AuthOutcome::default();
    req.extensions_mut().insert(outcome.clone());
    let resp = next.run(req).await;
    let failed = if token_endpoint {
        resp.status() == StatusCode::UNAUTHORIZED
    } else {
        outcome.get() == AuthOutcome::REJECTED
    };
    let succeeded = if token_endpoint {
        resp.status().is_success()
    } else {
        outcome.get() == AuthOutcome::ACCEPTED
    };
    let now = Instant::now();
    if failed {
        if let Some(wait) = guard.throttle.failure(ip, now) {
            tracing::warn!(client = %ip, retry_after_ms = wait.as_millis() as u64, "authentication failures: the address is locked out");
            return locked_out(wait);
        }
    } else if succeeded {
        guard.throttle.success(ip, now);
    }
    resp
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
}
