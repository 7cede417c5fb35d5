//! HTTP pieces shared by the suites' clients: a client that does not follow redirects, a cookie
//! jar (reqwest is used without its cookie feature) and a response read in full.

use reqwest::header::HeaderMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A reqwest client that does not follow redirects.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client")
}

/// A reqwest client that does not follow redirects and gives up after 30 seconds.
pub fn no_redirects_with_timeout() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build().expect("http client")
}

/// Cookies by name, in the order they were set. Clones share the jar; [`CookieJar::copy`] does not.
#[derive(Clone, Default)]
pub struct CookieJar(Arc<Mutex<Vec<(String, String)>>>);

impl CookieJar {
    /// A jar of its own holding the same cookies.
    pub fn copy(&self) -> CookieJar {
        CookieJar(Arc::new(Mutex::new(self.0.lock().expect("jar").clone())))
    }
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.lock().expect("jar").iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
    pub fn names(&self) -> Vec<String> {
        self.0.lock().expect("jar").iter().map(|(k, _)| k.clone()).collect()
    }
    pub fn set(&self, name: &str, value: &str) {
        let mut jar = self.0.lock().expect("jar");
        jar.retain(|(k, _)| k != name);
        jar.push((name.to_string(), value.to_string()));
    }
    pub fn remove(&self, name: &str) {
        self.0.lock().expect("jar").retain(|(k, _)| k != name);
    }

    /// Applies one `Set-Cookie` line: stores the cookie, or removes it when it is empty or expired.
    pub fn store(&self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
        let (name, value) = (name.trim(), value.trim());
        let expired = parts.any(|a| {
            let a = a.trim().to_ascii_lowercase();
            a.strip_prefix("max-age=").and_then(|n| n.parse::<i64>().ok()).is_some_and(|n| n <= 0)
        });
        let mut jar = self.0.lock().expect("jar");
        jar.retain(|(k, _)| k != name);
        if !expired && !value.is_empty() {
            jar.push((name.to_string(), value.to_string()));
        }
    }

    /// The `Cookie` header for the jar, or `None` when it is empty.
    pub fn header(&self) -> Option<String> {
        let jar = self.0.lock().expect("jar");
        if jar.is_empty() {
            return None;
        }
        Some(jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }
}

/// A response read in full.
pub struct RawResp {
    pub status: u16,
    pub headers: HeaderMap,
    /// Every `Set-Cookie` line, in order.
    pub set_cookies: Vec<String>,
    pub text: String,
}

impl RawResp {
    /// Panics if the body cannot be read.
    pub async fn read(res: reqwest::Response) -> RawResp {
        let (status, headers, set_cookies) = Self::head(&res);
        let text = res.text().await.expect("body");
        RawResp { status, headers, set_cookies, text }
    }
    /// An unreadable body reads as empty.
    pub async fn read_or_empty(res: reqwest::Response) -> RawResp {
        let (status, headers, set_cookies) = Self::head(&res);
        let text = res.text().await.unwrap_or_default();
        RawResp { status, headers, set_cookies, text }
    }
    fn head(res: &reqwest::Response) -> (u16, HeaderMap, Vec<String>) {
        let headers = res.headers().clone();
        let set_cookies = headers.get_all("set-cookie").iter().map(|v| v.to_str().expect("ascii set-cookie").to_string()).collect();
        (res.status().as_u16(), headers, set_cookies)
    }
}
