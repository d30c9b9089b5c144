//! The SSRF-safe HTTP client that fetches a JWK or JWK Set by URL (`sourceType: URL`).
//!
//! Policy (see [`FetchPolicy`]):
//! - `https` only, unless the server allows `http` (`--fetch-allow-http`).
//! - Every address the request would reach is vetted by [`classify`]: loopback, RFC 1918
//!   private, link-local (the cloud metadata address 169.254.169.254 included), CGNAT, multicast,
//!   unspecified, broadcast, reserved and documentation ranges, IPv6 loopback / ULA / link-local /
//!   site-local / multicast, and IPv4-mapped / IPv4-compatible / NAT64 IPv6 addresses are refused
//!   unless a CIDR of the server's allow-list (`--fetch-allow`) holds the address.
//! - Host names are resolved **once**, by the client's own resolver, which drops refused
//!   addresses; the connection goes to a vetted address only, so a second (rebinding) DNS answer
//!   is never consulted. IP-literal URLs do not reach a resolver and are checked before sending.
//! - At most [`MAX_REDIRECTS`] redirects, each hop's scheme and address re-checked.
//! - No proxy (`HTTP(S)_PROXY` can not route around the checks), connect / read / total
//!   timeouts, the body streamed and abandoned as soon as it exceeds the size limit.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 3;

/// An IPv4 or IPv6 network, `10.0.0.0/8` or `fd00::/8` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let mut bits = usize::from(prefix);
    for (n, i) in net.iter().zip(ip) {
        if bits == 0 {
            return true;
        }
        let take = bits.min(8);
        let mask: u8 = if take == 8 { 0xff } else { !(0xffu8 >> take) };
        if n & mask != i & mask {
            return false;
        }
        bits -= take;
    }
    true
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not a CIDR (e.g. 127.0.0.1/32, 10.0.0.0/8, ::1/128)");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The server's fetch policy.
#[derive(Debug, Clone, Default)]
pub struct FetchPolicy {
    /// Networks reachable although [`classify`] refuses them (e.g. `127.0.0.1/32` for tests).
    pub allow: Vec<Cidr>,
    /// Whether plain `http` URLs are fetched (off by default: `https` only).
    pub allow_http: bool,
}

impl FetchPolicy {
    /// `Err(reason)` when the address may not be reached.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        match classify(ip) {
            None => Ok(()),
            Some(why) => Err(format!("{ip} is {why}")),
        }
    }

    fn check_scheme(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_http => Ok(()),
            "http" => Err(format!(
                "{url} uses http; only https URLs are fetched by this server"
            )),
            other => Err(format!(
                "{url} uses the scheme {other}; only https URLs are fetched"
            )),
        }
    }

    /// Checks the scheme, and the address when the host is an IP literal.
    fn check_url(&self, url: &Url) -> Result<(), String> {
        self.check_scheme(url)?;
        let host = url.host_str().ok_or_else(|| format!("{url} has no host"))?;
        // The URL parser normalises IP literals (`2130706433`, `127.1` → `127.0.0.1`).
        match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => self.check(ip),
            Err(_) => Ok(()),
        }
    }
}

