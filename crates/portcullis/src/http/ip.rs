//! The client's IP address (spec §6.5) in Better Auth's normalised form (§5.1).
//!
//! This module owns reading the configured IP headers (`X-Forwarded-For` by default), walking a
//! proxy chain against `trusted_proxies`, and normalising the result: IPv4 as is, IPv4-mapped IPv6
//! as IPv4, other IPv6 masked to `ipv6_subnet` bits and printed as eight lower-case groups of four
//! hex digits. The result keys rate limiting and is stored on sessions.
//!
//! It must never trust the spoofable left end of a multi-hop chain, never guess through a malformed
//! hop (fail closed), never resolve names, and never panic on header content.
//!
//! One deliberate difference from Better Auth: when no header yields an address, Better Auth returns
//! `null` (all such clients then share one `no-trusted-ip` rate-limit bucket; `127.0.0.1` in
//! development). Portcullis is often exposed directly, so it falls back to the TCP peer address,
//! normalised the same way. A proxy that forwards without setting the header therefore makes every
//! client look like the proxy: configure `ip_address_headers`/`trusted_proxies` behind one.

use crate::config::AdvancedConfig;
use http::HeaderMap;
use std::net::{IpAddr, Ipv6Addr};

/// The client's address, normalised, or `None` when IP tracking is disabled or nothing is known.
pub fn client_ip(headers: &HeaderMap, cfg: &AdvancedConfig, peer: Option<IpAddr>) -> Option<String> {
    if cfg.disable_ip_tracking {
        return None;
    }
    // Malformed entries are dropped so a typo cannot turn a real proxy hop into "the client".
    let proxies: Vec<Cidr> = cfg.trusted_proxies.iter().filter_map(|p| Cidr::parse(p)).collect();
    cfg.ip_address_headers
        .iter()
        .filter_map(|name| header_value(headers, name))
        .find_map(|value| ip_from_header(&value, &proxies))
        .or(peer)
        .map(|ip| normalize(ip, cfg.ipv6_subnet))
}

/// Every value of the header joined with `", "` (what `Headers.get` returns), so a second
/// `X-Forwarded-For` line counts as more hops rather than being ignored.
fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()));
    let mut out = values.next()?.into_owned();
    for v in values {
        out.push_str(", ");
        out.push_str(&v);
    }
    Some(out)
}

