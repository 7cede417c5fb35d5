//! Trusted origins and Better Auth's origin/CSRF rules (spec §6.1–§6.3, Better Auth 1.7.24).
//!
//! This module owns three things:
//! - [`TrustedOrigins`]: the trusted-origin list, compiled once at start-up, and
//!   `matchesOriginPattern` from `auth/trusted-origins.ts` ([`TrustedOrigins::matches`]);
//! - the CSRF rules: the router's origin check for requests carrying cookies ([`check_origin`]) and
//!   the Fetch-Metadata rules that protect first logins ([`csrf_check`]);
//! - the open-redirect guard on `callbackURL`, `redirectTo`, `errorCallbackURL` and
//!   `newUserCallbackURL` ([`check_url_fields`]).
//!
//! It must never fetch or resolve anything (no DNS, no network), never compile a pattern per request,
//! never panic on header or body content, and never trust `Origin: null` (the one exception is
//! `Origin: null` with `Sec-Fetch-Site: same-origin`, which Better Auth treats as the server's own
//! origin). Deciding *whether* a check applies (disabled flags, per-path exemptions) belongs to the
//! router, not here.
//!
//! Matching mirrors the JS function branch for branch, including its quirks: a wildcard pattern
//! without `://` is matched against `URL.host`, which carries a non-default port; plain patterns are
//! compared byte for byte with the URL's serialised origin; a `Referer` is passed through as is and
//! reduced to its origin by that comparison.
//!
//! Two deliberate differences from Better Auth, both about what a pattern trusts (issue 12, item 7):
//! - A host-only pattern (`*.example.com`, `*`, `*:3000`) admits only `http:` and `https:` URLs.
//!   Better Auth matches it against `URL.host` whatever the scheme, so
//!   `javascript://app.example.com/%0aalert(1)` passes `*.example.com` and any `myapp://` link passes
//!   `*`. App deep-link schemes (`myapp://`, `exp://...`) are admitted only by a pattern that names
//!   its scheme, as Better Auth already requires for plain patterns.
//! - `javascript:`, `data:`, `vbscript:` and `file:` URLs are refused outright, even when an operator
//!   lists the scheme (such a pattern is ignored with a warning at start-up). None of them is a place
//!   an auth server may send a browser: the first three run or render attacker-chosen content in the
//!   context of the page that follows the redirect, and no app receives a callback over `file:`
//!   (desktop apps use a registered scheme or a loopback port). Honouring a listed scheme would keep
//!   a foot-gun for no legitimate use, so the rule cannot be configured away.

use crate::error::{codes, ApiError};
use http::{header, HeaderMap, Method, StatusCode};
use regex::Regex;
use serde_json::Value;
use std::borrow::Cow;
use std::net::Ipv4Addr;
use url::Url;

/// The base Better Auth resolves root-relative URLs against to prove they stay same-origin.
const RELATIVE_URL_PARSER_ORIGIN: &str = "https://better-auth.invalid";

/// Schemes no pattern admits, whatever the configuration (see the module doc).
const REFUSED_SCHEMES: [&str; 4] = ["javascript", "data", "vbscript", "file"];

/// The trusted-origin list: the server's own origin plus configured patterns, compiled once.
pub struct TrustedOrigins {
    patterns: Vec<Pattern>,
    sources: Vec<String>,
    relative_base: Option<Url>,
}

impl std::fmt::Debug for TrustedOrigins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.sources).finish()
    }
}

impl TrustedOrigins {
    /// `base_origin` (the origin of the base URL) is always trusted. Empty entries are dropped, as
    /// Better Auth does; every wildcard pattern is compiled here so matching never allocates regexes.
    pub fn new(base_origin: &str, patterns: impl IntoIterator<Item = String>) -> Self {
        let sources: Vec<String> = std::iter::once(base_origin.to_string()).chain(patterns).filter(|p| !p.is_empty()).collect();
        for source in sources.iter().filter(|s| names_refused_scheme(s)) {
            tracing::warn!(
                pattern = source.as_str(),
                "trusted origin names a scheme that is never trusted (javascript:, data:, vbscript:, file:); it matches nothing"
            );
        }
        Self {
            patterns: sources.iter().map(|s| Pattern::compile(s)).collect(),
            sources,
            relative_base: Url::parse(RELATIVE_URL_PARSER_ORIGIN).ok(),
        }
    }

    /// Whether `url` matches any trusted origin (`isTrustedOrigin`). Root-relative paths are
    /// accepted only when `allow_relative` (redirect fields, never the `Origin` header) and only if
    /// they cannot be read as another origin by a browser or router.
    pub fn matches(&self, url: &str, allow_relative: bool) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        if url.starts_with('/') {
            return allow_relative && self.is_safe_relative(url);
        }
        let subject = Subject::new(url);
        if subject.scheme.as_deref().is_some_and(|s| REFUSED_SCHEMES.contains(&s)) {
            return false;
        }
        self.patterns.iter().any(|p| p.matches(&subject))
    }

    /// `isSafeRelativeURL`: no `//`, no `\`, no control characters, no encoded `/` or `\` in the
    /// path, and it must still resolve to the reference origin.
    fn is_safe_relative(&self, v: &str) -> bool {
        if !v.starts_with('/') || v.starts_with("//") || v.contains('\\') || has_control_char(v) {
            return false;
        }
        let path = v.find(['?', '#']).map_or(v, |i| &v[..i]);
        if has_encoded_separator(path) {
            return false;
        }
        let Some(base) = &self.relative_base else { return false };
        base.join(v).is_ok_and(|u| u.origin() == base.origin())
    }
}