/// Why an address is refused, or `None` for an ordinary public address.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("an unspecified address (0.0.0.0/8)")
    } else if ip.is_loopback() {
        Some("a loopback address (127.0.0.0/8)")
    } else if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) {
        Some("a private address (RFC 1918)")
    } else if a == 169 && b == 254 {
        Some("a link-local address (169.254.0.0/16, cloud metadata included)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (CGNAT) address (100.64.0.0/10)")
    } else if (224..240).contains(&a) {
        Some("a multicast address (224.0.0.0/4)")
    } else if ip.is_broadcast() || a >= 240 {
        Some("a reserved address (240.0.0.0/4)")
    } else if a == 192 && b == 0 && c == 0 {
        Some("an IETF protocol assignment address (192.0.0.0/24)")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("a benchmarking address (198.18.0.0/15)")
    } else if (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        Some("a documentation address (RFC 5737)")
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        Some("the unspecified address (::)")
    } else if ip.is_loopback() {
        Some("the loopback address (::1)")
    } else if ip.to_ipv4_mapped().is_some() {
        Some("an IPv4-mapped IPv6 address (::ffff:0:0/96)")
    } else if s[..6] == [0; 6] {
        Some("an IPv4-compatible IPv6 address (::/96)")
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
    {
        Some("a NAT64 address (64:ff9b::/96)")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("a unique local address (fc00::/7)")
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some("a link-local address (fe80::/10)")
    } else if s[0] & 0xffc0 == 0xfec0 {
        Some("a site-local address (fec0::/10)")
    } else if s[0] & 0xff00 == 0xff00 {
        Some("a multicast address (ff00::/8)")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some("a documentation address (2001:db8::/32)")
    } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        Some("a discard-only address (100::/64)")
    } else if s[0] == 0x2002 {
        Some("a 6to4 address (2002::/16)")
    } else {
        None
    }
}

/// Per-request limits (the request's `urlOption*` values, already validated by the core).
pub use keyward_core::FetchLimits;

/// The core's [`keyward_core::Fetcher`]: [`fetch`] under the operator's policy.
pub struct PolicyFetcher {
    policy: Arc<FetchPolicy>,
}

impl PolicyFetcher {
    pub fn new(policy: FetchPolicy) -> PolicyFetcher {
        PolicyFetcher {
            policy: Arc::new(policy),
        }
    }
}

impl keyward_core::Fetcher for PolicyFetcher {
    fn fetch<'a>(&'a self, url: &'a str, limits: &'a FetchLimits) -> keyward_core::Fetching<'a> {
        Box::pin(async move {
            fetch(&self.policy, url, limits)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Why a fetch failed; `Display` is the sentence shown to the caller.
#[derive(Debug)]
pub enum FetchError {
    /// Not a URL, or a scheme/address the policy refuses.
    Refused(String),
    ConnectTimeout(Duration),
    ReadTimeout(Duration),
    TooLarge(usize),
    TooManyRedirects,
    Status(u16),
    NotJson(String),
    Failed(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Refused(why) => write!(f, "the address is refused: {why}"),
            FetchError::ConnectTimeout(d) => {
                write!(f, "no connection within {} ms", d.as_millis())
            }
            FetchError::ReadTimeout(d) => write!(
                f,
                "the server did not answer within {} ms (urlOptionReadTimeout)",
                d.as_millis()
            ),
            FetchError::TooLarge(limit) => write!(
                f,
                "the document is larger than {limit} bytes (urlOptionSizeLimit)"
            ),
            FetchError::TooManyRedirects => {
                write!(f, "more than {MAX_REDIRECTS} redirects")
            }
            FetchError::Status(s) => write!(f, "the server answered HTTP status {s}"),
            FetchError::NotJson(ct) => write!(
                f,
                "the server answered content type {ct}, not JSON (application/json or application/jwk-set+json)"
            ),
            FetchError::Failed(why) => write!(f, "{why}"),
        }
    }
}

/// What the resolver and the redirect policy refused, to explain the client's opaque error.
type Refusal = Arc<Mutex<Option<FetchError>>>;

fn note(slot: &Refusal, e: FetchError) {
    if let Ok(mut s) = slot.lock() {
        s.get_or_insert(e);
    }
}

fn take(slot: &Refusal) -> Option<FetchError> {
    slot.lock().ok().and_then(|mut s| s.take())
}

/// Resolves a host once and hands the client only the addresses the policy accepts.
struct GuardedResolver {
    policy: Arc<FetchPolicy>,
    refusal: Refusal,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let refusal = self.refusal.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| {
                    let e =
                        FetchError::Failed(format!("the host {host} can not be resolved ({e})"));
                    let text = e.to_string();
                    note(&refusal, e);
                    text
                })?
                .collect();
            let mut vetted = Vec::new();
            let mut refused = Vec::new();
            for a in found {
                match policy.check(a.ip()) {
                    Ok(()) => vetted.push(a),
                    Err(why) => refused.push(why),
                }
            }
            if vetted.is_empty() {
                let why = if refused.is_empty() {
                    format!("the host {host} has no address")
                } else {
                    format!("the host {host} resolves to {}", refused.join("; "))
                };
                note(&refusal, FetchError::Refused(why.clone()));
                return Err(why.into());
            }
            let addrs: Addrs = Box::new(vetted.into_iter());
            Ok(addrs)
        })
    }
}

