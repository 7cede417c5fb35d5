// Session management with the real better-auth client: listSessions, revokeSession,
// revokeOtherSessions, revokeSessions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, signedUp, signedIn, signedOut, isDateLike, raw, jarOf, COOKIE } from "./lib/harness.mjs";

test("list-sessions shows every active session of the user, with tokens and user agents", async () => {
  const u = await signedUp("list", { userAgent: "laptop-browser/1.0" });
  const phone = await signedIn(u, { userAgent: "phone-browser/2.0" });
  const stranger = await signedUp("stranger");

  const { data, error } = await u.client.listSessions();
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(data.length, 2);
  for (const s of data) {
    assert.equal(s.userId, u.user.id);
    assert.match(s.token, /^[A-Za-z0-9]{32}$/);
    assert.ok(isDateLike(s.expiresAt) && isDateLike(s.createdAt) && isDateLike(s.updatedAt));
  }
  const tokens = data.map((s) => s.token).sort();
  assert.deepEqual(tokens, [u.token, phone.token].sort());
  assert.ok(!tokens.includes(stranger.token), "no other user's sessions");
  const agents = data.map((s) => s.userAgent).sort();
  assert.deepEqual(agents, ["laptop-browser/1.0", "phone-browser/2.0"]);
});

test("revoke-session ends the chosen session only", async () => {
  const u = await signedUp("revoke1");
  const phone = await signedIn(u);
  const tablet = await signedIn(u);

  const r = await u.client.revokeSession({ token: phone.token });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.status, true);
  assert.ok(await signedOut(phone.client), "the revoked device is signed out");
  assert.ok(!(await signedOut(tablet.client)), "the others are not");
  assert.ok(!(await signedOut(u.client)));
  assert.equal((await u.client.listSessions()).data.length, 2);

  const dead = await phone.client.listSessions();
  assert.equal(dead.error.status, 401, "a revoked session can't act any more");
});

test("revoke-session with another user's token changes nothing", async () => {
  const mallory = await signedUp("mallory");
  const victim = await signedUp("victim");
  const r = await mallory.client.revokeSession({ token: victim.token });
  assert.equal(r.error, null, "answers like a success, revealing nothing");
  assert.ok(!(await signedOut(victim.client)), "the victim stays signed in");
});

test("revoke-other-sessions keeps only the current session", async () => {
  const u = await signedUp("others");
  const phone = await signedIn(u);
  const tablet = await signedIn(u);

  const r = await u.client.revokeOtherSessions();
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.status, true);
  assert.ok(await signedOut(phone.client));
  assert.ok(await signedOut(tablet.client));
  assert.ok(!(await signedOut(u.client)), "the current session survives");
  const list = await u.client.listSessions();
  assert.deepEqual(list.data.map((s) => s.token), [u.token]);
});

test("revoke-sessions ends every session, the current one included", async () => {
  const u = await signedUp("all");
  const phone = await signedIn(u);
  const stolen = jarOf(u.client).clone();

  const r = await u.client.revokeSessions();
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.status, true);
  assert.ok(!jarOf(u.client).has(COOKIE.session), "the caller's cookie is cleared");
  assert.ok(await signedOut(client(stolen)), "the caller's session is gone on the server");
  assert.ok(await signedOut(phone.client));

  const again = await client().signIn.email({ email: u.email, password: u.password });
  assert.equal(again.error, null, "signing in again works");
});

test("session endpoints need a session", async () => {
  assert.equal((await raw("/list-sessions")).status, 401);
  for (const path of ["/revoke-session", "/revoke-sessions", "/revoke-other-sessions"]) {
    const r = await raw(path, { method: "POST", body: path === "/revoke-session" ? { token: "x".repeat(32) } : {} });
    assert.equal(r.status, 401, `${path} answers ${r.status}`);
    assert.equal(r.body.code, "UNAUTHORIZED");
  }
});
