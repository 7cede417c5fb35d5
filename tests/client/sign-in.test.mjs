// Sign-up, sign-in, get-session and sign-out with the real better-auth client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, identity, signedUp, signedOut, isDateLike, raw, jarOf, Jar, COOKIE, ms } from "./lib/harness.mjs";

const USER_KEYS = ["id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"];
const SESSION_KEYS = ["id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent"];
const DAY = 24 * 60 * 60 * 1000;

function assertUser(u, id) {
  for (const k of USER_KEYS) assert.ok(k in u, `user has ${k}`);
  assert.equal(typeof u.id, "string");
  assert.equal(u.email, id.email.toLowerCase());
  assert.equal(u.name, id.name);
  assert.equal(u.emailVerified, false);
  assert.equal(u.image, null);
  assert.ok(isDateLike(u.createdAt), `createdAt ${u.createdAt}`);
  assert.ok(isDateLike(u.updatedAt), `updatedAt ${u.updatedAt}`);
  assert.ok(!("password" in u), "no password on the wire");
}

test("sign-up creates the user, signs in and sets a signed session cookie", async () => {
  const id = identity("signup");
  const jar = new Jar();
  const c = client(jar);
  const { data, error } = await c.signUp.email(id);
  assert.equal(error, null, JSON.stringify(error));
  assertUser(data.user, id);
  assert.match(data.token, /^[A-Za-z0-9]{32}$/);

  // The cookie is `<token>.<base64 HMAC>` URL-encoded, as Better Auth signs it.
  const cookie = decodeURIComponent(jar.get(COOKIE.session));
  const dot = cookie.lastIndexOf(".");
  assert.equal(cookie.slice(0, dot), data.token);
  assert.match(cookie.slice(dot + 1), /^[A-Za-z0-9+/]{43}=$/);

  const s = await c.getSession();
  assert.equal(s.error, null);
  assertUser(s.data.user, id);
  for (const k of SESSION_KEYS) assert.ok(k in s.data.session, `session has ${k}`);
  assert.equal(s.data.session.userId, data.user.id);
  assert.equal(s.data.session.token, data.token);
  const ttl = ms(s.data.session.expiresAt) - Date.now();
  assert.ok(ttl > 6 * DAY && ttl <= 7 * DAY + 60_000, `a session lives 7 days (${ttl} ms)`);
});

test("the session cookie is HttpOnly, SameSite=Lax, Path=/ and lasts as long as the session", async () => {
  const id = identity("cookie");
  const r = await raw("/sign-up/email", { method: "POST", body: id });
  assert.equal(r.status, 200, r.text);
  const c = r.setCookies.find((x) => x.name === COOKIE.session);
  assert.ok(c, "session_token set");
  assert.equal(c.attrs.httponly, true);
  assert.equal(String(c.attrs.samesite).toLowerCase(), "lax");
  assert.equal(c.attrs.path, "/");
  assert.equal(c.attrs["max-age"], "604800");
});

test("e-mail addresses are stored lower-cased and matched case-insensitively", async () => {
  const id = identity("MixedCase");
  const { data, error } = await client().signUp.email({ ...id, email: id.email.replace("mixedcase", "MiXeDcAsE") });
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(data.user.email, id.email.toLowerCase());
  const again = await client().signIn.email({ email: id.email.toUpperCase(), password: id.password });
  assert.equal(again.error, null, JSON.stringify(again.error));
  assert.equal(again.data.user.id, data.user.id);
});

