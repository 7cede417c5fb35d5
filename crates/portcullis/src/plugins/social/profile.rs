//! Who the provider says the user is: per-provider user-info calls and their mapping onto
//! Better Auth's `{id, name, email, emailVerified, image}` (spec §11.4).
//!
//! ID tokens obtained in a flow are always verified here (signature, issuer, audience, expiry,
//! nonce) before a single claim is used.

use super::config::ProviderKind;
use super::oauth::Tokens;
use super::provider::{Endpoints, Provider};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Profile {
    /// The account id (provider subject), as a string.
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: String,
    pub image: Option<String>,
    /// The provider's raw profile (account-info's `data`).
    pub raw: Value,
}

fn str_of(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || matches!(v, Some(Value::String(s)) if s == "true")
}

/// The subject as Better Auth stringifies it; empty, `"undefined"` and `"null"` are no subject.
fn subject(s: Option<String>) -> Result<String, String> {
    s.filter(|s| !s.is_empty() && s != "undefined" && s != "null").ok_or_else(|| "the provider returned no subject".to_string())
}

/// Standard OIDC claims → profile.
fn from_claims(claims: Value, id: Option<String>) -> Result<Profile, String> {
    Ok(Profile {
        id: subject(id.or_else(|| str_of(&claims, "sub")))?,
        email: str_of(&claims, "email"),
        email_verified: truthy(claims.get("email_verified")),
        name: str_of(&claims, "name").unwrap_or_default(),
        image: str_of(&claims, "picture"),
        raw: claims,
    })
}

async fn get_json(http: &reqwest::Client, url: &str, access_token: &str) -> Result<Value, String> {
    let res = http
        .get(url)
        .bearer_auth(access_token)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("user info unreachable: {}", e.without_url()))?;
    if !res.status().is_success() {
        return Err(format!("user info: HTTP {}", res.status()));
    }
    res.json().await.map_err(|e| format!("user info: {}", e.without_url()))
}

/// The profile of a finished flow. `nonce` binds a verified id_token to this flow; `apple_user` is
/// Apple's one-time `user` form field.
pub async fn fetch(
    http: &reqwest::Client,
    p: &Provider,
    ep: &Endpoints,
    tokens: &Tokens,
    nonce: Option<&str>,
    apple_user: Option<&str>,
) -> Result<Profile, String> {
    let access = tokens.access_token.as_deref().unwrap_or("");
    match p.kind {
        ProviderKind::Oidc | ProviderKind::Google => match &tokens.id_token {
            Some(t) => from_claims(super::jwt::verify_id_token(http, p, ep, t, nonce).await?, None),
            None => {
                let url = ep.userinfo.as_deref().ok_or("no id_token and no userinfo endpoint")?;
                let claims = get_json(http, url, access).await?;
                from_claims(claims, None)
            }
        },
        ProviderKind::Microsoft => {
            let t = tokens.id_token.as_deref().ok_or("no id_token")?;
            let claims = super::jwt::verify_id_token(http, p, ep, t, nonce).await?;
            microsoft(claims)
        }
        ProviderKind::Apple => {
            let t = tokens.id_token.as_deref().ok_or("no id_token")?;
            let claims = super::jwt::verify_id_token(http, p, ep, t, None).await?;
            apple(claims, apple_user)
        }
        ProviderKind::Github => github(http, p, ep, access).await,
        ProviderKind::Facebook => match tokens.id_token.as_deref().filter(|t| t.split('.').count() == 3) {
            Some(t) => facebook_claims(super::jwt::verify_id_token(http, p, ep, t, nonce).await?),
            None => facebook(http, p, ep, access).await,
        },
        ProviderKind::Twitter => twitter(http, p, ep, access).await,
        ProviderKind::Discord => {
            let url = ep.userinfo.as_deref().ok_or("no userinfo endpoint")?;
            discord(get_json(http, url, access).await?)
        }
        ProviderKind::Oauth2 => {
            let url = ep.userinfo.as_deref().ok_or("no userinfo endpoint")?;
            let raw = get_json(http, url, access).await?;
            let m = &p.cfg.mapping;
            Ok(Profile {
                id: subject(str_of(&raw, &m.id))?,
                email: str_of(&raw, &m.email),
                email_verified: truthy(m.email_verified.split('.').try_fold(&raw, |v, k| v.get(k))),
                name: str_of(&raw, &m.name).unwrap_or_default(),
                image: str_of(&raw, &m.image),
                raw,
            })
        }
    }
}

