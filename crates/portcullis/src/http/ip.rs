//! The client's IP address (spec §6.5) in Better Auth's normalised form (§5.1).
//!
//! This module owns deciding whom to believe about the client's address, walking a proxy chain,
//! and normalising the result: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 masked to
//! `ipv6_subnet` bits and printed as eight lower-case groups of four hex digits. The result keys
//! rate limiting and is stored on sessions.
//!
//! **Whom to believe.** The TCP peer is the only address nobody can forge. Proxy headers
//! (`ip_address_headers`, `X-Forwarded-For` by default) are read only when the peer itself is a
//! trusted proxy (`advanced.trusted_proxies`, CIDRs; default loopback only, i.e. a proxy on the
//! same machine). From any other peer the headers are ignored and the peer is the client: a client
//! cannot pick a fresh rate-limit bucket per request or write a made-up address on its session by
//! sending its own `X-Forwarded-For`. This is stricter than Better Auth, which believes the header
//! from anyone; it changes only what the server trusts, not the wire.
//!
//! **Walking the chain.** From a trusted peer, the header's hops are read from the right (the
//! nearest proxy appended the last one) and trusted proxies are skipped; the first untrusted hop
//! is the client. Hops left of it are never read: whoever sent the request wrote them.
//!
//! It must never trust a header from an untrusted or unknown peer, never guess through a malformed
//! hop (fail closed: the peer is used), never resolve names, never allocate per request for the
//! policy itself (it is compiled once), and never panic on header content.
//!
//! When the peer is unknown (an embedding app served the router without
//! `into_make_service_with_connect_info::<SocketAddr>()`), nothing is known: no address, and all
//! such clients share Better Auth's `no-trusted-ip` rate-limit bucket.

use crate::config::AdvancedConfig;
use http::{HeaderMap, HeaderName};
use std::net::{IpAddr, Ipv6Addr};

/// The trusted proxies when none are configured: this machine.
pub const DEFAULT_TRUSTED_PROXIES: [&str; 2] = ["127.0.0.0/8", "::1"];

/// Who is believed about the client address; compiled once from [`AdvancedConfig`].
#[derive(Debug, Clone)]
pub struct IpPolicy {
    disabled: bool,
    headers: Vec<HeaderName>,
    proxies: Vec<Cidr>,
    ipv6_subnet: u8,
}

impl IpPolicy {
    /// Fails on a malformed `trusted_proxies` entry or header name, naming it: a typo must not
    /// silently turn a real proxy into "the client" (or the reverse).
    pub fn new(cfg: &AdvancedConfig) -> Result<Self, String> {
        let proxies = match &cfg.trusted_proxies {
            Some(list) => list
                .iter()
                .map(|p| Cidr::parse(p.trim()).ok_or_else(|| format!("advanced.trusted_proxies: {p:?} is not an IP address or CIDR")))
                .collect::<Result<_, _>>()?,
            None => DEFAULT_TRUSTED_PROXIES.iter().filter_map(|p| Cidr::parse(p)).collect(),
        };
        let headers = cfg
            .ip_address_headers
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.trim().as_bytes()).map_err(|_| format!("advanced.ip_address_headers: {h:?} is not a header name"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { disabled: cfg.disable_ip_tracking, headers, proxies, ipv6_subnet: cfg.ipv6_subnet })
    }

    /// The client's address, normalised, or `None` when IP tracking is disabled or the peer is
    /// unknown.
    pub fn client_ip(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<String> {
        if self.disabled {
            return None;
        }
        let peer = peer?;
        let from_header = if self.is_trusted(peer) {
            self.headers.iter().filter_map(|name| header_value(headers, name)).find_map(|value| self.ip_from_header(&value))
        } else {
            None
        };
        Some(normalize(from_header.unwrap_or(peer), self.ipv6_subnet))
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|p| p.contains(ip))
    }

    /// `ip` as one client: IPv4 as is, IPv6 masked to `ipv6_subnet` bits (one holder of a /64
    /// has 2^64 addresses), for limits counted per client.
    pub fn client_key(&self, ip: IpAddr) -> IpAddr {
        match canonical(ip) {
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.ipv6_subnet.min(128))).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
            v4 => v4,
        }
    }

    /// The rightmost hop that is not a trusted proxy. `None` when a hop on the way is malformed
    /// or every hop is a trusted proxy (the peer is then the best answer).
    fn ip_from_header(&self, value: &str) -> Option<IpAddr> {
        for hop in value.split(',').map(str::trim).filter(|h| !h.is_empty()).rev() {
            // A malformed hop breaks the chain: nothing left of it can be attributed.
            let ip: IpAddr = hop.parse().ok()?;
            if !self.is_trusted(ip) {
                return Some(ip);
            }
        }
        None
    }
}