/// The client of one fetch: the guarded resolver, the redirect checks, the request's timeouts.
fn client(
    policy: &Arc<FetchPolicy>,
    limits: &FetchLimits,
    refusal: &Refusal,
) -> Result<reqwest::Client, FetchError> {
    let redirect_policy = policy.clone();
    let redirect_refusal = refusal.clone();
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            note(&redirect_refusal, FetchError::TooManyRedirects);
            return attempt.error("too many redirects");
        }
        match redirect_policy.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(why) => {
                let why = format!("redirected to {}: {why}", attempt.url());
                note(&redirect_refusal, FetchError::Refused(why.clone()));
                attempt.error(why)
            }
        }
    });
    reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(GuardedResolver {
            policy: policy.clone(),
            refusal: refusal.clone(),
        })
        .redirect(redirects)
        .connect_timeout(limits.connect_timeout)
        .read_timeout(limits.read_timeout)
        .timeout(limits.connect_timeout + limits.read_timeout)
        .https_only(!policy.allow_http)
        .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Failed(format!("the HTTP client can not start ({e})")))
}

fn describe(e: &reqwest::Error, limits: &FetchLimits) -> FetchError {
    if e.is_timeout() {
        return if e.is_connect() {
            FetchError::ConnectTimeout(limits.connect_timeout)
        } else {
            FetchError::ReadTimeout(limits.read_timeout)
        };
    }
    if e.is_redirect() {
        return FetchError::TooManyRedirects;
    }
    // The innermost cause names the problem (connection refused, TLS, …).
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if e.is_connect() {
        "the connection failed"
    } else {
        "the request failed"
    };
    FetchError::Failed(format!("{what} ({cause})"))
}

/// Whether a `Content-Type` may carry a JWK (Set): JSON of any flavour, or none / text.
fn json_like(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime.is_empty()
        || mime.ends_with("/json")
        || mime.ends_with("+json")
        || mime == "text/plain"
        || mime == "application/octet-stream"
}