/// One trusted entry, classified once the way `matchesOriginPattern` branches on it.
enum Pattern {
    /// No `*` or `?`: equality with the URL's origin (http/https), or scheme/authority/path rules.
    Plain { raw: String, custom: Option<CustomParts> },
    /// Wildcards and no `://`: matched against the URL's host (`host[:port]`), http/https only.
    Host { re: Regex, ipv4_only: bool },
    /// Wildcards and `://`: matched against the origin (http/https) or by parts (custom schemes).
    Origin { re: Regex, ipv4_only: bool, custom: Option<CustomWildcard> },
    /// A pattern whose regex could not be built (absurdly long); it matches nothing.
    Never,
}

impl Pattern {
    fn compile(raw: &str) -> Self {
        let has_wildcard = raw.contains(['*', '?']);
        if !has_wildcard {
            return Pattern::Plain { raw: raw.to_string(), custom: CustomParts::parse(raw, false) };
        }
        let Some(re) = wildcard_regex(raw) else {
            tracing::warn!(pattern = raw, "trusted origin pattern too large to compile; it matches nothing");
            return Pattern::Never;
        };
        match raw.find("://") {
            None => Pattern::Host { re, ipv4_only: is_ip_wildcard_host(raw) },
            Some(i) => Pattern::Origin { re, ipv4_only: is_ip_wildcard_host(&raw[i + 3..]), custom: CustomWildcard::compile(raw) },
        }
    }

    fn matches(&self, s: &Subject) -> bool {
        match self {
            Pattern::Never => false,
            // Only real web URLs: a host pattern says nothing about which schemes the operator trusts.
            Pattern::Host { re, ipv4_only } => {
                s.scheme.is_some() && s.is_web() && s.host.as_deref().is_some_and(|h| re.is_match(h) && ipv4_allowed(*ipv4_only, h))
            }
            Pattern::Plain { raw, .. } if s.is_web() => s.origin.as_deref() == Some(raw.as_str()),
            Pattern::Plain { custom, .. } => match (custom, &s.custom) {
                (Some(p), Some(u)) => p.admits(u),
                _ => false,
            },
            Pattern::Origin { re, ipv4_only, .. } if s.is_web() => s.origin.as_deref().is_some_and(|o| {
                let authority = o.find("://").map_or(o, |i| &o[i + 3..]);
                re.is_match(o) && ipv4_allowed(*ipv4_only, authority)
            }),
            Pattern::Origin { custom, .. } => match (custom, &s.custom) {
                (Some(p), Some(u)) => p.admits(u),
                _ => false,
            },
        }
    }
}

/// The URL under test, parsed once per call.
struct Subject {
    /// `URL.protocol` without the colon; `None` when the URL does not parse.
    scheme: Option<String>,
    /// `URL.host` (`host[:port]`); `None` when unparseable or empty.
    host: Option<String>,
    /// The serialised tuple origin; `None` for opaque origins (JS `getOrigin` → `null`).
    origin: Option<String>,
    /// String-split parts, for schemes other than http/https.
    custom: Option<CustomParts>,
}

impl Subject {
    fn new(raw: &str) -> Self {
        let parsed = Url::parse(raw).ok();
        let scheme = parsed.as_ref().map(|u| u.scheme().to_string());
        let host = parsed.as_ref().and_then(|u| {
            let h = u.host_str().filter(|h| !h.is_empty())?;
            Some(match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        });
        let origin = parsed.as_ref().map(Url::origin).filter(url::Origin::is_tuple).map(|o| o.ascii_serialization());
        let web = is_web_scheme(scheme.as_deref());
        let custom = if web { None } else { CustomParts::parse(raw, false) };
        Self { scheme, host, origin, custom }
    }

    fn is_web(&self) -> bool {
        is_web_scheme(self.scheme.as_deref())
    }
}

/// Whether a configured pattern names one of [`REFUSED_SCHEMES`] (`javascript:`, `FILE://`, ...).
fn names_refused_scheme(pattern: &str) -> bool {
    CustomParts::parse(pattern, pattern.contains(['*', '?'])).is_some_and(|p| REFUSED_SCHEMES.contains(&p.scheme.as_str()))
}

/// http, https, or unparseable (`None`): the branch of `matchesOriginPattern` that compares origins.
fn is_web_scheme(scheme: Option<&str>) -> bool {
    match scheme {
        None => true,
        Some(s) => s == "http" || s == "https",
    }
}

/// `parseCustomSchemeOrigin`: scheme and authority lower-cased, path decoded and resolved.
struct CustomParts {
    scheme: String,
    authority: String,
    path: String,
}

impl CustomParts {
    /// Plain string splitting, deliberately not a URL parser (as in Better Auth). In a wildcard
    /// pattern `?` is a wildcard, so it does not end the authority or the path there.
    fn parse(value: &str, wildcard: bool) -> Option<Self> {
        if has_control_char(value) {
            return None;
        }
        let scheme_end = value.find(':').filter(|&i| i > 0)?;
        let scheme = value[..scheme_end].to_lowercase();
        let mut rest = &value[scheme_end + 1..];
        let mut authority = "";
        if let Some(after) = rest.strip_prefix("//") {
            let stops: &[char] = if wildcard { &['/', '#'] } else { &['/', '?', '#'] };
            (authority, rest) = match after.find(stops) {
                Some(i) => after.split_at(i),
                None => (after, ""),
            };
        }
        let stops: &[char] = if wildcard { &['#'] } else { &['?', '#'] };
        let path = rest.find(stops).map_or(rest, |i| &rest[..i]);
        Some(Self { scheme, authority: authority.to_lowercase(), path: normalize_path(path) })
    }

