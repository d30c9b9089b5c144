//! Accepting connections (SECURITY.md, "Connections"): the node holds at most
//! `--max-connections` (lowered to fit the open-files limit) and one client address at most
//! `--max-connections-per-address`; a connection over either cap is closed at once. Each
//! connection runs in a task of its own with a watchdog that closes it when
//!
//! - a request head is not complete `--header-read-timeout` after its first byte (or, for the
//!   first request, after the connection was made): slowloris;
//! - a keep-alive connection stays silent `--idle-timeout` between two requests;
//! - a request in progress sees no byte read or written for `--request-timeout` +
//!   `--header-read-timeout` (a client that never reads its answer);
//! - over TLS, the handshake takes longer than `--tls-handshake-timeout`.
//!
//! The request body has its own deadline in the router (`edge::body_deadline`). `accept` errors
//! (out of file descriptors) are counted and waited out, never fatal. On shutdown the listener
//! closes, idle connections close, and busy ones finish their request first.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

use crate::AppState;
use crate::edge::{Limits, Overload, PeerAddr, Refusal, address_key};
use crate::fetch::Cidr;

/// Open files kept free for everything but client connections: the database, outgoing fetches
/// (at most one per request in flight), logs, TLS and key files.
const FD_RESERVE: u64 = 128;

/// The soft limit on open files of this process (`ulimit -n`), where the system tells it
/// (Linux: `/proc/self/limits`).
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The connection cap: `wanted`, lowered so that connections leave `FD_RESERVE` + one file
/// per request in flight free below the open-files limit (never below 16 for that).
pub fn connection_budget(wanted: usize, max_concurrent: usize, open_files: Option<u64>) -> usize {
    let Some(limit) = open_files else {
        return wanted.max(1);
    };
    let reserve = FD_RESERVE.saturating_add(max_concurrent as u64);
    let fits = usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    wanted.min(fits.max(16)).max(1)
}

/// Serves until `shutdown` completes, then drains; over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = Arc::new(state.config.limits.clone());
    let overload = state.overload.clone();
    let open_files = open_files_limit();
    let max_connections =
        connection_budget(limits.max_connections, limits.max_concurrent, open_files);
    if max_connections < limits.max_connections {
        tracing::warn!(
            open_files_limit = open_files,
            max_connections,
            "the open-files limit (ulimit -n) lowers the connection cap; raise it to hold more"
        );
    }
    tracing::info!(
        max_connections,
        max_connections_per_address = limits.max_connections_per_address,
        "connection caps"
    );
    let table = Arc::new(Table {
        total: AtomicUsize::new(0),
        max_total: max_connections,
        max_per_address: limits.max_connections_per_address,
        per_address: Mutex::new(std::collections::HashMap::new()),
        trusted: limits.trusted_proxies.clone(),
    });
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let publisher = state.publisher.clone();
    let summary = state.audit_summary.clone();
    let store = state.store.clone();
    let app = crate::app(state);
    // One log line a second at most for everything the edge refused.
    let reporter = {
        let overload = overload.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                overload.report();
            }
        })
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (drain_tx, mut drain_rx) = mpsc::channel::<Infallible>(1);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(_) => {
                // Out of file descriptors and the like: wait, never spin, never stop accepting.
                overload.note(Refusal::AcceptError);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ticket = match table.admit(peer.ip()) {
            Ok(t) => t,
            Err(refusal) => {
                overload.note(refusal);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            ticket,
            acceptor.clone(),
            app.clone(),
            limits.clone(),
            overload.clone(),
            stop_rx.clone(),
            drain_tx.clone(),
        ));
    }
    // Long polls end as soon as the stop is asked for, so they do not hold the drain.
    publisher.close();
    drop(listener);
    let _ = stop_tx.send(true);
    drop(drain_tx);
    // Every connection task holds a sender: `None` once the last one ended.
    let _ = drain_rx.recv().await;
    summary.flush(&store).await;
    reporter.abort();
    overload.report();
    Ok(())
}

/// Open connections, in total and per client address.
struct Table {
    total: AtomicUsize,
    max_total: usize,
    max_per_address: usize,
    per_address: Mutex<std::collections::HashMap<IpAddr, usize>>,
    trusted: Vec<Cidr>,
}

