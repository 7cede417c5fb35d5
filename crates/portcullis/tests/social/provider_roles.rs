//! Roles from the identity provider (`[admin.provider_roles]`): a fake Discord guild API (real
//! HTTP) decides the role and the landing page of a social sign-in end to end; a member who loses
//! the guild role or leaves the guild loses the role at the next sign-in; an API failure fails
//! closed without an error; an OIDC `groups` claim grants a role.

use super::{begin, sign_in};
use crate::harness::{at_idp, Browser, Server};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use portcullis::access::RoleDef;
use portcullis::plugins::admin::config::{AdminConfig, ProviderRoleRule};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const GUILD: &str = "1111";
const MOD_ROLE: &str = "9999";

/// What the fake Discord API answers, for whoever calls (one user per test).
#[derive(Default)]
struct Guilds {
    /// Guild ids the user is a member of, and their member roles there.
    member_of: Vec<(String, Vec<String>)>,
    /// Answer 500 to everything.
    down: bool,
    /// Authorization headers seen.
    seen: Vec<String>,
}

#[derive(Clone)]
struct FakeDiscord {
    url: String,
    state: Arc<Mutex<Guilds>>,
}

impl FakeDiscord {
    async fn start() -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Guilds::default()));
        let app = Router::new()
            .route("/api/users/@me/guilds", get(guilds))
            .route("/api/users/@me/guilds/{guild}/member", get(member))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeDiscord { url, state }
    }
    fn set(&self, member_of: &[(&str, &[&str])]) {
        self.state.lock().unwrap().member_of =
            member_of.iter().map(|(g, r)| (g.to_string(), r.iter().map(|x| x.to_string()).collect())).collect();
    }
}

fn seen(st: &Mutex<Guilds>, h: &HeaderMap) -> bool {
    let auth = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let ok = auth.starts_with("Bearer at-");
    st.lock().unwrap().seen.push(auth);
    ok
}