    /// Non-wildcard rule: same scheme; same authority if the pattern has one; the same path or one
    /// nested under it if the pattern has one.
    fn admits(&self, url: &CustomParts) -> bool {
        url.scheme == self.scheme
            && (self.authority.is_empty() || url.authority == self.authority)
            && (self.path.is_empty()
                || url.path == self.path
                || url.path.strip_prefix(self.path.as_str()).is_some_and(|r| r.starts_with('/')))
    }
}

/// A custom-scheme wildcard pattern, e.g. `exp://192.168.*.*:*/**`.
struct CustomWildcard {
    scheme: String,
    authority: Option<Regex>,
    authority_ipv4_only: bool,
    path: Option<Regex>,
}

impl CustomWildcard {
    fn compile(raw: &str) -> Option<Self> {
        let parts = CustomParts::parse(raw, true)?;
        let regex_unless_empty = |s: &str| if s.is_empty() { Some(None) } else { wildcard_regex(s).map(Some) };
        Some(Self {
            authority: regex_unless_empty(&parts.authority)?,
            authority_ipv4_only: is_ip_wildcard_host(&parts.authority),
            path: regex_unless_empty(&parts.path)?,
            scheme: parts.scheme,
        })
    }

    fn admits(&self, url: &CustomParts) -> bool {
        if url.scheme != self.scheme || url.authority.contains('@') {
            return false;
        }
        let authority_ok = match &self.authority {
            None => true,
            Some(re) => re.is_match(&url.authority) && ipv4_allowed(self.authority_ipv4_only, &url.authority),
        };
        let path = if url.path.is_empty() { "/" } else { url.path.as_str() };
        let path_ok = match &self.path {
            None => true,
            Some(re) => re.is_match(path),
        };
        authority_ok && path_ok
    }
}

/// Compiles Better Auth's `wildcardMatch(pattern)` (no separator): `*` matches any run of
/// characters (dots included), `?` exactly one, `\x` is a literal `x`; anchored at both ends.
/// JS `.` excludes line terminators, so the wildcard class does too. `None` if the regex would
/// exceed the engine's size limit.
pub(crate) fn wildcard_regex(pattern: &str) -> Option<Regex> {
    const ANY: &str = r"[^\n\r\x{2028}\x{2029}]";
    let mut re = String::with_capacity(pattern.len() * 2 + 8);
    re.push_str(r"\A(?:");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    re.push_str(&regex::escape(next.encode_utf8(&mut [0; 4])));
                }
            }
            '?' => re.push_str(ANY),
            '*' => {
                re.push_str(ANY);
                re.push_str("*?");
            }
            _ => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push_str(r")\z");
    Regex::new(&re).ok()
}

/// `IP_WILDCARD_HOST_PATTERN` on the host part of an authority: digits, dots and wildcards only,
/// at least one digit. Such a pattern names an address range and admits only real IPv4 hosts.
fn is_ip_wildcard_host(authority: &str) -> bool {
    let host = authority.split(':').next().unwrap_or("");
    host.bytes().any(|b| b.is_ascii_digit()) && host.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'?' | b'.'))
}

/// `isAllowedIPv4Host` once the pattern side is known.
fn ipv4_allowed(ipv4_only: bool, authority: &str) -> bool {
    !ipv4_only || authority.split(':').next().unwrap_or("").parse::<Ipv4Addr>().is_ok()
}

/// JS `/[\u0000-\u001f\u007f-\u009f]/`.
fn has_control_char(s: &str) -> bool {
    s.chars().any(|c| c <= '\u{1f}' || ('\u{7f}'..='\u{9f}').contains(&c))
}

/// `%2f`, `%5c` in any case.
fn has_encoded_separator(path: &str) -> bool {
    path.as_bytes().windows(3).any(|w| w[0] == b'%' && ((w[1] == b'2' && w[2] | 0x20 == b'f') || (w[1] == b'5' && w[2] | 0x20 == b'c')))
}

/// `normalizePath`: percent-decode (kept raw if that fails, as `decodeURIComponent` would throw),
/// drop empty and `.` segments, let `..` pop. `""` for an empty or root path.
fn normalize_path(path: &str) -> String {
    let decoded = decode_uri_component(path);
    let source = decoded.as_deref().unwrap_or(path);
    let mut segments: Vec<&str> = Vec::new();
    for segment in source.split('/') {
        match segment {
            ".." => {
                segments.pop();
            }
            "." | "" => {}
            s => segments.push(s),
        }
    }
    if segments.is_empty() {
        String::new()
    } else {
        format!("/{}", segments.join("/"))
    }
}

/// Strict `decodeURIComponent`: `None` on a malformed escape or invalid UTF-8.
fn decode_uri_component(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok().filter(|_| hex.bytes().all(|b| b.is_ascii_hexdigit()))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------------------------
// Request checks
// ---------------------------------------------------------------------------------------------

/// A header as `Headers.get` returns it: repeated values joined with `", "`.
fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let mut out = String::from_utf8_lossy(first.as_bytes());
    for v in values {
        let joined = out.to_mut();
        joined.push_str(", ");
        joined.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(out)
}

fn non_empty_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    header_value(headers, name).filter(|v| !v.is_empty())
}