test("a second sign-up with the same e-mail is refused", async () => {
  const u = await signedUp("dup");
  const { data, error } = await client().signUp.email({ ...identity("dup"), email: u.email.toUpperCase() });
  assert.equal(data, null);
  assert.equal(error.status, 422);
  assert.equal(error.code, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
});

test("sign-up validates e-mail, name and password length (8..128)", async () => {
  const short = await client().signUp.email({ ...identity("short"), password: "1234567" });
  assert.equal(short.error.status, 400);
  assert.equal(short.error.code, "PASSWORD_TOO_SHORT");

  const long = await client().signUp.email({ ...identity("long"), password: "x".repeat(129) });
  assert.equal(long.error.status, 400);
  assert.equal(long.error.code, "PASSWORD_TOO_LONG");

  const edge = await client().signUp.email({ ...identity("edge"), password: "y".repeat(128) });
  assert.equal(edge.error, null, "128 characters is allowed");

  const bad = await client().signUp.email({ ...identity("bad"), email: "not-an-email" });
  assert.equal(bad.error.status, 400);
  assert.equal(bad.error.code, "VALIDATION_ERROR");

  const noName = await raw("/sign-up/email", { method: "POST", body: { email: identity().email, password: "long-enough-pw" } });
  assert.equal(noName.status, 400);
  assert.equal(noName.body.code, "VALIDATION_ERROR");
});

test("sign-in with the right password starts a new session", async () => {
  const u = await signedUp("signin");
  const c = client();
  const { data, error } = await c.signIn.email({ email: u.email, password: u.password });
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(data.redirect, false);
  assert.ok(!("url" in data), "no url without a callbackURL");
  assert.equal(data.user.id, u.user.id);
  assert.match(data.token, /^[A-Za-z0-9]{32}$/);
  assert.notEqual(data.token, u.token, "every sign-in is a new session");
  const s = await c.getSession();
  assert.equal(s.data.user.email, u.email);
  assert.equal(s.data.session.token, data.token);
});

test("sign-in with a callbackURL answers redirect:true and the url", async () => {
  const u = await signedUp("cb");
  const { data, error } = await client().signIn.email({ email: u.email, password: u.password, callbackURL: "/dashboard" });
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(data.redirect, true);
  assert.equal(data.url, "/dashboard");
});

test("wrong password and unknown e-mail get the same answer", async () => {
  const u = await signedUp("enum");
  const wrong = await client().signIn.email({ email: u.email, password: "wrong-password-123" });
  const unknown = await client().signIn.email({ email: identity("nobody").email, password: "wrong-password-123" });
  for (const r of [wrong, unknown]) {
    assert.equal(r.data, null);
    assert.equal(r.error.status, 401);
    assert.equal(r.error.code, "INVALID_EMAIL_OR_PASSWORD");
  }
  assert.equal(wrong.error.message, unknown.error.message);
});

test("rememberMe:false gives a one-day session in a browser-session cookie", async () => {
  const u = await signedUp("forget");
  const jar = new Jar();
  const r = await raw("/sign-in/email", { method: "POST", jar, body: { email: u.email, password: u.password, rememberMe: false } });
  assert.equal(r.status, 200, r.text);
  const token = r.setCookies.find((x) => x.name === COOKIE.session);
  assert.ok(token, "session_token set");
  assert.equal(token.attrs["max-age"], undefined, "no Max-Age: gone when the browser closes");
  assert.ok(r.setCookies.some((x) => x.name === COOKIE.dontRemember && x.value), "dont_remember set");

  const s = await client(jar).getSession();
  const ttl = ms(s.data.session.expiresAt) - Date.now();
  assert.ok(ttl > DAY - 60_000 && ttl <= DAY + 60_000, `one day (${ttl} ms)`);
});

test("get-session without a session answers null, not an error", async () => {
  const { data, error } = await client().getSession();
  assert.equal(error, null);
  assert.equal(data, null);

  const r = await raw("/get-session");
  assert.equal(r.status, 200);
  assert.equal(r.text, "null");
  assert.match(r.headers.get("cache-control") || "", /no-store/);
});

test("a session cookie with a forged signature is no session", async () => {
  const u = await signedUp("forged");
  const jar = jarOf(u.client).clone();
  const [token] = decodeURIComponent(jar.get(COOKIE.session)).split(".");
  jar.set(COOKIE.session, encodeURIComponent(`${token}.${"A".repeat(43)}=`));
  assert.equal((await client(jar).getSession()).data, null);

  const unsigned = new Jar([[COOKIE.session, token]]);
  assert.equal((await client(unsigned).getSession()).data, null, "an unsigned token is refused");
});

test("sign-out ends the session on the server, not only in the browser", async () => {
  const u = await signedUp("signout");
  const stolen = jarOf(u.client).clone();
  const r = await u.client.signOut();
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.success, true);
  assert.ok(!jarOf(u.client).has(COOKIE.session), "the cookie is cleared");
  assert.equal((await u.client.getSession()).data, null);
  assert.ok(await signedOut(client(stolen)), "a copied cookie no longer works");
  const other = await client().signIn.email({ email: u.email, password: u.password });
  assert.equal(other.error, null, "the user can sign in again");
});

test("sign-out without a session still succeeds", async () => {
  const r = await client().signOut();
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.success, true);
});
