// Social sign-in with the real better-auth client (1.7.24): signIn.social, linkSocial, listAccounts
// and unlinkAccount against a running server whose provider `fake` is the local fake OIDC provider
// (fake-idp.mjs). The test plays the browser: a cookie jar for the app's site, the authorization
// URL followed to the IdP (which signs the current user in without a login page) and its redirect
// followed back to /api/auth/callback/fake.
//
// Environment (set by run.sh): BASE_URL (server origin, without /api/auth), IDP_URL (fake IdP).
//
// Every case here is provider-agnostic Better Auth behaviour, so it also holds against Better Auth
// itself with an OIDC provider `fake` configured.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createAuthClient } from "better-auth/client";

const BASE_URL = (process.env.BASE_URL || "http://127.0.0.1:4100").replace(/\/+$/, "");
const AUTH = `${BASE_URL}/api/auth`;
const ORIGIN = new URL(BASE_URL).origin;
const IDP_URL = (process.env.IDP_URL || "").replace(/\/+$/, "");
const SESSION = "better-auth.session_token";
const STATE = "better-auth.state";

/** The cookies of one browser profile on the app's site. */
class Jar {
  constructor() {
    this.cookies = new Map();
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  has(name) {
    return this.cookies.has(name);
  }
  absorb(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const maxAge = attrs.find((a) => /^max-age=/i.test(a));
      const gone = value === "" || (maxAge && Number(maxAge.split("=")[1]) <= 0);
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

/** fetch through a jar, redirects not followed; `origin` is sent like a browser's same-origin fetch. */
function jarFetch(jar, { origin = ORIGIN } = {}) {
  return async (input, init = {}) => {
    const headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
    if (jar.header()) headers.set("cookie", jar.header());
    if (origin && !headers.has("origin")) headers.set("origin", origin);
    const res = await fetch(input, { ...init, headers, redirect: "manual" });
    jar.absorb(res);
    return res;
  };
}

function client(jar = new Jar()) {
  return createAuthClient({ baseURL: BASE_URL, fetchOptions: { customFetchImpl: jarFetch(jar) } });
}

const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let seq = 0;
/** A fresh identity, unique across runs on the same database. */
function identity(label) {
  seq += 1;
  return { sub: `${label}-${run}-${seq}`, email: `${label}-${run}-${seq}@example.com`, name: `${label} ${seq}` };
}

/** Who the fake IdP signs in from now on. */
async function idpUser(u) {
  const res = await fetch(`${IDP_URL}/__user`, { method: "POST", body: JSON.stringify(u) });
  assert.equal(res.status, 200);
}

/**
 * The browser part of the flow: the authorization URL at the IdP (no cookies of the app's site go
 * there), then the IdP's redirect back to the callback, a top-level navigation with the jar.
 * Returns the callback's response.
 */
async function followToCallback(jar, authorizationURL) {
  const atIdp = await fetch(authorizationURL, { redirect: "manual" });
  assert.equal(atIdp.status, 302, `the IdP refused: ${await atIdp.text()}`);
  const back = atIdp.headers.get("location");
  assert.ok(back.startsWith(`${AUTH}/callback/fake?`), back);
  return { back, res: await jarFetch(jar, { origin: null })(back) };
}

test("prerequisites: server and fake IdP are up", async () => {
  assert.ok(IDP_URL, "IDP_URL is set (run.sh)");
  const ok = await fetch(`${AUTH}/ok`);
  assert.equal(ok.status, 200);
  const disco = await (await fetch(`${IDP_URL}/.well-known/openid-configuration`)).json();
  assert.equal(disco.issuer, IDP_URL);
});

test("signIn.social: the redirect dance signs a new user in", async () => {
  const who = identity("social");
  await idpUser({ sub: who.sub, email: who.email, email_verified: true, name: who.name });
  const jar = new Jar();
  const c = client(jar);
  const { data, error } = await c.signIn.social({ provider: "fake", callbackURL: "/dashboard" });
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(data.redirect, true);
  const url = new URL(data.url);
  assert.equal(`${url.origin}${url.pathname}`, `${IDP_URL}/authorize`);
  assert.equal(url.searchParams.get("response_type"), "code");
  assert.equal(url.searchParams.get("redirect_uri"), `${AUTH}/callback/fake`);
  assert.equal(url.searchParams.get("code_challenge_method"), "S256");
  assert.equal(url.searchParams.get("state").length, 32);
  assert.ok(jar.has(STATE), "the state cookie binds the flow to this browser");
  assert.ok(!jar.has(SESSION));

  const { res } = await followToCallback(jar, data.url);
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("location"), "/dashboard");
  assert.ok(jar.has(SESSION), "signed in");
  assert.ok(!jar.has(STATE), "the state cookie is spent");

  const s = await c.getSession();
  assert.equal(s.error, null);
  assert.equal(s.data.user.email, who.email);
  assert.equal(s.data.user.name, who.name);
  assert.equal(s.data.user.emailVerified, true);
});

test("signIn.social: newUserCallbackURL for a new user, callbackURL when they come back", async () => {
  const who = identity("returning");
  await idpUser({ sub: who.sub, email: who.email, email_verified: true });
  const body = { provider: "fake", callbackURL: "/dashboard", newUserCallbackURL: "/welcome" };
  const first = new Jar();
  const r1 = await client(first).signIn.social(body);
  assert.equal((await followToCallback(first, r1.data.url)).res.headers.get("location"), "/welcome");
  const second = new Jar();
  const c2 = client(second);
  const r2 = await c2.signIn.social(body);
  assert.equal((await followToCallback(second, r2.data.url)).res.headers.get("location"), "/dashboard");
  const s = await c2.getSession();
  assert.equal(s.data.user.email, who.email);
  const accounts = await c2.listAccounts();
  assert.equal(accounts.error, null);
  assert.equal(accounts.data.filter((a) => a.providerId === "fake").length, 1, "one account, reused");
});

test("a callback replayed by another browser is refused and signs nobody in", async () => {
  const who = identity("replay");
  await idpUser({ sub: who.sub, email: who.email, email_verified: true });
  const jar = new Jar();
  const { data } = await client(jar).signIn.social({ provider: "fake", callbackURL: "/dashboard" });
  const { back, res } = await followToCallback(jar, data.url);
  assert.equal(res.headers.get("location"), "/dashboard");

  const thief = new Jar();
  const again = await jarFetch(thief, { origin: null })(back);
  assert.equal(again.status, 302);
  const to = new URL(again.headers.get("location"), BASE_URL);
  assert.equal(to.searchParams.get("error"), "state_mismatch");
  assert.ok(!thief.has(SESSION));
});

test("signIn.social refuses an untrusted callbackURL and an unknown provider", async () => {
  const jar = new Jar();
  const c = client(jar);
  const evil = await c.signIn.social({ provider: "fake", callbackURL: "https://evil.example/steal" });
  assert.equal(evil.data, null);
  assert.equal(evil.error.status, 403);
  assert.equal(evil.error.code, "INVALID_CALLBACK_URL");
  const unknown = await c.signIn.social({ provider: "nope", callbackURL: "/dashboard" });
  assert.equal(unknown.error.status, 404);
  assert.equal(unknown.error.code, "PROVIDER_NOT_FOUND");
  assert.ok(!jar.has(STATE), "no flow was started");
});

test("linkSocial, listAccounts and unlinkAccount", async () => {
  const who = identity("linker");
  const jar = new Jar();
  const c = client(jar);
  const up = await c.signUp.email({ email: who.email, password: `pw-${run}-correct-horse`, name: who.name });
  assert.equal(up.error, null, JSON.stringify(up.error));
  const userId = up.data.user.id;

  const before = await c.listAccounts();
  assert.deepEqual(before.data.map((a) => a.providerId), ["credential"]);

  await idpUser({ sub: who.sub, email: who.email, email_verified: true });
  const link = await c.linkSocial({ provider: "fake", callbackURL: "/settings" });
  assert.equal(link.error, null, JSON.stringify(link.error));
  assert.equal(link.data.redirect, true);
  const { res } = await followToCallback(jar, link.data.url);
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("location"), "/settings");

  const after = await c.listAccounts();
  assert.equal(after.error, null);
  assert.equal(after.data.length, 2);
  const fake = after.data.find((a) => a.providerId === "fake");
  assert.ok(fake, JSON.stringify(after.data));
  assert.equal(fake.accountId, who.sub);
  assert.equal(fake.userId, userId);
  assert.ok(Array.isArray(fake.scopes) && fake.scopes.includes("openid"), JSON.stringify(fake.scopes));
  const s = await c.getSession();
  assert.equal(s.data.user.id, userId, "still the same user");

  const unlinked = await c.unlinkAccount({ accountId: fake.id });
  assert.equal(unlinked.error, null, JSON.stringify(unlinked.error));
  assert.equal(unlinked.data.status, true);
  const rest = await c.listAccounts();
  assert.deepEqual(rest.data.map((a) => a.providerId), ["credential"]);

  const last = await c.unlinkAccount({ accountId: rest.data[0].id });
  assert.equal(last.error.status, 400);
  assert.equal(last.error.code, "FAILED_TO_UNLINK_LAST_ACCOUNT");
});

test("signOut answers the IdP logout URL, and the user can sign back in", async () => {
  const who = identity("again");
  await idpUser({ sub: who.sub, email: who.email, email_verified: true });
  const jar = new Jar();
  const c = client(jar);
  const first = await c.signIn.social({ provider: "fake", callbackURL: "/dashboard" });
  await followToCallback(jar, first.data.url);
  const out = await c.signOut();
  assert.equal(out.error, null);
  assert.equal(out.data.success, true);
  // RP-initiated logout: the IdP's end_session_endpoint, with the stored id_token as the hint.
  assert.equal(out.data.redirect, true);
  const logout = new URL(out.data.url);
  assert.equal(`${logout.origin}${logout.pathname}`, `${IDP_URL}/end-session`);
  assert.ok(logout.searchParams.get("id_token_hint"));
  assert.equal((await c.getSession()).data, null);
  const second = await c.signIn.social({ provider: "fake", callbackURL: "/dashboard" });
  const { res } = await followToCallback(jar, second.data.url);
  assert.equal(res.headers.get("location"), "/dashboard");
  assert.equal((await c.getSession()).data.user.email, who.email);
});