/// `getIPFromHeader`: with trusted proxies, the rightmost untrusted hop; without, the value must
/// be exactly one address.
fn ip_from_header(value: &str, proxies: &[Cidr]) -> Option<IpAddr> {
    let hops: Vec<&str> = value.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
    if proxies.is_empty() {
        return match hops.as_slice() {
            [only] => only.parse().ok(),
            _ => None,
        };
    }
    for hop in hops.iter().rev() {
        // A malformed hop breaks the chain: nothing left of it can be attributed.
        let ip: IpAddr = hop.parse().ok()?;
        if !proxies.iter().any(|p| p.contains(ip)) {
            return Some(ip);
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn cfg(headers: &[&str], proxies: &[&str]) -> AdvancedConfig {
        AdvancedConfig {
            ip_address_headers: headers.iter().map(|s| s.to_string()).collect(),
            trusted_proxies: proxies.iter().map(|s| s.to_string()).collect(),
            ..AdvancedConfig::default()
        }
    }

    fn hdrs(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn ip(h: &[(&str, &str)], c: &AdvancedConfig) -> Option<String> {
        client_ip(&hdrs(h), c, None)
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
    fn without_trusted_proxies_a_header_must_hold_exactly_one_ip() {
        let c = AdvancedConfig::default();
        assert_eq!(ip(&[("x-forwarded-for", "203.0.113.7")], &c).as_deref(), Some("203.0.113.7"));
        assert_eq!(ip(&[("x-forwarded-for", " 203.0.113.7 , ")], &c).as_deref(), Some("203.0.113.7"));
        assert_eq!(ip(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7")], &c), None);
        assert_eq!(ip(&[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "203.0.113.7")], &c), None);
        assert_eq!(ip(&[("x-forwarded-for", "not-an-ip")], &c), None);
        assert_eq!(ip(&[("x-forwarded-for", "01.2.3.4")], &c), None, "leading zeros are not an IPv4 address");
        assert_eq!(ip(&[("x-forwarded-for", "")], &c), None);
        assert_eq!(ip(&[("x-real-ip", "203.0.113.7")], &c), None, "only configured headers are read");
    }

    #[test]
    fn headers_are_tried_in_order() {
        let c = cfg(&["cf-connecting-ip", "X-Real-IP"], &[]);
        assert_eq!(ip(&[("x-real-ip", "5.6.7.8"), ("cf-connecting-ip", "1.2.3.4")], &c).as_deref(), Some("1.2.3.4"));
        assert_eq!(ip(&[("x-real-ip", "5.6.7.8"), ("cf-connecting-ip", "junk")], &c).as_deref(), Some("5.6.7.8"));
        assert_eq!(ip(&[], &cfg(&["bad header name"], &[])), None);
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let c = cfg(&["x-forwarded-for"], &["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]);
        let xff = |v: &str| ip(&[("x-forwarded-for", v)], &c);
        assert_eq!(xff("6.6.6.6, 203.0.113.7, 10.1.2.3, 192.0.2.1").as_deref(), Some("203.0.113.7"));
        assert_eq!(xff("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(xff("10.0.0.1, 10.0.0.2"), None, "an all-proxy chain names no client");
        assert_eq!(xff("203.0.113.7, garbage, 10.0.0.1"), None, "a malformed hop fails closed");
        assert_eq!(xff("garbage, 203.0.113.7, 10.0.0.1").as_deref(), Some("203.0.113.7"), "hops left of the client are never read");
        assert_eq!(xff("2001:db9::5, 2001:db8::9").as_deref(), Some("2001:0db9:0000:0000:0000:0000:0000:0000"));
        assert_eq!(xff("1.2.3.4, ::ffff:10.9.9.9").as_deref(), Some("1.2.3.4"), "mapped addresses match IPv4 ranges");
    }

    #[test]
    fn malformed_proxy_entries_are_ignored() {
        // With no valid entry the chain mode does not engage: single-IP rule applies.
        let c = cfg(&["x-forwarded-for"], &["10.0.0.0/8x", "nonsense", "10.0.0.0/33", "::/129", "1.2.3.4/"]);
        assert_eq!(ip(&[("x-forwarded-for", "203.0.113.7, 10.0.0.1")], &c), None);
        assert_eq!(ip(&[("x-forwarded-for", "203.0.113.7")], &c).as_deref(), Some("203.0.113.7"));
        assert_eq!(Cidr::parse("::ffff:10.0.0.0/104"), None, "a mapped address is IPv4, so /104 is out of range");
        assert_eq!(Cidr::parse("0.0.0.0/0").map(|c| c.contains(v4(8, 8, 8, 8))), Some(true));
        assert_eq!(Cidr::parse("::/0").map(|c| c.contains(v4(8, 8, 8, 8))), Some(false), "families never mix");
    }

    #[test]
    fn peer_fallback_and_disabled_tracking() {
        let c = AdvancedConfig::default();
        let peer: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(client_ip(&hdrs(&[]), &c, Some(peer)).as_deref(), Some("2001:0db8:0000:0000:0000:0000:0000:0000"));
        assert_eq!(client_ip(&hdrs(&[]), &c, Some("::ffff:127.0.0.1".parse().unwrap())).as_deref(), Some("127.0.0.1"));
        assert_eq!(
            client_ip(&hdrs(&[("x-forwarded-for", "203.0.113.7")]), &c, Some(v4(10, 0, 0, 1))).as_deref(),
            Some("203.0.113.7"),
            "a header address wins over the peer"
        );
        assert_eq!(client_ip(&hdrs(&[("x-forwarded-for", "a, b")]), &c, Some(v4(10, 0, 0, 1))).as_deref(), Some("10.0.0.1"));
        assert_eq!(client_ip(&hdrs(&[]), &c, None), None);
        let off = AdvancedConfig { disable_ip_tracking: true, ..AdvancedConfig::default() };
        assert_eq!(client_ip(&hdrs(&[("x-forwarded-for", "203.0.113.7")]), &off, Some(v4(10, 0, 0, 1))), None);
    }
}