/// `validateOrigin` once it has decided to check: `Origin`, else `Referer`, must be trusted.
pub fn check_origin(trusted: &TrustedOrigins, headers: &HeaderMap) -> Result<(), ApiError> {
    let origin = header_value(headers, header::ORIGIN.as_str());
    if origin.as_deref() == Some("null") && header_value(headers, "sec-fetch-site").as_deref() == Some("same-origin") {
        // A same-origin request whose browser hid the origin (sandboxed or privacy mode): Better
        // Auth substitutes the request's own origin, which is the base origin and always trusted.
        return Ok(());
    }
    let candidate = origin.filter(|v| !v.is_empty()).or_else(|| non_empty_header(headers, header::REFERER.as_str()));
    let Some(candidate) = candidate.filter(|v| v != "null") else {
        return Err(codes::MISSING_OR_NULL_ORIGIN);
    };
    if trusted.matches(&candidate, false) {
        Ok(())
    } else {
        tracing::warn!(origin = ?loggable(&candidate), trusted = ?trusted, "rejected untrusted origin; add it to trusted_origins if it is legitimate");
        Err(codes::INVALID_ORIGIN)
    }
}

/// Both CSRF layers for one request: the router's cookie rule (`originCheckMiddleware` step 1) and,
/// when `form_csrf` (`/sign-in/email`, `/sign-up/email`), `formCsrfMiddleware`'s Fetch-Metadata
/// rules for first logins that carry no cookie.
pub fn csrf_check(trusted: &TrustedOrigins, method: &Method, headers: &HeaderMap, form_csrf: bool) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if headers.contains_key(header::COOKIE) {
        return check_origin(trusted, headers);
    }
    if !form_csrf {
        return Ok(());
    }
    let site = header_value(headers, "sec-fetch-site");
    let mode = header_value(headers, "sec-fetch-mode");
    let dest = header_value(headers, "sec-fetch-dest");
    let has_metadata = [&site, &mode, &dest].iter().any(|v| v.as_deref().is_some_and(|s| !s.trim().is_empty()));
    if has_metadata {
        if site.as_deref() == Some("cross-site") && mode.as_deref() == Some("navigate") {
            tracing::warn!("blocked a cross-site navigation login (CSRF protection)");
            return Err(codes::CROSS_SITE_NAVIGATION_LOGIN_BLOCKED);
        }
        return check_origin(trusted, headers);
    }
    if non_empty_header(headers, header::ORIGIN.as_str()).is_some() || non_empty_header(headers, header::REFERER.as_str()).is_some() {
        return check_origin(trusted, headers);
    }
    // No browser signals at all (curl, server to server): nothing to forge, allowed.
    Ok(())
}

/// A redirect field as JS sees it after the `value && ...` truthiness test.
enum Field<'a> {
    Str(&'a str),
    NotAString,
}

/// JS truthiness: `null`, `false`, `0` and `""` count as absent.
fn body_field<'a>(body: Option<&'a Value>, name: &str) -> Option<Field<'a>> {
    let v = body?.get(name)?;
    let truthy = match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    };
    truthy.then_some(match v {
        Value::String(s) => Field::Str(s),
        _ => Field::NotAString,
    })
}

/// A repeated query key is an array in better-call, hence not a string.
fn query_field<'a>(query: &'a [(String, String)], name: &str) -> Option<Field<'a>> {
    let mut hits = query.iter().filter(|(k, _)| k == name);
    let (_, first) = hits.next()?;
    if hits.next().is_some() {
        return Some(Field::NotAString);
    }
    (!first.is_empty()).then_some(Field::Str(first))
}

fn check_field(trusted: &TrustedOrigins, field: Option<Field<'_>>, label: &str, err: ApiError) -> Result<(), ApiError> {
    match field {
        None => Ok(()),
        Some(Field::NotAString) => Err(ApiError::uncoded(StatusCode::BAD_REQUEST, format!("Invalid {label}: expected a string"))),
        Some(Field::Str(url)) if trusted.matches(url, true) => Ok(()),
        Some(Field::Str(url)) => {
            tracing::warn!(field = label, url = ?loggable(url), trusted = ?trusted, "rejected untrusted redirect URL");
            Err(err)
        }
    }
}

/// `originCheckMiddleware` step 2: redirect-bearing fields must point at a trusted origin or be a
/// safe root-relative path. Checked in Better Auth's order; the first failure wins.
pub fn check_url_fields(trusted: &TrustedOrigins, body: Option<&Value>, query: &[(String, String)]) -> Result<(), ApiError> {
    let callback = body_field(body, "callbackURL").or_else(|| query_field(query, "callbackURL"));
    check_field(trusted, callback, "callbackURL", codes::INVALID_CALLBACK_URL)?;
    check_field(trusted, body_field(body, "redirectTo"), "redirectURL", codes::INVALID_REDIRECT_URL)?;
    check_field(trusted, body_field(body, "errorCallbackURL"), "errorCallbackURL", codes::INVALID_ERROR_CALLBACK_URL)?;
    check_field(trusted, body_field(body, "newUserCallbackURL"), "newUserCallbackURL", codes::INVALID_NEW_USER_CALLBACK_URL)
}