/// Fetches `url` under `policy` and `limits`; returns the body.
pub async fn fetch(
    policy: &Arc<FetchPolicy>,
    url: &str,
    limits: &FetchLimits,
) -> Result<Vec<u8>, FetchError> {
    let parsed = Url::parse(url.trim())
        .map_err(|e| FetchError::Refused(format!("{url} is not a valid URL ({e})")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(FetchError::Refused(
            "URLs with credentials are not fetched".to_owned(),
        ));
    }
    policy.check_url(&parsed).map_err(FetchError::Refused)?;
    let refusal: Refusal = Arc::new(Mutex::new(None));
    let client = client(policy, limits, &refusal)?;
    let mut resp = match client
        .get(parsed)
        .header(
            reqwest::header::ACCEPT,
            "application/jwk-set+json, application/json;q=0.9, */*;q=0.1",
        )
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Err(take(&refusal).unwrap_or_else(|| describe(&e, limits))),
    };
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !json_like(&content_type) {
        return Err(FetchError::NotJson(content_type));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > limits.size_limit as u64)
    {
        return Err(FetchError::TooLarge(limits.size_limit));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limits.size_limit {
                    return Err(FetchError::TooLarge(limits.size_limit));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(describe(&e, limits)),
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        classify(ip.parse().unwrap()).is_some()
    }

    #[test]
    fn every_internal_range_is_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "192.0.2.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            "2002:a00:1::1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ] {
            assert!(!refused(ip), "{ip} should pass");
        }
    }

    #[test]
    fn reasons_name_the_range() {
        let p = FetchPolicy::default();
        let why = p.check("169.254.169.254".parse().unwrap()).unwrap_err();
        assert!(
            why.contains("link-local") && why.contains("metadata"),
            "{why}"
        );
        let why = p.check("::ffff:10.0.0.1".parse().unwrap()).unwrap_err();
        assert!(why.contains("IPv4-mapped"), "{why}");
    }

    #[test]
    fn allow_list_overrides() {
        let p = FetchPolicy {
            allow: vec!["127.0.0.1/32".parse().unwrap(), "fd00::/8".parse().unwrap()],
            allow_http: false,
        };
        assert!(p.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check("127.0.0.2".parse().unwrap()).is_err());
        assert!(p.check("fd00::5".parse().unwrap()).is_ok());
        assert!(p.check("fe80::1".parse().unwrap()).is_err());
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.200.1.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        let c: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(c.contains("172.31.0.1".parse().unwrap()));
        assert!(!c.contains("172.32.0.1".parse().unwrap()));
        assert!(!c.contains("::ffff:172.16.0.1".parse().unwrap()));
        let c: Cidr = "::1".parse().unwrap();
        assert_eq!(c.to_string(), "::1/128");
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn schemes_and_literals_are_checked() {
        let p = FetchPolicy::default();
        assert!(
            p.check_url(&Url::parse("http://example.com/").unwrap())
                .is_err()
        );
        assert!(
            p.check_url(&Url::parse("https://169.254.169.254/latest").unwrap())
                .is_err()
        );
        assert!(
            p.check_url(&Url::parse("https://[::ffff:7f00:1]/").unwrap())
                .is_err()
        );
        // Decimal and short forms are IP literals to the URL parser.
        assert!(
            p.check_url(&Url::parse("https://2130706433/").unwrap())
                .is_err()
        );
        assert!(p.check_url(&Url::parse("https://127.1/").unwrap()).is_err());
        assert!(
            p.check_url(&Url::parse("file:///etc/passwd").unwrap())
                .is_err()
        );
        assert!(
            p.check_url(&Url::parse("https://example.com/jwks").unwrap())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_resolver_hands_out_vetted_addresses_only() {
        use std::str::FromStr as _;
        let refusal: Refusal = Arc::new(Mutex::new(None));
        let resolver = GuardedResolver {
            policy: Arc::new(FetchPolicy::default()),
            refusal: refusal.clone(),
        };
        let name = Name::from_str("localhost").unwrap();
        assert!(resolver.resolve(name).await.is_err());
        let why = take(&refusal).unwrap().to_string();
        assert!(
            why.contains("the host localhost resolves to 127.0.0.1 is a loopback"),
            "{why}"
        );
        // Allow-listed: only the allowed address comes back (::1 is dropped).
        let resolver = GuardedResolver {
            policy: Arc::new(FetchPolicy {
                allow: vec!["127.0.0.1/32".parse().unwrap()],
                allow_http: true,
            }),
            refusal: refusal.clone(),
        };
        let name = Name::from_str("localhost").unwrap();
        let addrs: Vec<SocketAddr> = resolver.resolve(name).await.unwrap().collect();
        assert!(!addrs.is_empty());
        assert!(
            addrs.iter().all(|a| a.ip() == IpAddr::from([127, 0, 0, 1])),
            "{addrs:?}"
        );
    }

    #[test]
    fn content_types_are_lenient() {
        assert!(json_like("application/json; charset=utf-8"));
        assert!(json_like("application/jwk-set+json"));
        assert!(json_like(""));
        assert!(!json_like("text/html"));
    }
}