/// A connection's place in the [`Table`], given back when dropped.
struct Ticket {
    table: Arc<Table>,
    address: Option<IpAddr>,
}

impl Table {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Connections);
        }
        let mut ticket = Ticket {
            table: self.clone(),
            address: None,
        };
        // A trusted proxy carries many clients: only the node's cap applies to it.
        let ip = ip.to_canonical();
        if self.max_per_address == 0 || self.trusted.iter().any(|c| c.contains(ip)) {
            return Ok(ticket);
        }
        let key = address_key(ip);
        let Ok(mut map) = self.per_address.lock() else {
            return Err(Refusal::AddressConnections);
        };
        let held = map.entry(key).or_insert(0);
        if *held >= self.max_per_address {
            return Err(Refusal::AddressConnections);
        }
        *held += 1;
        ticket.address = Some(key);
        Ok(ticket)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.table.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(key) = self.address
            && let Ok(mut map) = self.table.per_address.lock()
            && let Some(held) = map.get_mut(&key)
        {
            *held -= 1;
            if *held == 0 {
                map.remove(&key);
            }
        }
    }
}

/// What the watchdog of one connection watches; times in milliseconds since `epoch`, plus one
/// (0: never).
struct Activity {
    epoch: Instant,
    /// Requests whose answer has not been sent in full.
    active: AtomicU32,
    /// No request yet (the first head is due `--header-read-timeout` after the connection).
    fresh: AtomicBool,
    last_io: AtomicU64,
    idle_since: AtomicU64,
    /// The first byte of a head being read while idle.
    head_from: AtomicU64,
    /// Wakes the watchdog when the deadline may have moved earlier (a request ended, a head
    /// began).
    moved: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Arc<Activity> {
        let a = Activity {
            epoch: Instant::now(),
            active: AtomicU32::new(0),
            fresh: AtomicBool::new(true),
            last_io: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_from: AtomicU64::new(0),
            moved: tokio::sync::Notify::new(),
        };
        a.restart();
        Arc::new(a)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// The clocks start again (after a TLS handshake: the first head is due from here).
    fn restart(&self) {
        let now = self.now();
        self.idle_since.store(now, Ordering::Release);
        self.last_io.store(now, Ordering::Release);
        self.head_from.store(0, Ordering::Release);
    }

    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Release);
        if self.active.load(Ordering::Acquire) == 0
            && self
                .head_from
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.moved.notify_one();
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Release);
    }

    /// A head was read in full: a request begins.
    fn begin(self: &Arc<Self>) -> InProgress {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.fresh.store(false, Ordering::Release);
        self.head_from.store(0, Ordering::Release);
        InProgress(self.clone())
    }

    /// When the connection must close, in this type's milliseconds.
    fn deadline(&self, limits: &Limits) -> u64 {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4);
        if self.active.load(Ordering::Acquire) > 0 {
            let stall = limits.request_timeout + limits.header_read_timeout;
            return self
                .last_io
                .load(Ordering::Acquire)
                .saturating_add(ms(stall));
        }
        let head_from = self.head_from.load(Ordering::Acquire);
        let idle_since = self.idle_since.load(Ordering::Acquire);
        if self.fresh.load(Ordering::Acquire) {
            return idle_since.saturating_add(ms(limits.header_read_timeout));
        }
        if head_from > 0 {
            // A head under way: due a head read time after its first byte (and never later
            // than the idle limit would close a silent connection plus that time).
            return head_from.saturating_add(ms(limits.header_read_timeout));
        }
        idle_since.saturating_add(ms(limits.idle_timeout))
    }

    /// Resolves when the connection has outlived its deadline.
    async fn watchdog(&self, limits: &Limits) {
        loop {
            let deadline = self.deadline(limits);
            let now = self.now();
            if now >= deadline {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(deadline - now)) => {}
                () = self.moved.notified() => {}
            }
        }
    }
}

/// A request in progress on its connection; ends when dropped (its answer's body sent in full,
/// or the request abandoned).
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let now = self.0.now();
        self.0.idle_since.store(now, Ordering::Release);
        self.0.head_from.store(0, Ordering::Release);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        self.0.moved.notify_one();
    }
}

