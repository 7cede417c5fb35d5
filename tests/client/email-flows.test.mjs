// Flows that go through e-mail, read from the development outbox: password reset
// (requestPasswordReset -> GET /reset-password/:token -> resetPassword) and e-mail verification
// (sendVerificationEmail -> GET /verify-email).
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, signedUp, signedIn, signedOut, mail, outbox, raw, identity, BASE_URL, AUTH_URL, EVIL_ORIGIN } from "./lib/harness.mjs";

const RESET = /reset/i;
const VERIFY = /verif/i;

test("password reset: request, follow the e-mailed link, set a new password", async () => {
  const u = await signedUp("reset");
  const phone = await signedIn(u);

  const req = await client().requestPasswordReset({ email: u.email, redirectTo: "/reset" });
  assert.equal(req.error, null, JSON.stringify(req.error));
  assert.equal(req.data.status, true);
  const { token, url } = await mail(u.email, RESET);
  assert.ok(token, "the message carries a token");
  assert.ok(url, "the message carries a link");
  assert.equal(`${url.origin}${url.pathname}`, `${AUTH_URL}/reset-password/${token}`);
  assert.equal(url.searchParams.get("callbackURL"), "/reset");

  // The link in the message redirects to the app's page with the token; it doesn't consume it.
  const link = await raw(`${url.pathname.slice(new URL(AUTH_URL).pathname.length)}${url.search}`);
  assert.equal(link.status, 302);
  const to = new URL(link.headers.get("location"), BASE_URL);
  assert.equal(to.pathname, "/reset");
  assert.equal(to.searchParams.get("token"), token);

  const reset = await client().resetPassword({ newPassword: "after-reset-password-1", token });
  assert.equal(reset.error, null, JSON.stringify(reset.error));
  assert.equal(reset.data.status, true);

  assert.equal((await client().signIn.email({ email: u.email, password: u.password })).error.status, 401);
  assert.equal((await client().signIn.email({ email: u.email, password: "after-reset-password-1" })).error, null);
  assert.ok(!(await signedOut(phone.client)), "existing sessions survive a reset by default");

  const again = await client().resetPassword({ newPassword: "another-password-2", token });
  assert.equal(again.error.status, 400, "a reset token works once");
  assert.equal(again.error.code, "INVALID_TOKEN");
});

test("password reset checks the new password's length before using the token", async () => {
  const u = await signedUp("reset-len");
  await client().requestPasswordReset({ email: u.email, redirectTo: "/reset" });
  const { token } = await mail(u.email, RESET);
  const short = await client().resetPassword({ newPassword: "short", token });
  assert.equal(short.error.status, 400);
  assert.equal(short.error.code, "PASSWORD_TOO_SHORT");
  const ok = await client().resetPassword({ newPassword: "long-enough-password-1", token });
  assert.equal(ok.error, null, "the token is still good");
});

test("a newer reset e-mail does not need the older one", async () => {
  const u = await signedUp("reset-twice");
  await client().requestPasswordReset({ email: u.email, redirectTo: "/reset" });
  const first = await mail(u.email, RESET);
  await client().requestPasswordReset({ email: u.email, redirectTo: "/reset" });
  const second = await mail(u.email, RESET, { seen: [first.msg] });
  assert.notEqual(second.token, first.token, "each request mails a new token");
  const r = await client().resetPassword({ newPassword: "second-token-password", token: second.token });
  assert.equal(r.error, null, JSON.stringify(r.error));
});

test("a bad reset token is refused, by the link and by reset-password", async () => {
  const link = await raw(`/reset-password/not-a-real-token?callbackURL=${encodeURIComponent("/reset")}`);
  assert.equal(link.status, 302);
  const to = new URL(link.headers.get("location"), BASE_URL);
  assert.equal(to.pathname, "/reset");
  assert.equal(to.searchParams.get("error"), "INVALID_TOKEN");
  assert.equal(to.searchParams.get("token"), null);

  const r = await client().resetPassword({ newPassword: "whatever-password-1", token: "not-a-real-token" });
  assert.equal(r.error.status, 400);
  assert.equal(r.error.code, "INVALID_TOKEN");
});

