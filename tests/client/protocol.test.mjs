// Wire details apps and the client depend on: exact bodies, validation codes, content types,
// client IP recording, remember-me cookies, and the shapes of less common answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, identity, signedUp, signedOut, raw, plainPost, mail, jarOf, Jar, COOKIE, BASE_URL } from "./lib/harness.mjs";

test("request-password-reset answers Better Auth's fixed body", async () => {
  const r = await raw("/request-password-reset", { method: "POST", body: { email: identity("body").email } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, {
    status: true,
    message: "If this email exists in our system, check your email for the reset link",
  });
});

test("sign-in checks the e-mail's shape and the password's maximum length", async () => {
  const bad = await client().signIn.email({ email: "not-an-email", password: "whatever-password" });
  assert.equal(bad.error.status, 400);
  assert.equal(bad.error.code, "INVALID_EMAIL");

  const long = await client().signIn.email({ email: identity("long").email, password: "x".repeat(129) });
  assert.equal(long.error.status, 400);
  assert.equal(long.error.code, "PASSWORD_TOO_LONG");
});

test("update-user with nothing to change is a 400 without a code", async () => {
  const u = await signedUp("nofields");
  const r = await raw("/update-user", { method: "POST", body: {}, jar: jarOf(u.client) });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { message: "No fields to update" });
});

test("request bodies must be JSON objects with a JSON content type", async () => {
  const u = await signedUp("media");
  const text = await raw("/update-user", {
    method: "POST",
    body: JSON.stringify({ name: "x" }),
    headers: { "content-type": "text/plain" },
    jar: jarOf(u.client),
  });
  assert.equal(text.status, 415);
  assert.equal(text.body.code, "UNSUPPORTED_MEDIA_TYPE");

  const broken = await raw("/update-user", { method: "POST", body: "{not json", jar: jarOf(u.client) });
  assert.equal(broken.status, 400);
  assert.deepEqual(broken.body, { message: "Invalid JSON in request body", code: "BAD_REQUEST" });
});

test("sign-up and sign-in also accept HTML form posts", async () => {
  const id = identity("form");
  const form = new URLSearchParams(id).toString();
  const up = await raw("/sign-up/email", { method: "POST", body: form, headers: { "content-type": "application/x-www-form-urlencoded" } });
  assert.equal(up.status, 200, up.text);
  assert.equal(up.body.user.email, id.email);
  const inn = await raw("/sign-in/email", {
    method: "POST",
    body: new URLSearchParams({ email: id.email, password: id.password }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  assert.equal(inn.status, 200, inn.text);
});

test("the reset link needs a callbackURL parameter", async () => {
  const r = await raw("/reset-password/some-token");
  assert.equal(r.status, 400);
  assert.equal(r.body.code, "VALIDATION_ERROR");
});

test("the session records the client IP from X-Forwarded-For and the User-Agent", async () => {
  const id = identity("ip");
  const jar = new Jar();
  const up = await raw("/sign-up/email", {
    method: "POST",
    body: id,
    jar,
    headers: { "x-forwarded-for": "203.0.113.7", "user-agent": "ip-test-agent/1.0" },
  });
  assert.equal(up.status, 200, up.text);
  const s = await client(jar).getSession();
  assert.equal(s.data.session.ipAddress, "203.0.113.7");
  assert.equal(s.data.session.userAgent, "ip-test-agent/1.0");
});

test("IPv6 client addresses are stored reduced to their /64", async () => {
  const id = identity("ipv6");
  const r = await plainPost("/sign-up/email", id, { "x-forwarded-for": "2001:db8:1:2:3:4:5:6" });
  assert.equal(r.status, 200, r.text);
  const jar = new Jar();
  await raw("/sign-in/email", { method: "POST", body: { email: id.email, password: id.password }, jar, headers: { "x-forwarded-for": "2001:db8:1:2:3:4:5:6" } });
  const s = await client(jar).getSession();
  assert.equal(s.data.session.ipAddress, "2001:0db8:0001:0002:0000:0000:0000:0000");
});

test("signing in with remember-me again drops an old dont_remember cookie", async () => {
  const u = await signedUp("remember");
  const jar = new Jar();
  const c = client(jar);
  await c.signIn.email({ email: u.email, password: u.password, rememberMe: false });
  assert.ok(jar.has(COOKIE.dontRemember));
  const again = await c.signIn.email({ email: u.email, password: u.password });
  assert.equal(again.error, null, JSON.stringify(again.error));
  assert.ok(!jar.has(COOKIE.dontRemember), "dont_remember expired");
  const ttl = new Date((await c.getSession()).data.session.expiresAt).getTime() - Date.now();
  assert.ok(ttl > 6 * 86_400_000, "a full-length session again");
});

test("revoking your own session through revoke-session signs you out", async () => {
  const u = await signedUp("self-revoke");
  const copy = jarOf(u.client).clone();
  const r = await u.client.revokeSession({ token: u.token });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.ok(!jarOf(u.client).has(COOKIE.session), "the cookie is expired");
  assert.ok(await signedOut(client(copy)), "the session is gone on the server");
});

test("following a verification link twice is harmless", async () => {
  const u = await signedUp("verify-twice");
  await u.client.sendVerificationEmail({ email: u.email });
  const { token } = await mail(u.email, /verif/i);
  const first = await raw(`/verify-email?token=${encodeURIComponent(token)}`);
  assert.equal(first.status, 200, first.text);
  const second = await raw(`/verify-email?token=${encodeURIComponent(token)}`);
  assert.equal(second.status, 200, second.text);
  assert.deepEqual(second.body, { status: true, user: null });
});

test("the client's base URL resolves to /api/auth on the server's origin", async () => {
  const ok = await fetch(`${BASE_URL}/api/auth/ok`);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { ok: true });
});