async fn guilds(State(st): State<Arc<Mutex<Guilds>>>, h: HeaderMap) -> Response {
    if !seen(&st, &h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let g = st.lock().unwrap();
    if g.down {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let list: Vec<Value> = g.member_of.iter().map(|(id, _)| json!({"id": id, "name": format!("guild {id}"), "owner": false})).collect();
    Json(json!(list)).into_response()
}

async fn member(State(st): State<Arc<Mutex<Guilds>>>, Path(guild): Path<String>, h: HeaderMap) -> Response {
    if !seen(&st, &h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let g = st.lock().unwrap();
    if g.down {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    match g.member_of.iter().find(|(id, _)| *id == guild) {
        Some((_, roles)) => Json(json!({"roles": roles, "nick": null})).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Unknown Guild", "code": 10004}))).into_response(),
    }
}

fn rule(provider: &str, roles: &[&str]) -> ProviderRoleRule {
    ProviderRoleRule { provider: provider.into(), roles: roles.iter().map(|r| r.to_string()).collect(), ..Default::default() }
}

fn admin_with_rules(c: &mut portcullis::Config, rules: Vec<ProviderRoleRule>) {
    let a = c.section_mut::<AdminConfig>().expect("[admin] parses");
    a.enabled = true;
    a.roles.insert("staff".into(), RoleDef::default());
    a.roles.insert("moderator".into(), RoleDef::default());
    a.provider_roles.rules = rules;
}

async fn role(b: &mut Browser, srv: &Server) -> Value {
    b.get(&srv.url("/get-session?disableCookieCache=true")).await.body["user"]["role"].clone()
}

crate::on_both_backends!(discord_guild_decides_role_and_landing, discord_guild_test,);

async fn discord_guild_test(backend: crate::common::Backend) {
    let fake = FakeDiscord::start().await;
    let api = fake.url.clone();
    let srv = Server::start(backend, move |c| {
        let d = crate::common::social(c).providers.get_mut("discord").unwrap();
        d.api_url = Some(api);
        d.scopes = vec!["guilds".into(), "guilds.members.read".into()];
        let member = ProviderRoleRule { guild: Some(GUILD.into()), ..rule("discord", &["staff"]) };
        let moderator = ProviderRoleRule {
            guild: Some(GUILD.into()),
            guild_role: Some(MOD_ROLE.into()),
            redirect: Some("/moderation".into()),
            ..rule("discord", &["moderator"])
        };
        admin_with_rules(c, vec![member, moderator]);
    })
    .await;
    srv.idp.user("gamer", Some("gamer@example.com"), true);

    // A member holding the guild role: both roles, and the moderator's landing page.
    fake.set(&[("42", &[]), (GUILD, &["5", MOD_ROLE])]);
    let mut b = Browser::new(&srv);
    let url = begin(&srv, &mut b, "discord", json!({})).await;
    assert!(url.contains("guilds.members.read"), "{url}");
    let r = b.get(&at_idp(&url).await).await;
    assert_eq!(r.location.as_deref(), Some("/moderation"), "the rule's landing replaces /welcome");
    assert_eq!(role(&mut b, &srv).await, "user,staff,moderator");
    assert!(fake.state.lock().unwrap().seen.iter().all(|a| a.starts_with("Bearer at-")), "the user's access token");

    // Still a member, without the guild role: the moderator role goes, the callbackURL is used.
    fake.set(&[(GUILD, &["5"])]);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "discord").await;
    assert_eq!(r.location.as_deref(), Some("/dashboard"));
    assert_eq!(role(&mut b, &srv).await, "user,staff");

    // Left the guild: no provider role left.
    fake.set(&[("42", &[])]);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "discord").await;
    assert_eq!(r.location.as_deref(), Some("/dashboard"));
    assert_eq!(role(&mut b, &srv).await, "user");

    // An admin-set role is not the provider's to take away.
    portcullis::plugins::admin::manage::set_role(&srv.auth, "gamer@example.com", "admin").await.unwrap();
    fake.set(&[(GUILD, &[])]);
    let mut b = Browser::new(&srv);
    sign_in(&srv, &mut b, "discord").await;
    assert_eq!(role(&mut b, &srv).await, "admin,staff");

    // Discord down: fail closed (no provider role), the sign-in itself still succeeds.
    fake.state.lock().unwrap().down = true;
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "discord").await;
    assert_eq!(r.location.as_deref(), Some("/dashboard"), "no error redirect");
    assert!(b.has_session());
    assert_eq!(role(&mut b, &srv).await, "admin");
    srv.stop().await;
}

crate::both!(
    oidc_groups_claim_grants_a_role,
    config = |c: &mut portcullis::Config| {
        let staff = ProviderRoleRule { claim: Some("groups".into()), contains: Some("staff".into()), ..rule("fake", &["staff"]) };
        let untrusted = ProviderRoleRule {
            claim: Some("tier".into()),
            equals: Some("gold".into()),
            redirect: Some("https://evil.example/x".into()),
            ..rule("fake", &["moderator"])
        };
        admin_with_rules(c, vec![staff, untrusted]);
    },
    |srv: Server| async move {
        srv.idp.user("oli", Some("oli@example.com"), true);
        srv.idp.claims("oli", json!({"groups": ["eng", "staff"]}));
        let mut b = Browser::new(&srv);
        let r = sign_in(&srv, &mut b, "fake").await;
        assert_eq!(r.location.as_deref(), Some("/welcome"));
        assert_eq!(role(&mut b, &srv).await, "user,staff");

        // An untrusted landing is ignored: the callbackURL stays.
        srv.idp.claims("oli", json!({"groups": ["eng"], "tier": "gold"}));
        let mut b = Browser::new(&srv);
        let r = sign_in(&srv, &mut b, "fake").await;
        assert_eq!(r.location.as_deref(), Some("/dashboard"));
        assert_eq!(role(&mut b, &srv).await, "user,moderator", "left the group: staff removed");
        srv
    }
);

crate::on_both_backends!(discord_down_with_on_error_refuse_refuses_the_sign_in, discord_down_refuse_test,);

// `on_error = "refuse"`: when Discord cannot be asked, the sign-in is refused (a redirect with
// `error=PROVIDER_ROLES_UNAVAILABLE`), never a 500, and no session is made.
async fn discord_down_refuse_test(backend: crate::common::Backend) {
    let fake = FakeDiscord::start().await;
    let api = fake.url.clone();
    let srv = Server::start(backend, move |c| {
        crate::common::social(c).providers.get_mut("discord").unwrap().api_url = Some(api);
        admin_with_rules(c, vec![ProviderRoleRule { guild: Some(GUILD.into()), ..rule("discord", &["staff"]) }]);
        c.section_mut::<AdminConfig>().unwrap().provider_roles.on_error = portcullis::plugins::admin::config::OnLookupError::Refuse;
    })
    .await;
    srv.idp.user("locked", Some("locked@example.com"), true);
    fake.state.lock().unwrap().down = true;
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "discord").await;
    let location = r.location.clone().unwrap_or_default();
    assert!(r.status < 500 && location.contains("error=PROVIDER_ROLES_UNAVAILABLE"), "{} {location}", r.status);
    assert!(!b.has_session());

    // Discord back: the same browser signs in and gets the role.
    fake.state.lock().unwrap().down = false;
    fake.set(&[(GUILD, &[])]);
    let mut b = Browser::new(&srv);
    sign_in(&srv, &mut b, "discord").await;
    assert!(b.has_session());
    assert_eq!(role(&mut b, &srv).await, "user,staff");
    srv.stop().await;
}

crate::on_both_backends!(a_role_from_discord_can_require_two_factor, discord_role_needs_two_factor_test,);

// The admin capability's hook derives the role before two-factor's hook looks at it: a user whom
// the guild makes `staff` (a role that requires two-factor) is sent to set it up on that very
// sign-in, without a session; outside the guild the same user signs in normally.
async fn discord_role_needs_two_factor_test(backend: crate::common::Backend) {
    use portcullis::plugins::two_factor::config::TwoFactorConfig;
    let fake = FakeDiscord::start().await;
    let api = fake.url.clone();
    let srv = Server::start(backend, move |c| {
        crate::common::social(c).providers.get_mut("discord").unwrap().api_url = Some(api);
        admin_with_rules(c, vec![ProviderRoleRule { guild: Some(GUILD.into()), ..rule("discord", &["staff"]) }]);
        let tf = c.section_mut::<TwoFactorConfig>().unwrap();
        tf.enabled = true;
        tf.allow_passwordless = true;
        tf.required_for_roles = vec!["staff".into()];
        tf.setup_page = Some("/setup-2fa".into());
        tf.two_factor_page = Some("/two-factor".into());
    })
    .await;
    srv.idp.user("member", Some("member@example.com"), true);

    fake.set(&[("42", &[])]);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "discord").await;
    assert_eq!(r.location.as_deref(), Some("/welcome"), "not staff: a normal sign-in (a new user)");
    assert!(b.has_session());

    fake.set(&[(GUILD, &[])]);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "discord").await;
    assert_eq!(r.location.as_deref(), Some("/setup-2fa"), "staff from the guild: two-factor first");
    assert!(!b.has_session());
    assert!(b.jar.contains_key("better-auth.two_factor"));
    srv.stop().await;
}