/// An answer's body that keeps its request [`InProgress`] until hyper has sent and dropped it.
struct Answer {
    body: Body,
    _request: InProgress,
}

impl HttpBody for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A stream that tells its [`Activity`] about every byte read or written.
struct Watched<S> {
    io: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

type App = tower_http::normalize_path::NormalizePath<axum::Router>;

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: App,
    limits: Arc<Limits>,
    overload: Arc<Overload>,
    mut stop: watch::Receiver<bool>,
    _drain: mpsc::Sender<Infallible>,
) {
    let _ticket = ticket;
    let activity = Activity::new();
    let io = Watched {
        io: stream,
        activity: activity.clone(),
    };
    match tls {
        None => drive(io, peer, app, activity, &limits, &overload, stop).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(io));
            let tls = tokio::select! {
                r = handshake => r,
                _ = stop.changed() => return,
            };
            match tls {
                Ok(Ok(tls)) => {
                    activity.restart();
                    drive(tls, peer, app, activity, &limits, &overload, stop).await
                }
                Ok(Err(e)) => tracing::debug!(client = %peer, error = %e, "TLS handshake failed"),
                Err(_) => overload.note(Refusal::ConnectionTimeout),
            }
        }
    }
}

/// Serves HTTP/1.1 on one connection until it ends, its watchdog fires, or the server stops.
async fn drive<I>(
    io: I,
    peer: SocketAddr,
    app: App,
    activity: Arc<Activity>,
    limits: &Limits,
    overload: &Overload,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_progress = requests.begin();
        let mut req: Request = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
        let app = app.clone();
        async move {
            let resp: Response = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(resp.map(|body| Answer {
                body,
                _request: in_progress,
            }))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        // The watchdog keeps the time of heads and idle connections (hyper's own header timer
        // would also run while a keep-alive connection is idle).
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let watchdog = activity.watchdog(limits);
    tokio::pin!(watchdog);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(client = %peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut watchdog => {
                // Dropping the connection closes it.
                overload.note(Refusal::ConnectionTimeout);
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_room_below_the_open_files_limit() {
        assert_eq!(connection_budget(10_000, 256, None), 10_000);
        assert_eq!(connection_budget(10_000, 256, Some(1_048_576)), 10_000);
        assert_eq!(connection_budget(10_000, 256, Some(1024)), 1024 - 128 - 256);
        assert_eq!(connection_budget(10_000, 256, Some(100)), 16);
        assert_eq!(connection_budget(8, 256, Some(100)), 8);
    }

    #[test]
    fn connections_are_capped_per_address_and_in_total() {
        let table = Arc::new(Table {
            total: AtomicUsize::new(0),
            max_total: 3,
            max_per_address: 2,
            per_address: Mutex::new(std::collections::HashMap::new()),
            trusted: vec!["10.0.0.0/8".parse().unwrap()],
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let t1 = table.admit(a).unwrap();
        let _t2 = table.admit(a).unwrap();
        assert!(matches!(table.admit(a), Err(Refusal::AddressConnections)));
        // A trusted proxy is exempt from the per-address cap, not from the node's.
        let _p = table.admit("10.0.0.1".parse().unwrap()).unwrap();
        assert!(matches!(
            table.admit("192.0.2.2".parse().unwrap()),
            Err(Refusal::Connections)
        ));
        drop(t1);
        let _t3 = table.admit(a).unwrap();
        assert_eq!(table.total.load(Ordering::Acquire), 3);
    }

    #[test]
    fn the_watchdog_deadline_follows_the_connection_state() {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            ..Limits::default()
        };
        let a = Activity::new();
        let start = a.idle_since.load(Ordering::Acquire);
        // A fresh connection: its first head is due a head read time after it was made.
        assert_eq!(a.deadline(&limits), start + 10_000);
        let r = a.begin();
        let io = a.last_io.load(Ordering::Acquire);
        assert_eq!(a.deadline(&limits), io + 40_000);
        drop(r);
        let idle = a.idle_since.load(Ordering::Acquire);
        assert_eq!(a.deadline(&limits), idle + 60_000);
        a.read();
        let head = a.head_from.load(Ordering::Acquire);
        assert_eq!(a.deadline(&limits), head + 10_000);
    }
}
