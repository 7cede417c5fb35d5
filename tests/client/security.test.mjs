// Origin and CSRF checks, callback URL validation and protocol edges, driven like a browser would
// be by a hostile page (another Origin) or by a server-to-server caller (no Origin).
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, identity, signedUp, signedOut, raw, plainPost, jarOf, Jar, EVIL_ORIGIN, ORIGIN } from "./lib/harness.mjs";

test("a POST carrying cookies from an untrusted origin is refused", async () => {
  const u = await signedUp("csrf");
  const evil = client(jarOf(u.client).clone(), { origin: EVIL_ORIGIN });
  const out = await evil.signOut();
  assert.equal(out.error.status, 403);
  assert.equal(out.error.code, "INVALID_ORIGIN");

  const rename = await evil.updateUser({ name: "Pwned" });
  assert.equal(rename.error.status, 403);
  assert.equal(rename.error.code, "INVALID_ORIGIN");

  const s = await u.client.getSession({ query: { disableCookieCache: true } });
  assert.ok(s.data, "still signed in");
  assert.equal(s.data.user.name, u.name, "profile unchanged");
});

test("a POST carrying cookies and no Origin or Referer is refused", async () => {
  const u = await signedUp("no-origin");
  const r = await raw("/sign-out", { method: "POST", body: {}, jar: jarOf(u.client).clone(), origin: null });
  assert.equal(r.status, 403);
  assert.equal(r.body.code, "MISSING_OR_NULL_ORIGIN");
  assert.ok(!(await signedOut(u.client)));
});

test("a trusted Referer stands in for a missing Origin", async () => {
  const u = await signedUp("referer");
  const r = await raw("/update-user", {
    method: "POST",
    body: { name: "Via Referer" },
    jar: jarOf(u.client),
    origin: null,
    headers: { referer: `${ORIGIN}/settings/profile` },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal((await u.client.getSession({ query: { disableCookieCache: true } })).data.user.name, "Via Referer");
});

test("sign-in and sign-up from an untrusted origin are refused even without cookies", async () => {
  const u = await signedUp("login-csrf");
  const signIn = await client(undefined, { origin: EVIL_ORIGIN }).signIn.email({ email: u.email, password: u.password });
  assert.equal(signIn.error.status, 403);
  assert.equal(signIn.error.code, "INVALID_ORIGIN");

  const signUp = await client(undefined, { origin: EVIL_ORIGIN }).signUp.email(identity("evil-signup"));
  assert.equal(signUp.error.status, 403);
  assert.equal(signUp.error.code, "INVALID_ORIGIN");
});

test("a server-to-server sign-in (no cookies, no Origin, no Fetch-Metadata) is allowed", async () => {
  const id = identity("s2s");
  const r = await plainPost("/sign-up/email", id);
  assert.equal(r.status, 200, r.text);
  const s = await plainPost("/sign-in/email", { email: id.email, password: id.password });
  assert.equal(s.status, 200, s.text);
});

test("a browser sign-in without Origin is refused once Fetch-Metadata shows it is a browser", async () => {
  const u = await signedUp("fetch-meta");
  const r = await raw("/sign-in/email", { method: "POST", body: { email: u.email, password: u.password }, origin: null });
  assert.equal(r.status, 403);
  assert.equal(r.body.code, "MISSING_OR_NULL_ORIGIN");

  const nav = await plainPost(
    "/sign-in/email",
    { email: u.email, password: u.password },
    { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", origin: EVIL_ORIGIN },
  );
  assert.equal(nav.status, 403);
  assert.equal(nav.body.code, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED");
});

test("callback URLs must be relative or on a trusted origin", async () => {
  const u = await signedUp("callback");
  const evil = await client().signIn.email({ email: u.email, password: u.password, callbackURL: `${EVIL_ORIGIN}/x` });
  assert.equal(evil.error.status, 403);
  assert.equal(evil.error.code, "INVALID_CALLBACK_URL");

  const protocolRelative = await client().signIn.email({ email: u.email, password: u.password, callbackURL: "//evil.example/x" });
  assert.equal(protocolRelative.error.status, 403);
  assert.equal(protocolRelative.error.code, "INVALID_CALLBACK_URL");

  const absolute = await client().signIn.email({ email: u.email, password: u.password, callbackURL: `${ORIGIN}/home` });
  assert.equal(absolute.error, null, JSON.stringify(absolute.error));
  assert.equal(absolute.data.url, `${ORIGIN}/home`);

  const link = await raw(`/verify-email?token=x&callbackURL=${encodeURIComponent(`${EVIL_ORIGIN}/x`)}`);
  assert.equal(link.status, 403, "no open redirect through e-mailed links");
  assert.equal(link.body.code, "INVALID_CALLBACK_URL");
});

test("passwords and their hashes never appear in answers", async () => {
  const id = identity("leak");
  const up = await raw("/sign-up/email", { method: "POST", body: id });
  const j = new Jar();
  const inn = await raw("/sign-in/email", { method: "POST", body: { email: id.email, password: id.password }, jar: j });
  const accounts = await raw("/list-accounts", { jar: j });
  const session = await raw("/get-session", { jar: j });
  for (const r of [up, inn, accounts, session]) {
    assert.equal(r.status, 200, r.text);
    assert.ok(!r.text.includes(id.password), "no password");
    assert.ok(!/"password"/.test(r.text), "no password field");
    assert.ok(!/[0-9a-f]{32}:[0-9a-f]{128}|\$argon2/.test(r.text), "no hash");
  }
});

test("unknown endpoints and wrong methods answer 404", async () => {
  assert.equal((await raw("/no-such-endpoint")).status, 404);
  assert.equal((await raw("/sign-in/email")).status, 404, "GET on a POST endpoint");
  assert.equal((await raw("/list-sessions", { method: "POST", body: {} })).status, 404, "POST on a GET endpoint");
});

test("errors are JSON with Better Auth's message and code", async () => {
  const r = await raw("/sign-in/email", { method: "POST", body: { email: identity("json").email, password: "wrong-password-1" } });
  assert.equal(r.status, 401);
  assert.match(r.headers.get("content-type") || "", /^application\/json/);
  assert.deepEqual(r.body, { message: "Invalid email or password", code: "INVALID_EMAIL_OR_PASSWORD" });

  const bad = await raw("/sign-in/email", { method: "POST", body: "{not json" });
  assert.equal(bad.status, 400);
});