/// Every value of the header joined with `", "` (what `Headers.get` returns), so a second
/// `X-Forwarded-For` line counts as more hops rather than being ignored.
fn header_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()));
    let mut out = values.next()?.into_owned();
    for v in values {
        out.push_str(", ");
        out.push_str(&v);
    }
    Some(out)
}

/// `normalizeIP` (§5.1): IPv4 unchanged, IPv4-mapped IPv6 as IPv4, other IPv6 masked to
/// `subnet` bits (clamped to 128) and fully expanded, e.g. `2001:0db8:0000:...:0000`.
pub fn normalize(ip: IpAddr, subnet: u8) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u32::from(subnet.min(128));
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            let masked = Ipv6Addr::from(u128::from(v6) & mask);
            let groups: Vec<String> = masked.segments().iter().map(|g| format!("{g:04x}")).collect();
            groups.join(":")
        }
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address, for matching and for printing.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// A trusted proxy: an address (a /32 or /128) or a CIDR range.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cidr {
    net: IpAddr,
    prefix: u32,
}

impl Cidr {
    /// `parseCIDR`: `ip` or `ip/prefix`, the prefix decimal digits only and within the family
    /// (IPv4-mapped IPv6 counts as IPv4, so its prefix is at most 32).
    fn parse(value: &str) -> Option<Self> {
        let (addr, prefix) = match value.rsplit_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (value, None),
        };
        let net = canonical(addr.parse().ok()?);
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok().filter(|&n| n <= max)?,
            Some(_) => return None,
        };
        Some(Self { net, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The client's address as Portcullis sees it (after proxy headers), stored in request extensions
/// by the pipeline.
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }
    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 4));

    fn policy(headers: &[&str], proxies: Option<&[&str]>) -> IpPolicy {
        IpPolicy::new(&AdvancedConfig {
            ip_address_headers: headers.iter().map(|s| s.to_string()).collect(),
            trusted_proxies: proxies.map(|p| p.iter().map(|s| s.to_string()).collect()),
            ..AdvancedConfig::default()
        })
        .unwrap()
    }

    fn hdrs(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn ip(p: &IpPolicy, h: &[(&str, &str)], peer: IpAddr) -> Option<String> {
        p.client_ip(&hdrs(h), Some(peer))
    }

    #[test]
    fn normalisation_matches_better_auth() {
        let n = |s: &str| normalize(s.parse().unwrap(), 64);
        assert_eq!(n("203.0.113.7"), "203.0.113.7");
        assert_eq!(n("2001:db8::1"), "2001:0db8:0000:0000:0000:0000:0000:0000");
        assert_eq!(n("2001:DB8:1:2:3:4:5:6"), "2001:0db8:0001:0002:0000:0000:0000:0000");
        assert_eq!(n("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(n("::ffff:c000:201"), "192.0.2.1");
        assert_eq!(n("::1"), "0000:0000:0000:0000:0000:0000:0000:0000");
        assert_eq!(normalize("2001:db8::1".parse().unwrap(), 128), "2001:0db8:0000:0000:0000:0000:0000:0001");
        assert_eq!(normalize("2001:db8::1".parse().unwrap(), 200), "2001:0db8:0000:0000:0000:0000:0000:0001");
        assert_eq!(normalize("2001:db8:abcd::1".parse().unwrap(), 36), "2001:0db8:a000:0000:0000:0000:0000:0000");
        assert_eq!(normalize("2001:db8::1".parse().unwrap(), 0), "0000:0000:0000:0000:0000:0000:0000:0000");
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let p = policy(&["x-forwarded-for"], None);
        let xff = [("x-forwarded-for", "203.0.113.7")];
        assert_eq!(ip(&p, &xff, STRANGER).as_deref(), Some("198.51.100.4"), "a direct client cannot pick its address");
        assert_eq!(ip(&p, &xff, LOOPBACK).as_deref(), Some("203.0.113.7"), "loopback is trusted by default");
        assert_eq!(ip(&p, &xff, "::1".parse().unwrap()).as_deref(), Some("203.0.113.7"));
        assert_eq!(ip(&p, &xff, "::ffff:127.0.0.1".parse().unwrap()).as_deref(), Some("203.0.113.7"));
        // Nothing trusted: headers are never read, not even from loopback.
        let none = policy(&["x-forwarded-for"], Some(&[]));
        assert_eq!(ip(&none, &xff, LOOPBACK).as_deref(), Some("127.0.0.1"));
        // Only the configured proxies are trusted once a list is given.
        let lb = policy(&["x-forwarded-for"], Some(&["10.0.0.0/8"]));
        assert_eq!(ip(&lb, &xff, LOOPBACK).as_deref(), Some("127.0.0.1"));
        assert_eq!(ip(&lb, &xff, v4(10, 1, 2, 3)).as_deref(), Some("203.0.113.7"));
        // An unknown peer is no reason to believe a header.
        assert_eq!(p.client_ip(&hdrs(&xff), None), None);
    }

    #[test]
    fn headers_are_tried_in_order() {
        let p = policy(&["cf-connecting-ip", "X-Real-IP"], None);
        assert_eq!(ip(&p, &[("x-real-ip", "5.6.7.8"), ("cf-connecting-ip", "1.2.3.4")], LOOPBACK).as_deref(), Some("1.2.3.4"));
        assert_eq!(ip(&p, &[("x-real-ip", "5.6.7.8"), ("cf-connecting-ip", "junk")], LOOPBACK).as_deref(), Some("5.6.7.8"));
        assert_eq!(ip(&p, &[("x-forwarded-for", "5.6.7.8")], LOOPBACK).as_deref(), Some("127.0.0.1"), "only configured headers are read");
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let p = policy(&["x-forwarded-for"], Some(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]));
        let peer = v4(10, 9, 9, 9);
        let xff = |v: &str| ip(&p, &[("x-forwarded-for", v)], peer);
        assert_eq!(xff("6.6.6.6, 203.0.113.7, 10.1.2.3, 192.0.2.1").as_deref(), Some("203.0.113.7"));
        assert_eq!(xff("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(xff("10.0.0.1, 10.0.0.2").as_deref(), Some("10.9.9.9"), "an all-proxy chain names no client: the peer");
        assert_eq!(xff("203.0.113.7, garbage, 10.0.0.1").as_deref(), Some("10.9.9.9"), "a malformed hop fails closed");
        assert_eq!(xff("garbage, 203.0.113.7, 10.0.0.1").as_deref(), Some("203.0.113.7"), "hops left of the client are never read");
        assert_eq!(xff("2001:db9::5, 2001:db8::9").as_deref(), Some("2001:0db9:0000:0000:0000:0000:0000:0000"));
        assert_eq!(xff("1.2.3.4, ::ffff:10.9.9.9").as_deref(), Some("1.2.3.4"), "mapped addresses match IPv4 ranges");
        assert_eq!(xff("").as_deref(), Some("10.9.9.9"));
        assert_eq!(ip(&p, &[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "203.0.113.7")], peer).as_deref(), Some("203.0.113.7"));
        // Behind a proxy on this machine (the default), a client-sent header is left of the real hop.
        let local = policy(&["x-forwarded-for"], None);
        assert_eq!(ip(&local, &[("x-forwarded-for", "1.1.1.1, 203.0.113.7")], LOOPBACK).as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn malformed_configuration_is_refused() {
        for bad in ["10.0.0.0/8x", "nonsense", "10.0.0.0/33", "::/129", "1.2.3.4/", "::ffff:10.0.0.0/104"] {
            let cfg = AdvancedConfig { trusted_proxies: Some(vec![bad.into()]), ..AdvancedConfig::default() };
            assert!(IpPolicy::new(&cfg).unwrap_err().contains(bad), "{bad}");
        }
        let cfg = AdvancedConfig { ip_address_headers: vec!["bad header".into()], ..AdvancedConfig::default() };
        assert!(IpPolicy::new(&cfg).is_err());
        assert_eq!(Cidr::parse("0.0.0.0/0").map(|c| c.contains(v4(8, 8, 8, 8))), Some(true));
        assert_eq!(Cidr::parse("::/0").map(|c| c.contains(v4(8, 8, 8, 8))), Some(false), "families never mix");
    }

    #[test]
    fn peer_and_disabled_tracking() {
        let p = policy(&["x-forwarded-for"], None);
        let peer: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip(&p, &[], peer).as_deref(), Some("2001:0db8:0000:0000:0000:0000:0000:0000"));
        assert_eq!(ip(&p, &[], "::ffff:127.0.0.1".parse().unwrap()).as_deref(), Some("127.0.0.1"));
        assert_eq!(p.client_ip(&hdrs(&[]), None), None);
        let off = IpPolicy::new(&AdvancedConfig { disable_ip_tracking: true, ..AdvancedConfig::default() }).unwrap();
        assert_eq!(ip(&off, &[("x-forwarded-for", "203.0.113.7")], LOOPBACK), None);
    }
}
