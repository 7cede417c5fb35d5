//! Response-header helpers shared by capabilities.

use axum::http::{HeaderMap, HeaderValue};

/// Adds `name` to `Access-Control-Expose-Headers`, keeping what is there (Better Auth's jwt and
/// bearer plugins both do this: split on `,`, trim, de-duplicate, join with `, `).
pub fn expose(headers: &mut HeaderMap, name: &str) {
    let mut names: Vec<String> = Vec::new();
    let present = headers.get_all("access-control-expose-headers").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    for n in present.map(str::trim).chain(std::iter::once(name)) {
        if !n.is_empty() && !names.iter().any(|have| have.eq_ignore_ascii_case(n)) {
            names.push(n.to_string());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
        headers.insert("access-control-expose-headers", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_expose_headers() {
        let mut h = HeaderMap::new();
        expose(&mut h, "set-auth-token");
        expose(&mut h, "set-auth-jwt");
        expose(&mut h, "set-auth-jwt");
        assert_eq!(h["access-control-expose-headers"], "set-auth-token, set-auth-jwt");
    }
}