test("password reset for an unknown address answers exactly like for a known one", async () => {
  const known = await signedUp("known");
  const ghost = identity("ghost").email;
  const a = await raw("/request-password-reset", { method: "POST", body: { email: known.email, redirectTo: "/reset" } });
  const b = await raw("/request-password-reset", { method: "POST", body: { email: ghost, redirectTo: "/reset" } });
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.deepEqual(a.body, b.body);
  assert.equal((await outbox(ghost)).length, 0, "nothing is sent to an unknown address");
});

test("password reset refuses a redirectTo on an untrusted origin", async () => {
  const u = await signedUp("reset-evil");
  const r = await client().requestPasswordReset({ email: u.email, redirectTo: `${EVIL_ORIGIN}/steal` });
  assert.equal(r.error.status, 403);
  assert.equal(r.error.code, "INVALID_REDIRECT_URL");
  assert.equal((await outbox(u.email)).filter((m) => RESET.test(m.kind || "")).length, 0, "no e-mail sent");
});

test("e-mail verification: send, follow the token, emailVerified becomes true", async () => {
  const u = await signedUp("verify");
  assert.equal(u.user.emailVerified, false);
  const send = await u.client.sendVerificationEmail({ email: u.email, callbackURL: "/verified" });
  assert.equal(send.error, null, JSON.stringify(send.error));
  assert.equal(send.data.status, true);
  const { token, url } = await mail(u.email, VERIFY);
  assert.ok(token, "the message carries a token");
  assert.equal(`${url.origin}${url.pathname}`, `${AUTH_URL}/verify-email`);
  assert.equal(url.searchParams.get("token"), token);
  assert.equal(url.searchParams.get("callbackURL"), "/verified");

  const v = await client().verifyEmail({ query: { token } });
  assert.equal(v.error, null, JSON.stringify(v.error));
  assert.equal(v.data.status, true);

  const s = await u.client.getSession({ query: { disableCookieCache: true } });
  assert.equal(s.data.user.emailVerified, true);

  const twice = await u.client.sendVerificationEmail({ email: u.email });
  assert.equal(twice.error.status, 400);
  assert.equal(twice.error.code, "EMAIL_ALREADY_VERIFIED");
});

test("the verification link redirects to its callbackURL", async () => {
  const u = await signedUp("verify-link");
  await u.client.sendVerificationEmail({ email: u.email, callbackURL: "/welcome" });
  const { url } = await mail(u.email, VERIFY);
  const r = await raw(`/verify-email${url.search}`);
  assert.equal(r.status, 302);
  assert.equal(new URL(r.headers.get("location"), BASE_URL).pathname, "/welcome");
  assert.equal((await u.client.getSession({ query: { disableCookieCache: true } })).data.user.emailVerified, true);
});

test("a forged verification token is refused", async () => {
  const u = await signedUp("verify-forged");
  await u.client.sendVerificationEmail({ email: u.email });
  const { token } = await mail(u.email, VERIFY);
  const forged = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");

  const r = await raw(`/verify-email?token=${encodeURIComponent(forged)}`);
  assert.equal(r.status, 401);
  assert.equal(r.body.code, "INVALID_TOKEN");

  const redirected = await raw(`/verify-email?token=${encodeURIComponent(forged)}&callbackURL=${encodeURIComponent("/verified")}`);
  assert.equal(redirected.status, 302);
  const to = new URL(redirected.headers.get("location"), BASE_URL);
  assert.equal(to.pathname, "/verified");
  assert.equal(to.searchParams.get("error"), "INVALID_TOKEN");

  assert.equal((await u.client.getSession({ query: { disableCookieCache: true } })).data.user.emailVerified, false);
});

test("a signed-in user can only ask to verify their own address", async () => {
  const u = await signedUp("verify-mismatch");
  const r = await u.client.sendVerificationEmail({ email: identity("someone-else").email });
  assert.equal(r.error.status, 400);
  assert.equal(r.error.code, "EMAIL_MISMATCH");
});

test("asking for a verification e-mail while signed out reveals nothing", async () => {
  const u = await signedUp("verify-anon");
  const ghost = identity("ghost").email;
  const known = await raw("/send-verification-email", { method: "POST", body: { email: u.email } });
  const unknown = await raw("/send-verification-email", { method: "POST", body: { email: ghost } });
  assert.equal(known.status, 200);
  assert.equal(unknown.status, 200);
  assert.deepEqual(known.body, unknown.body);
  assert.ok(await mail(u.email, VERIFY), "the real user gets the e-mail");
  assert.equal((await outbox(ghost)).length, 0);
});