/// What of a rejected URL may be logged: its scheme and authority only (the host an attacker
/// pointed at), never its path or query, which may carry a token (`?token=`, `/reset/<token>`).
/// Attacker-controlled, so logged with `?` (escaped) and cut short.
fn loggable(url: &str) -> &str {
    let start = url.find("://").map(|i| i + 3).or_else(|| url.starts_with("//").then_some(2)).unwrap_or(0);
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let kept = &url[..end];
    match kept.char_indices().nth(200) {
        Some((i, _)) => &kept[..i],
        None => kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_url_is_logged_without_path_or_query() {
        assert_eq!(loggable("https://evil.example/cb?t=secret"), "https://evil.example");
        assert_eq!(loggable("https://evil.example:8443?t=secret#x"), "https://evil.example:8443");
        assert_eq!(loggable("//evil.example/reset/secret"), "//evil.example");
        assert_eq!(loggable("javascript:alert(1)"), "javascript:alert(1)");
        assert_eq!(loggable(&"a".repeat(300)).len(), 200);
    }
    use serde_json::json;

    fn origins(patterns: &[&str]) -> TrustedOrigins {
        TrustedOrigins::new("https://app.example.com", patterns.iter().map(|s| s.to_string()))
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn code(r: Result<(), ApiError>) -> Option<&'static str> {
        r.err().map(|e| e.code.unwrap_or("uncoded"))
    }

    #[test]
    fn relative_paths_follow_1_7_24_rules() {
        let t = origins(&[]);
        for ok in ["/dashboard", "/a b", "/a#frag", "/path:colon", "/", "/a?next=%2fevil", "/a?x=//evil.com", "/a/./b"] {
            assert!(t.matches(ok, true), "{ok} should be accepted");
            assert!(!t.matches(ok, false), "{ok} must not pass where relative paths are not allowed");
        }
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "/%2fevil.com",
            "/%2Fevil.com",
            "/%5cevil.com",
            "/%5Cevil.com",
            "/a\\b",
            "/\t/evil.com",
            "/a\nb",
            "/a\u{0}",
            "/a\u{7f}",
            "/a\u{85}",
            "///evil.com",
        ] {
            assert!(!t.matches(bad, true), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn plain_patterns_compare_origins_exactly() {
        let t = origins(&[]);
        for ok in ["https://app.example.com", "https://app.example.com/x?y=1", "https://APP.example.com/", "https://app.example.com:443/a"]
        {
            assert!(t.matches(ok, false), "{ok}");
        }
        for bad in [
            "https://app.example.com.evil.com",
            "https://app.example.com:8443",
            "http://app.example.com",
            "https://evil.com/https://app.example.com",
            "https://app.example.com@evil.com",
            "https://evil.com?https://app.example.com",
            "app.example.com",
            "null",
            "",
            "javascript:alert(1)//https://app.example.com",
        ] {
            assert!(!t.matches(bad, true), "{bad}");
        }
    }

    #[test]
    fn host_wildcards_cross_dots_but_need_a_subdomain() {
        let t = origins(&["*.example.com"]);
        assert!(t.matches("https://a.example.com", false));
        assert!(t.matches("https://a.b.example.com/x", false));
        assert!(t.matches("http://a.example.com", false), "host patterns ignore the scheme");
        assert!(!t.matches("https://example.com", false));
        assert!(!t.matches("https://evilexample.com", false));
        assert!(!t.matches("https://evil.com/?.example.com", false));
        assert!(!t.matches("https://a.example.com:8080", false), "URL.host carries the port");
        assert!(!t.matches("null", false));
    }

    #[test]
    fn origin_wildcards_pin_the_scheme() {
        let t = origins(&["https://*.example.com", "https://app?.test.io"]);
        assert!(t.matches("https://a.example.com/path", false));
        assert!(!t.matches("http://a.example.com", false));
        assert!(t.matches("https://app1.test.io", false));
        assert!(!t.matches("https://app12.test.io", false));
        assert!(!t.matches("https://app.test.io", false));
    }

    #[test]
    fn ip_wildcards_only_admit_ipv4_hosts() {
        let t = origins(&["192.168.*.*", "https://10.0.*.*:3000"]);
        assert!(t.matches("http://192.168.1.10", false));
        assert!(t.matches("http://192.168.1.10:5173", false));
        assert!(!t.matches("http://192.168.attacker.com", false));
        assert!(t.matches("https://10.0.0.7:3000", false));
        assert!(!t.matches("https://10.0.evil.com:3000", false));
        assert!(!t.matches("https://10.0.0.7:4000", false));
    }

    #[test]
    fn custom_schemes_check_authority_and_path() {
        let t = origins(&["myapp://callback", "exp://", "pinned://host/cb"]);
        assert!(t.matches("myapp://callback", false));
        assert!(t.matches("MYAPP://CALLBACK/any/path?x=1", false));
        assert!(!t.matches("myapp://callback.evil.tld", false));
        assert!(!t.matches("myapp://evil", false));
        assert!(!t.matches("other://callback", false));
        assert!(t.matches("exp://192.168.1.2:8081/--/home", false), "a bare scheme trusts everything in it");
        assert!(t.matches("pinned://host/cb", false));
        assert!(t.matches("pinned://host/cb/deeper", false));
        assert!(!t.matches("pinned://host/cbx", false));
        assert!(!t.matches("pinned://host/cb/../evil", false));
        assert!(!t.matches("pinned://host/cb/%2e%2e/evil", false));
        assert!(!t.matches("pinned://other/cb", false));
        assert!(!t.matches("myapp://callback\u{1}", false));
    }

    #[test]
    fn custom_scheme_wildcards() {
        let t = origins(&["exp://192.168.*.*:*/**", "app://*.example.com"]);
        assert!(t.matches("exp://192.168.1.5:8081/--/x", false));
        assert!(!t.matches("exp://192.168.evil.io:8081/x", false));
        assert!(t.matches("app://a.example.com", false));
        assert!(!t.matches("app://user@a.example.com", false));
        assert!(!t.matches("app://a.example.org", false));
    }

    #[test]
    fn empty_entries_are_dropped_and_escapes_work() {
        let t = TrustedOrigins::new("", vec![String::new()]);
        assert!(!t.matches("/dashboard", true), "no trusted origin at all trusts nothing");
        let t = origins(&["", "https://a\\*.example.com"]);
        assert!(t.matches("https://app.example.com", false));
        assert!(!t.matches("https://ab.example.com", false), "an escaped * is literal");
    }

    #[test]
    fn wildcard_regex_semantics() {
        let re = wildcard_regex("/sign-*").unwrap();
        assert!(re.is_match("/sign-in/email"));
        assert!(!re.is_match("/x/sign-in"));
        assert!(!re.is_match("/sign-in\n"));
        assert!(wildcard_regex("a.b").unwrap().is_match("a.b"));
        assert!(!wildcard_regex("a.b").unwrap().is_match("axb"));
    }

    #[test]
    fn origin_header_rules() {
        let t = origins(&["https://partner.io"]);
        assert_eq!(code(check_origin(&t, &headers(&[]))), Some("MISSING_OR_NULL_ORIGIN"));
        assert_eq!(code(check_origin(&t, &headers(&[("origin", "null")]))), Some("MISSING_OR_NULL_ORIGIN"));
        assert_eq!(code(check_origin(&t, &headers(&[("referer", "null")]))), Some("MISSING_OR_NULL_ORIGIN"));
        assert!(check_origin(&t, &headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")])).is_ok());
        assert_eq!(
            code(check_origin(&t, &headers(&[("origin", "null"), ("sec-fetch-site", "cross-site")]))),
            Some("MISSING_OR_NULL_ORIGIN")
        );
        assert_eq!(code(check_origin(&t, &headers(&[("origin", "https://evil.com")]))), Some("INVALID_ORIGIN"));
        assert!(check_origin(&t, &headers(&[("origin", "https://partner.io")])).is_ok());
        assert!(check_origin(&t, &headers(&[("referer", "https://app.example.com/settings?tab=1")])).is_ok());
        assert_eq!(code(check_origin(&t, &headers(&[("referer", "https://evil.com/app.example.com")]))), Some("INVALID_ORIGIN"));
        assert!(check_origin(&t, &headers(&[("origin", ""), ("referer", "https://partner.io/x")])).is_ok());
        assert_eq!(code(check_origin(&t, &headers(&[("origin", "/dashboard")]))), Some("INVALID_ORIGIN"));
        let two = headers(&[("origin", "https://partner.io"), ("origin", "https://evil.com")]);
        assert_eq!(code(check_origin(&t, &two)), Some("INVALID_ORIGIN"), "repeated headers are joined, as Headers.get does");
    }

    #[test]
    fn cookie_bearing_requests_need_a_trusted_origin() {
        let t = origins(&[]);
        let evil_with_cookie = headers(&[("cookie", "a=b"), ("origin", "https://evil.com")]);
        assert!(csrf_check(&t, &Method::GET, &evil_with_cookie, false).is_ok());
        assert!(csrf_check(&t, &Method::OPTIONS, &evil_with_cookie, true).is_ok());
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(code(csrf_check(&t, &m, &evil_with_cookie, false)), Some("INVALID_ORIGIN"), "{m}");
        }
        assert_eq!(code(csrf_check(&t, &Method::POST, &headers(&[("cookie", "")]), false)), Some("MISSING_OR_NULL_ORIGIN"));
        let good = headers(&[("cookie", "a=b"), ("origin", "https://app.example.com")]);
        assert!(csrf_check(&t, &Method::POST, &good, false).is_ok());
        // Observed: /sign-out with a bad Origin and no cookies is allowed.
        assert!(csrf_check(&t, &Method::POST, &headers(&[("origin", "https://evil.com")]), false).is_ok());
    }

    #[test]
    fn form_csrf_rules_for_first_logins() {
        let t = origins(&[]);
        let post = |h: &[(&str, &str)]| code(csrf_check(&t, &Method::POST, &headers(h), true));
        assert_eq!(
            post(&[("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "navigate"), ("origin", "https://app.example.com")]),
            Some("CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
        );
        assert_eq!(post(&[("sec-fetch-site", "same-origin")]), Some("MISSING_OR_NULL_ORIGIN"));
        assert_eq!(
            post(&[("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "cors"), ("origin", "https://evil.com")]),
            Some("INVALID_ORIGIN")
        );
        assert_eq!(post(&[("sec-fetch-mode", "cors"), ("origin", "https://app.example.com")]), None);
        assert_eq!(post(&[("sec-fetch-dest", "empty"), ("referer", "https://app.example.com/login")]), None);
        assert_eq!(post(&[("origin", "https://evil.com")]), Some("INVALID_ORIGIN"), "observed: bad Origin, no cookies");
        assert_eq!(post(&[("referer", "https://evil.com/x")]), Some("INVALID_ORIGIN"));
        assert_eq!(post(&[("origin", "null")]), Some("MISSING_OR_NULL_ORIGIN"));
        assert_eq!(post(&[]), None, "curl and server-to-server calls carry no browser signals");
        assert_eq!(post(&[("sec-fetch-site", "  ")]), None, "blank metadata counts as absent");
        assert_eq!(post(&[("cookie", "x=1"), ("origin", "https://evil.com")]), Some("INVALID_ORIGIN"));
    }

    #[test]
    fn url_fields_are_validated_with_their_own_codes() {
        let t = origins(&[]);
        let check = |body: Value, query: &[(&str, &str)]| {
            let q: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            check_url_fields(&t, Some(&body), &q)
        };
        assert!(check(json!({"callbackURL": "/dashboard", "redirectTo": "https://app.example.com/reset"}), &[]).is_ok());
        assert_eq!(code(check(json!({"callbackURL": "https://evil.com"}), &[])), Some("INVALID_CALLBACK_URL"));
        assert_eq!(code(check(json!({}), &[("callbackURL", "//evil.com")])), Some("INVALID_CALLBACK_URL"));
        assert_eq!(code(check(json!({"redirectTo": "https://evil.com"}), &[])), Some("INVALID_REDIRECT_URL"));
        assert_eq!(code(check(json!({"errorCallbackURL": "https://evil.com"}), &[])), Some("INVALID_ERROR_CALLBACK_URL"));
        assert_eq!(code(check(json!({"newUserCallbackURL": "/%2Fevil.com"}), &[])), Some("INVALID_NEW_USER_CALLBACK_URL"));
        // `body.callbackURL || query.callbackURL`: a truthy body value wins, an empty one defers.
        assert!(check(json!({"callbackURL": "/ok"}), &[("callbackURL", "https://evil.com")]).is_ok());
        assert_eq!(code(check(json!({"callbackURL": ""}), &[("callbackURL", "https://evil.com")])), Some("INVALID_CALLBACK_URL"));
        // Order: callbackURL is reported before redirectTo.
        assert_eq!(
            code(check(json!({"callbackURL": "https://evil.com", "redirectTo": "https://evil.com"}), &[])),
            Some("INVALID_CALLBACK_URL")
        );
    }

    #[test]
    fn non_string_url_fields_are_a_400() {
        let t = origins(&[]);
        let err = check_url_fields(&t, Some(&json!({"callbackURL": 5})), &[]).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.code, None);
        assert_eq!(err.message, "Invalid callbackURL: expected a string");
        let err = check_url_fields(&t, Some(&json!({"redirectTo": ["x"]})), &[]).unwrap_err();
        assert_eq!(err.message, "Invalid redirectURL: expected a string");
        let err = check_url_fields(&t, Some(&json!({"errorCallbackURL": {}})), &[]).unwrap_err();
        assert_eq!(err.message, "Invalid errorCallbackURL: expected a string");
        let err = check_url_fields(&t, Some(&json!({"newUserCallbackURL": true})), &[]).unwrap_err();
        assert_eq!(err.message, "Invalid newUserCallbackURL: expected a string");
        let repeated = vec![("callbackURL".to_string(), "/a".to_string()), ("callbackURL".to_string(), "/b".to_string())];
        assert_eq!(check_url_fields(&t, None, &repeated).unwrap_err().message, "Invalid callbackURL: expected a string");
        // Falsy values are absent, exactly as `value && validate(value)` in JS.
        for absent in [json!(null), json!(false), json!(0), json!("")] {
            assert!(check_url_fields(&t, Some(&json!({ "callbackURL": absent })), &[]).is_ok());
        }
        assert!(check_url_fields(&t, Some(&json!(["not", "an", "object"])), &[]).is_ok());
        assert!(check_url_fields(&t, None, &[]).is_ok());
    }

    /// Each row was run through Better Auth 1.7.24's own `matchesOriginPattern` (Node 20) with
    /// `https://app.example.com` prepended to the list; the last column is its answer.
    #[test]
    fn agrees_with_better_auth_1_7_24() {
        #[rustfmt::skip]
        let rows: &[(&[&str], &str, bool, bool)] = &[
            (&[], "/a?next=%2fevil", true, true),
            (&[], "/a/./b", true, true),
            (&[], "///evil.com", true, false),
            (&[], "/\t/evil.com", true, false),
            (&[], "/a\u{85}", true, false),
            (&[], "https://APP.example.com/", false, true),
            (&[], "https://app.example.com:443/a", false, true),
            (&[], "https://app.example.com@evil.com", false, false),
            (&[], "javascript:alert(1)//https://app.example.com", false, false),
            (&[], "null", false, false),
            (&[], "https://app.example.com\n", false, true),
            (&[], " https://app.example.com", false, true),
            (&["*.example.com"], "http://a.example.com", false, true),
            (&["*.example.com"], "https://a.example.com:8080", false, false),
            (&["https://app?.test.io"], "https://app1.test.io", false, true),
            (&["https://app?.test.io"], "https://app.test.io", false, false),
            (&["192.168.*.*"], "http://192.168.1.10:5173", false, true),
            (&["192.168.*.*"], "http://192.168.attacker.com", false, false),
            (&["https://10.0.*.*:3000"], "https://10.0.0.7:3000", false, true),
            (&["https://10.0.*.*:3000"], "https://10.0.0.7:4000", false, false),
            (&["myapp://callback"], "MYAPP://CALLBACK/any/path?x=1", false, true),
            (&["myapp://callback"], "myapp://callback.evil.tld", false, false),
            (&["exp://"], "exp://192.168.1.2:8081/--/home", false, true),
            (&["pinned://host/cb"], "pinned://host/cb/%2e%2e/evil", false, false),
            (&["pinned://host/cb"], "pinned://host/cbx", false, false),
            (&["pinned://host/cb"], "pinned://host/cb/deeper", false, true),
            (&["exp://192.168.*.*:*/**"], "exp://192.168.1.5:8081/--/x", false, true),
            (&["exp://192.168.*.*:*/**"], "exp://192.168.evil.io:8081/x", false, false),
            (&["app://*.example.com"], "app://user@a.example.com", false, false),
            (&["app://*.example.com"], "app://a.example.com", false, true),
            (&["https://a\\*.example.com"], "https://ab.example.com", false, false),
            (&["*"], "mailto:x@y", false, false),
            (&["*"], "null", false, false),
            (&["myapp://"], "myapp:anything", false, true),
            (&["http://[::1]:3000"], "http://[::1]:3000/x", false, true),
            (&["*:3000"], "http://[::1]:3000/x", false, true),
            (&["https://*.example.com"], "https://a.example.com.evil.com", false, false),
            (&["myapp://cb"], "myapp://cb?x=/evil", false, true),
            (&["myapp://cb"], "myapp://CB", false, true),
        ];
        for (patterns, url, relative, expected) in rows {
            assert_eq!(origins(patterns).matches(url, *relative), *expected, "{patterns:?} {url:?}");
        }
    }

    /// The rows where Portcullis answers differently on purpose (module doc); the last column is
    /// Better Auth 1.7.24's answer, which is always `true` here.
    #[test]
    fn deliberate_differences_from_better_auth() {
        #[rustfmt::skip]
        let rows: &[(&[&str], &str)] = &[
            (&["*"], "myapp://anything"),
            (&["*.example.com"], "javascript://app.example.com/%0aalert(1)"),
            (&["*"], "javascript://x/%0aalert(1)"),
            (&["*.example.com"], "myapp://app.example.com"),
            (&["file://"], "file:///etc/passwd"),
        ];
        for (patterns, url) in rows {
            assert!(!origins(patterns).matches(url, true), "{patterns:?} {url:?}");
        }
    }

    #[test]
    fn host_patterns_admit_only_http_and_https() {
        let t = origins(&["*.example.com", "*:3000"]);
        assert!(t.matches("https://a.example.com/cb", true));
        assert!(t.matches("http://a.example.com/cb", true));
        assert!(t.matches("http://localhost:3000/cb", true));
        for bad in [
            "javascript://app.example.com/%0aalert(1)",
            "JavaScript://app.example.com/%0aalert(1)",
            " javascript://app.example.com/%0aalert(1)",
            "java\tscript://app.example.com/%0aalert(1)",
            "vbscript://app.example.com/msgbox(1)",
            "data://app.example.com/text/html,<script>alert(1)</script>",
            "file://app.example.com/etc/passwd",
            "myapp://app.example.com",
            "ftp://app.example.com",
            "ws://app.example.com",
            "myapp://localhost:3000",
        ] {
            assert!(!t.matches(bad, true), "{bad:?}");
            assert!(!t.matches(bad, false), "{bad:?}");
        }
    }

    #[test]
    fn star_trusts_every_web_origin_and_no_app_scheme() {
        let t = origins(&["*"]);
        assert!(t.matches("https://anything.io/x", true));
        assert!(t.matches("http://10.0.0.1:8080", false));
        assert!(t.matches("/dashboard", true), "relative paths keep their rules");
        assert!(!t.matches("//evil.com", true));
        for bad in
            ["myapp://cb", "exp://192.168.1.2:8081/--/home", "javascript:alert(1)", "data:text/html,x", "vbscript:x", "file:///etc/passwd"]
        {
            assert!(!t.matches(bad, true), "{bad}");
        }
        let t = origins(&["*", "myapp://", "exp://192.168.*.*:*/**"]);
        assert!(t.matches("myapp://cb", true), "an app scheme is trusted once it is listed with its scheme");
        assert!(t.matches("exp://192.168.1.2:8081/--/home", true));
        assert!(!t.matches("otherapp://cb", true));
    }

    #[test]
    fn script_data_and_file_urls_are_never_trusted() {
        let t = origins(&["*", "javascript:", "data:", "vbscript://", "FILE://", "javascript://*", "data:*"]);
        for bad in [
            "javascript:alert(1)",
            "javascript://x/%0aalert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "vbscript://x",
            "file:///etc/passwd",
            "file://host/share",
        ] {
            assert!(!t.matches(bad, true), "{bad}");
            assert!(!t.matches(bad, false), "{bad}");
        }
        assert!(names_refused_scheme("javascript:") && names_refused_scheme("FILE://") && names_refused_scheme("data:*"));
        assert!(!names_refused_scheme("*.example.com") && !names_refused_scheme("myapp://") && !names_refused_scheme("*"));
    }

    #[test]
    fn decoding_and_path_normalisation() {
        assert_eq!(normalize_path("/a/./b/../c/"), "/a/c");
        assert_eq!(normalize_path("/%2e%2e/x"), "/x");
        assert_eq!(normalize_path("/bad%zz/.."), "", "undecodable paths are resolved raw");
        assert_eq!(normalize_path(""), "");
        assert_eq!(decode_uri_component("%"), None);
        assert_eq!(decode_uri_component("%ff"), None);
        assert_eq!(decode_uri_component("%C3%A9").as_deref(), Some("é"));
        assert_eq!(decode_uri_component("%+1"), None);
    }
}
