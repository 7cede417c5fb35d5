// The session cookie cache (`better-auth.session_data`), when the server has it on
// (Portcullis: PORTCULLIS_COOKIE_CACHE=true; the peer: COOKIE_CACHE=on). Every case skips itself
// when sign-in sets no cache cookie, so the file passes against servers with the cache off too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, signedUp, signedIn, raw, jarOf, Jar, COOKIE } from "./lib/harness.mjs";

async function cachedUser(t, label) {
  const u = await signedUp(label);
  if (!jarOf(u.client).has(COOKIE.data)) {
    t.skip("the server has the cookie cache off");
    return null;
  }
  return u;
}

test("sign-in sets a session_data cookie that lives cookie_cache.max_age", async (t) => {
  const u = await cachedUser(t, "cache-set");
  if (!u) return;
  const r = await raw("/sign-in/email", { method: "POST", body: { email: u.email, password: u.password } });
  const c = r.setCookies.find((x) => x.name === COOKIE.data);
  assert.ok(c, "session_data set");
  assert.ok(Number(c.attrs["max-age"]) > 0, "with a Max-Age");
  assert.equal(c.attrs.httponly, true);
  const s = await client(r.setCookies.reduce((j, x) => (j.set(x.name, x.value), j), new Jar())).getSession();
  assert.equal(s.data.user.id, u.user.id);
});

test("a cached session is re-checked against the database on request, and a revoked one is then dropped", async (t) => {
  const u = await cachedUser(t, "cache-revoke");
  if (!u) return;
  const phone = await signedIn(u);
  assert.ok(jarOf(phone.client).has(COOKIE.data));

  const r = await u.client.revokeOtherSessions();
  assert.equal(r.error, null, JSON.stringify(r.error));

  // Without disableCookieCache the phone may still be answered from its cookie (for at most
  // max_age); asking the database must find the session gone and clear the cookies.
  const fresh = await phone.client.getSession({ query: { disableCookieCache: true } });
  assert.equal(fresh.data, null);
  assert.ok(!jarOf(phone.client).has(COOKIE.data), "session_data expired");
  assert.ok(!jarOf(phone.client).has(COOKIE.session), "session_token expired");
  assert.equal((await phone.client.getSession()).data, null);
});

test("sensitive actions ignore the cache: a revoked session can't revoke sessions or change the password", async (t) => {
  const u = await cachedUser(t, "cache-sensitive");
  if (!u) return;
  const phone = await signedIn(u);
  await u.client.revokeOtherSessions();
  const r = await phone.client.revokeSessions();
  assert.equal(r.error?.status, 401, "revoke-sessions re-reads the database");
  const pw = await phone.client.changePassword({ currentPassword: u.password, newPassword: "cache-bypass-password-1" });
  assert.equal(pw.error?.status, 401, "change-password re-reads the database");
});

test("update-user refreshes the cached copy", async (t) => {
  const u = await cachedUser(t, "cache-update");
  if (!u) return;
  const before = jarOf(u.client).get(COOKIE.data);
  const r = await u.client.updateUser({ name: "Cached Rename" });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.notEqual(jarOf(u.client).get(COOKIE.data), before, "a new session_data cookie");
  assert.equal((await u.client.getSession()).data.user.name, "Cached Rename");
});

test("a tampered session_data cookie is ignored, not trusted", async (t) => {
  const u = await cachedUser(t, "cache-tamper");
  if (!u) return;
  const jar = jarOf(u.client).clone();
  const value = jar.get(COOKIE.data);
  const decoded = JSON.parse(Buffer.from(value, "base64url").toString());
  decoded.session.user.name = "Forged Name";
  jar.set(COOKIE.data, Buffer.from(JSON.stringify(decoded)).toString("base64url"));
  const s = await client(jar).getSession();
  assert.ok(s.data, "the real session is still found");
  assert.equal(s.data.user.name, u.name, "not the forged name");
});