/// account-info's profile for a stored account: the stored id_token's claims where the provider's
/// profile is its id_token, otherwise a live user-info call.
pub async fn for_account(
    http: &reqwest::Client,
    p: &Provider,
    ep: &Endpoints,
    access_token: &str,
    id_token: Option<&str>,
) -> Result<Profile, String> {
    let claims = id_token.and_then(super::jwt::unverified_claims);
    match (p.kind, claims) {
        (ProviderKind::Oidc | ProviderKind::Google, Some(c)) => from_claims(c, None),
        (ProviderKind::Microsoft, Some(c)) => microsoft(c),
        (ProviderKind::Apple, Some(c)) => apple(c, None),
        (ProviderKind::Oidc | ProviderKind::Google | ProviderKind::Microsoft | ProviderKind::Apple, None) => {
            let url = ep.userinfo.as_deref().ok_or("no id_token and no userinfo endpoint")?;
            from_claims(get_json(http, url, access_token).await?, None)
        }
        _ => {
            let tokens = Tokens { access_token: Some(access_token.to_string()), ..Default::default() };
            fetch(http, p, ep, &tokens, None, None).await
        }
    }
}

/// The profile of a verified ID token a client submitted (`idToken`); `apple_user` is the
/// `user` object the client passed along (Apple's one-time name), as JSON.
pub fn from_id_token(p: &Provider, claims: Value, apple_user: Option<&str>) -> Result<Profile, String> {
    match p.kind {
        ProviderKind::Microsoft => microsoft(claims),
        ProviderKind::Apple => apple(claims, apple_user),
        ProviderKind::Facebook => facebook_claims(claims),
        _ => from_claims(claims, None),
    }
}

fn microsoft(claims: Value) -> Result<Profile, String> {
    // 1.7: the account id is the object id, stable across the user's apps (`sub` is per app).
    let id = str_of(&claims, "oid").or_else(|| str_of(&claims, "sub"));
    let email = str_of(&claims, "email");
    let listed = |k: &str| {
        email.as_ref().is_some_and(|e| claims.get(k).and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x.as_str() == Some(e))))
    };
    let verified = if claims.get("email_verified").is_some() {
        truthy(claims.get("email_verified"))
    } else {
        listed("verified_primary_email") || listed("verified_secondary_email")
    };
    let mut p = from_claims(claims.clone(), id)?;
    p.email_verified = verified;
    p.image = None;
    Ok(p)
}

fn apple(claims: Value, user: Option<&str>) -> Result<Profile, String> {
    let mut p = from_claims(claims, None)?;
    // Apple sends the name once, in the `user` form field of the first authorization.
    let from_user = user.and_then(|u| serde_json::from_str::<Value>(u).ok()).map(|u| {
        let first = str_of(&u, "name.firstName").unwrap_or_default();
        let last = str_of(&u, "name.lastName").unwrap_or_default();
        format!("{first} {last}").trim().to_string()
    });
    if let Some(n) = from_user.filter(|n| !n.is_empty()) {
        p.name = n;
    }
    p.image = None;
    Ok(p)
}

/// A Facebook Limited Login ID token: Better Auth maps `name`, `email` and `picture`, and never
/// takes the e-mail as verified.
fn facebook_claims(claims: Value) -> Result<Profile, String> {
    let mut p = from_claims(claims, None)?;
    p.email_verified = false;
    Ok(p)
}

/// Facebook's Graph `/me`, after `debug_token` shows the access token was issued to this app for
/// that user (Graph tokens are not audience-bound: a token of another app would read its profile).
async fn facebook(http: &reqwest::Client, p: &Provider, ep: &Endpoints, access: &str) -> Result<Profile, String> {
    let secret = p.client_secret()?.ok_or("facebook needs a client secret")?;
    let debug = format!("{}/debug_token", p.api("https://graph.facebook.com"));
    let app_token = format!("{}|{secret}", p.cfg.client_id);
    let res = http
        .get(&debug)
        .query(&[("input_token", access), ("access_token", app_token.as_str())])
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("debug_token unreachable: {}", e.without_url()))?;
    if !res.status().is_success() {
        return Err(format!("debug_token: HTTP {}", res.status()));
    }
    let info: Value = res.json().await.map_err(|e| format!("debug_token: {}", e.without_url()))?;
    let app = str_of(&info, "data.app_id").unwrap_or_default();
    let ours = app == p.cfg.client_id || p.cfg.audience.contains(&app);
    let token_user = str_of(&info, "data.user_id").filter(|_| ours && info.pointer("/data/is_valid") == Some(&Value::Bool(true)));
    let token_user = token_user.ok_or("debug_token: the access token is not valid for this app")?;
    let url = ep.userinfo.as_deref().ok_or("no userinfo endpoint")?;
    let raw = get_json(http, url, access).await?;
    let id = subject(str_of(&raw, "id"))?;
    if id != token_user {
        return Err("facebook: the profile is not the token's user".into());
    }
    Ok(Profile {
        email: str_of(&raw, "email"),
        email_verified: truthy(raw.get("email_verified")),
        name: str_of(&raw, "name").unwrap_or_default(),
        image: str_of(&raw, "picture.data.url"),
        id,
        raw,
    })
}

