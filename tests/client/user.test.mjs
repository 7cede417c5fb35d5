// Profile, password and account endpoints with the real better-auth client:
// update-user, change-password (with and without revokeOtherSessions), list-accounts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, signedUp, signedIn, signedOut, isDateLike, raw, jarOf, COOKIE, ms } from "./lib/harness.mjs";

test("update-user changes name and image, and get-session shows them", async () => {
  const u = await signedUp("update");
  const before = (await u.client.getSession()).data.user;
  await new Promise((r) => setTimeout(r, 5));
  const r = await u.client.updateUser({ name: "Renamed User", image: "https://example.com/avatar.png" });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.status, true);

  const s = await u.client.getSession({ query: { disableCookieCache: true } });
  assert.equal(s.data.user.name, "Renamed User");
  assert.equal(s.data.user.image, "https://example.com/avatar.png");
  assert.equal(s.data.user.email, u.email, "the e-mail is untouched");
  assert.ok(isDateLike(s.data.user.updatedAt));
  assert.ok(ms(s.data.user.updatedAt) > ms(before.updatedAt), "updatedAt moves forward");

  const cleared = await u.client.updateUser({ image: null });
  assert.equal(cleared.error, null, JSON.stringify(cleared.error));
  const s2 = await u.client.getSession({ query: { disableCookieCache: true } });
  assert.equal(s2.data.user.image, null);
  assert.equal(s2.data.user.name, "Renamed User");
});

test("update-user cannot change the e-mail and needs something to change", async () => {
  const u = await signedUp("noemail");
  const email = await u.client.updateUser({ email: "other@example.com" });
  assert.equal(email.error.status, 400);
  assert.equal(email.error.code, "EMAIL_CAN_NOT_BE_UPDATED");

  const empty = await raw("/update-user", { method: "POST", body: {}, jar: jarOf(u.client) });
  assert.equal(empty.status, 400);

  assert.equal((await u.client.getSession({ query: { disableCookieCache: true } })).data.user.email, u.email);
});

test("update-user without a session is 401", async () => {
  const r = await client().updateUser({ name: "Nobody" });
  assert.equal(r.error.status, 401);
  assert.equal(r.error.code, "UNAUTHORIZED");
});

test("change-password refuses a wrong current password or a too-short new one", async () => {
  const u = await signedUp("chpw-bad");
  const wrong = await u.client.changePassword({ currentPassword: "not-the-password", newPassword: "brand-new-password-1" });
  assert.equal(wrong.error.status, 400);
  assert.equal(wrong.error.code, "INVALID_PASSWORD");

  const short = await u.client.changePassword({ currentPassword: u.password, newPassword: "short" });
  assert.equal(short.error.status, 400);
  assert.equal(short.error.code, "PASSWORD_TOO_SHORT");

  assert.equal((await client().signIn.email({ email: u.email, password: u.password })).error, null, "old password still works");

  const anon = await client().changePassword({ currentPassword: u.password, newPassword: "brand-new-password-1" });
  assert.equal(anon.error.status, 401);
});

test("change-password without revokeOtherSessions keeps every session", async () => {
  const u = await signedUp("chpw-keep");
  const phone = await signedIn(u);
  const r = await u.client.changePassword({ currentPassword: u.password, newPassword: "kept-sessions-password-1" });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.token, null);
  assert.equal(r.data.user.id, u.user.id);
  assert.ok(!("password" in r.data.user));
  assert.ok(!(await signedOut(u.client)), "this session stays");
  assert.ok(!(await signedOut(phone.client)), "the other session stays");

  assert.equal((await client().signIn.email({ email: u.email, password: u.password })).error.status, 401);
  assert.equal((await client().signIn.email({ email: u.email, password: "kept-sessions-password-1" })).error, null);
});

test("change-password with revokeOtherSessions signs out other devices and issues a new session", async () => {
  const u = await signedUp("chpw-revoke");
  const phone = await signedIn(u);
  const stolen = jarOf(u.client).clone();

  const r = await u.client.changePassword({
    currentPassword: u.password,
    newPassword: "revoked-sessions-password-1",
    revokeOtherSessions: true,
  });
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.match(r.data.token, /^[A-Za-z0-9]{32}$/);
  assert.notEqual(r.data.token, u.token, "a new session token");
  assert.equal(r.data.user.id, u.user.id);

  const s = await u.client.getSession({ query: { disableCookieCache: true } });
  assert.ok(s.data, "the changing browser stays signed in");
  assert.equal(s.data.session.token, r.data.token);
  assert.ok(decodeURIComponent(jarOf(u.client).get(COOKIE.session)).startsWith(`${r.data.token}.`));
  assert.ok(await signedOut(phone.client), "the other device is signed out");
  assert.ok(await signedOut(client(stolen)), "the old cookie of this browser is dead too");
  assert.equal((await u.client.listSessions()).data.length, 1);

  assert.equal((await client().signIn.email({ email: u.email, password: "revoked-sessions-password-1" })).error, null);
});

test("list-accounts shows the credential account and no secrets", async () => {
  const u = await signedUp("accounts");
  const { data, error } = await u.client.listAccounts();
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(data.length, 1);
  const a = data[0];
  assert.equal(a.providerId, "credential");
  assert.equal(a.accountId, u.user.id);
  assert.equal(a.userId, u.user.id);
  assert.equal(typeof a.id, "string");
  assert.ok(Array.isArray(a.scopes), "scopes is an array");
  assert.ok(isDateLike(a.createdAt) && isDateLike(a.updatedAt));
  for (const secret of ["password", "accessToken", "refreshToken", "idToken"]) assert.ok(!(secret in a), `no ${secret}`);

  const anon = await client().listAccounts();
  assert.equal(anon.error.status, 401);
});