/// X's `/2/users/me` (`profile_image_url`), then the same with `confirmed_email`, which only apps
/// with e-mail access get. Without it, as Better Auth: `<id>@twitter.placeholder.invalid`,
/// unverified.
async fn twitter(http: &reqwest::Client, p: &Provider, ep: &Endpoints, access: &str) -> Result<Profile, String> {
    let url = ep.userinfo.as_deref().ok_or("no userinfo endpoint")?;
    let mut raw = get_json(http, url, access).await?;
    let id = subject(str_of(&raw, "data.id"))?;
    let email_url = format!("{}/2/users/me?user.fields=confirmed_email", p.api("https://api.x.com"));
    let confirmed = get_json(http, &email_url, access).await.ok().and_then(|v| str_of(&v, "data.confirmed_email"));
    if let (Some(e), Some(Value::Object(data))) = (&confirmed, raw.get_mut("data")) {
        data.insert("email".into(), Value::String(e.clone()));
    }
    let email = str_of(&raw, "data.email").unwrap_or_else(|| format!("{id}@twitter.placeholder.invalid"));
    Ok(Profile {
        email: Some(email),
        email_verified: confirmed.is_some(),
        name: str_of(&raw, "data.name").unwrap_or_default(),
        image: str_of(&raw, "data.profile_image_url"),
        id,
        raw,
    })
}

fn discord(raw: Value) -> Result<Profile, String> {
    let id = subject(str_of(&raw, "id"))?;
    let image = match str_of(&raw, "avatar") {
        Some(a) => {
            let ext = if a.starts_with("a_") { "gif" } else { "png" };
            format!("https://cdn.discordapp.com/avatars/{id}/{a}.{ext}")
        }
        None => {
            // Default avatars: (id >> 22) % 6 for new usernames, discriminator % 5 for legacy ones.
            let disc = str_of(&raw, "discriminator").and_then(|d| d.parse::<u64>().ok()).unwrap_or(0);
            let n = if disc == 0 { id.parse::<u64>().map(|v| (v >> 22) % 6).unwrap_or(0) } else { disc % 5 };
            format!("https://cdn.discordapp.com/embed/avatars/{n}.png")
        }
    };
    Ok(Profile {
        email: str_of(&raw, "email"),
        email_verified: truthy(raw.get("verified")),
        name: str_of(&raw, "global_name").or_else(|| str_of(&raw, "username")).unwrap_or_default(),
        image: Some(image),
        id,
        raw,
    })
}

async fn github(http: &reqwest::Client, p: &Provider, ep: &Endpoints, access: &str) -> Result<Profile, String> {
    let url = ep.userinfo.as_deref().ok_or("no userinfo endpoint")?;
    let raw = get_json(http, url, access).await?;
    let id = subject(str_of(&raw, "id"))?;
    let mut email = str_of(&raw, "email");
    let mut verified = false;
    // Private e-mails are only in /user/emails; it also carries the `verified` flag.
    if let Ok(Value::Array(list)) = get_json(http, &format!("{}/user/emails", p.github_api()), access).await {
        if email.is_none() {
            let primary = list.iter().find(|e| truthy(e.get("primary"))).or_else(|| list.first());
            email = primary.and_then(|e| str_of(e, "email"));
        }
        if let Some(e) = &email {
            verified = list.iter().any(|x| x.get("email").and_then(Value::as_str) == Some(e.as_str()) && truthy(x.get("verified")));
        }
    }
    Ok(Profile {
        name: str_of(&raw, "name").or_else(|| str_of(&raw, "login")).unwrap_or_default(),
        image: str_of(&raw, "avatar_url"),
        email,
        email_verified: verified,
        id,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn discord_mapping() {
        let p = discord(
            json!({"id":"80351110224678912","username":"nelly","global_name":null,"avatar":"a_abc","verified":true,"email":"n@x.io"}),
        )
        .unwrap();
        assert_eq!(p.name, "nelly");
        assert_eq!(p.image.as_deref(), Some("https://cdn.discordapp.com/avatars/80351110224678912/a_abc.gif"));
        assert!(p.email_verified);
        let no_email = discord(json!({"id":"1","username":"u","avatar":null,"discriminator":"0"})).unwrap();
        assert_eq!(no_email.email, None);
        assert!(discord(json!({"username":"u"})).is_err());
    }

    #[test]
    fn microsoft_uses_oid() {
        let p = microsoft(json!({"sub":"s","oid":"o","email":"a@b.c","verified_primary_email":["a@b.c"],"name":"N"})).unwrap();
        assert_eq!(p.id, "o");
        assert!(p.email_verified);
    }

    #[test]
    fn apple_name_from_user_field() {
        let p = apple(json!({"sub":"s","email":"a@b.c","email_verified":"true"}), Some(r#"{"name":{"firstName":"Ann","lastName":"Lee"}}"#))
            .unwrap();
        assert_eq!(p.name, "Ann Lee");
        assert!(p.email_verified);
    }
}
