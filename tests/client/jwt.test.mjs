// The jwt and bearer plugins, when the server has them on (Portcullis: PORTCULLIS_JWT=true and
// PORTCULLIS_BEARER=true; the peer: both always on). The real client with `jwtClient()` gets a
// token with `authClient.token()`, and another service's view is played by `jose`: the token must
// verify against `${BASE_URL}/api/auth/jwks` with issuer = audience = the server's origin (Better
// Auth's default, and Portcullis' unless jwt.issuer / jwt.audience are set; docs/jwt.md).
//
// Skips: the jwt cases when GET /api/auth/jwks is a 404 (plugin off); the bearer cases when
// sign-up answers without a `set-auth-token` header (plugin off). So the file passes against
// servers with either plugin off. With jwt on, the `set-auth-jwt` header on get-session is
// expected (both servers' default; Portcullis' jwt.disable_setting_jwt_header, the peer's
// JWT_HEADER=off turn it off, and the header case then fails).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createAuthClient } from "better-auth/client";
import { jwtClient } from "better-auth/client/plugins";
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader, decodeJwt, errors } from "jose";
import { AUTH_URL, BASE_URL, ORIGIN, Jar, jarFetch, identity, raw } from "./lib/harness.mjs";

const JWKS_URL = new URL(`${AUTH_URL}/jwks`);
const JWKS = createRemoteJWKSet(JWKS_URL); // once, as a service would: caches the keys
const EXPECT = { issuer: ORIGIN, audience: ORIGIN, requiredClaims: ["exp", "iat", "sub"] };
const verify = (token) => jwtVerify(token, JWKS, EXPECT);

let jwtState; // undefined until asked: true | false
async function jwtOn(t) {
  if (jwtState === undefined) {
    const r = await fetch(JWKS_URL);
    await r.text();
    jwtState = r.status !== 404;
  }
  if (!jwtState) t.skip("the server has the jwt plugin off (GET /api/auth/jwks is 404)");
  return jwtState;
}

/**
 * The real client with jwtClient() on its own cookie jar, as an app creates it; `seen.headers` are
 * the headers of the last response (what an app reads in onSuccess / onResponse).
 */
function jwtAuthClient(jar = new Jar(), fetchOptions = {}) {
  const seen = { headers: new Headers() };
  const inner = jarFetch(jar);
  const c = createAuthClient({
    baseURL: BASE_URL,
    plugins: [jwtClient()],
    fetchOptions: {
      ...fetchOptions,
      customFetchImpl: async (input, init) => {
        const res = await inner(input, init);
        seen.headers = res.headers;
        return res;
      },
    },
  });
  return { client: c, jar, seen };
}

async function signUp(label) {
  const id = identity(label);
  const app = jwtAuthClient();
  const { data, error } = await app.client.signUp.email(id);
  assert.equal(error, null, JSON.stringify(error));
  return { ...id, ...app, user: data.user, token: data.token, signUpHeaders: app.seen.headers };
}

function assertUserClaims(payload, u) {
  assert.equal(payload.sub, u.user.id);
  assert.equal(payload.id, u.user.id);
  assert.equal(payload.email, u.email);
  assert.equal(payload.name, u.name);
  assert.equal(payload.emailVerified, false);
  assert.equal(payload.iss, ORIGIN);
  assert.equal(payload.aud, ORIGIN);
  assert.equal(payload.exp - payload.iat, 15 * 60, "expires after 15 minutes");
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 120, "issued now");
}

/** A JWT with one byte of its payload (or signature) changed, still well-formed. */
function tamper(token, part) {
  const parts = token.split(".");
  if (part === "payload") {
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString());
    claims.sub = "someone-else";
    claims.email = "admin@example.com";
    parts[1] = Buffer.from(JSON.stringify(claims)).toString("base64url");
  } else {
    const sig = Buffer.from(parts[2], "base64url");
    sig[0] ^= 0x01;
    parts[2] = sig.toString("base64url");
  }
  return parts.join(".");
}

test("jwtClient: authClient.token() after sign-up gives a JWT that verifies against /jwks", async (t) => {
  if (!(await jwtOn(t))) return;
  const u = await signUp("jwt-token");
  const { data, error } = await u.client.token();
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(typeof data.token, "string");
  assert.equal(data.token.split(".").length, 3, "a compact JWS");

  const { payload, protectedHeader } = await verify(data.token);
  assertUserClaims(payload, u);
  assert.ok(protectedHeader.kid, "the header names its key");

  // jwtClient's own action reads the same key set: the token's key is in it, with its algorithm.
  const jwks = await u.client.jwks();
  assert.equal(jwks.error, null, JSON.stringify(jwks.error));
  const key = jwks.data.keys.find((k) => k.kid === protectedHeader.kid);
  assert.ok(key, "the signing key is published");
  assert.equal(protectedHeader.alg, key.alg ?? protectedHeader.alg);
  for (const k of jwks.data.keys) {
    for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) assert.ok(!(secret in k), `no private part (${secret})`);
  }
});

test("get-session's set-auth-jwt header carries a JWT that verifies, and is exposed to browsers", async (t) => {
  if (!(await jwtOn(t))) return;
  const u = await signUp("jwt-header");
  const { data, error } = await u.client.getSession();
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(data.user.id, u.user.id);

  const header = u.seen.headers.get("set-auth-jwt");
  assert.ok(header, "get-session answered with set-auth-jwt");
  const { payload } = await verify(header);
  assertUserClaims(payload, u);
  const exposed = (u.seen.headers.get("access-control-expose-headers") || "").toLowerCase().split(/\s*,\s*/);
  assert.ok(exposed.includes("set-auth-jwt"), `set-auth-jwt exposed (got ${exposed})`);

  // Without a session: no header, and /token is refused.
  const anon = jwtAuthClient();
  const none = await anon.client.getSession();
  assert.equal(none.data, null);
  assert.equal(anon.seen.headers.get("set-auth-jwt"), null);
  const refused = await anon.client.token();
  assert.equal(refused.data, null);
  assert.equal(refused.error?.status, 401);
});

test("a tampered or foreign token is refused by the JWKS check", async (t) => {
  if (!(await jwtOn(t))) return;
  const u = await signUp("jwt-tamper");
  const { data } = await u.client.token();
  await verify(data.token); // the original is fine

  await assert.rejects(verify(tamper(data.token, "payload")), errors.JWSSignatureVerificationFailed, "changed claims");
  await assert.rejects(verify(tamper(data.token, "signature")), errors.JWSSignatureVerificationFailed, "changed signature");

  // A token claiming an unknown key is not verified with some other key.
  const [, p, s] = data.token.split(".");
  const header = { ...decodeProtectedHeader(data.token), kid: "not-a-published-kid" };
  const foreignKid = [Buffer.from(JSON.stringify(header)).toString("base64url"), p, s].join(".");
  await assert.rejects(verify(foreignKid), errors.JWKSNoMatchingKey);

  // alg "none" (unsigned) is never accepted.
  const unsigned = [Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url"), p, ""].join(".");
  await assert.rejects(verify(unsigned));

  // Right signature, wrong issuer or audience expected by the service.
  await assert.rejects(jwtVerify(data.token, JWKS, { ...EXPECT, issuer: "https://other.example" }), errors.JWTClaimValidationFailed);
  await assert.rejects(jwtVerify(data.token, JWKS, { ...EXPECT, audience: "https://other.example" }), errors.JWTClaimValidationFailed);
  assert.equal(decodeJwt(data.token).sub, u.user.id, "the original is untouched");
});

test("bearer: Authorization: Bearer <set-auth-token> with no cookies authenticates get-session", async (t) => {
  const u = await signUp("bearer");
  const bearerToken = u.signUpHeaders.get("set-auth-token");
  if (!bearerToken) {
    t.skip("the server has the bearer plugin off (no set-auth-token on sign-up)");
    return;
  }
  assert.match(bearerToken, /^[A-Za-z0-9]{32}\.[A-Za-z0-9_\-+/=%]+$/, "<token>.<signature>");
  assert.equal(bearerToken.split(".")[0], u.token, "the session token, signed");
  const exposed = (u.signUpHeaders.get("access-control-expose-headers") || "").toLowerCase().split(/\s*,\s*/);
  assert.ok(exposed.includes("set-auth-token"), `set-auth-token exposed (got ${exposed})`);

  // A client without cookies that authenticates the way Better Auth's docs show (fetchOptions.auth).
  const mobile = jwtAuthClient(new Jar(), { auth: { type: "Bearer", token: () => bearerToken } });
  const s = await mobile.client.getSession();
  assert.equal(s.error, null, JSON.stringify(s.error));
  assert.ok(s.data, "a session through the bearer token");
  assert.equal(s.data.user.id, u.user.id);
  assert.equal(s.data.session.token, u.token);
  assert.equal(mobile.jar.has("better-auth.session_token"), false, "no cookie was ever sent or kept");

  // The same with a plain request: only the Authorization header, no Cookie, no Origin.
  const r = await raw("/get-session", { headers: { authorization: `Bearer ${bearerToken}` }, origin: null });
  assert.equal(r.status, 200);
  assert.equal(r.body?.user?.id, u.user.id);

  // With jwt on too, the bearer-authenticated client gets its JWT as well.
  if (await jwtOnQuiet()) {
    const { data, error } = await mobile.client.token();
    assert.equal(error, null, JSON.stringify(error));
    assert.equal((await verify(data.token)).payload.sub, u.user.id);
  }

  // A tampered signature authenticates nobody.
  const [tok, sig] = bearerToken.split(".");
  const badSig = `${tok}.${sig.startsWith("A") ? "B" : "A"}${sig.slice(1)}`;
  const forged = await raw("/get-session", { headers: { authorization: `Bearer ${badSig}` }, origin: null });
  assert.equal(forged.status, 200);
  assert.equal(forged.body, null, "no session for a bad signature");
});

async function jwtOnQuiet() {
  return jwtOn({ skip() {} });
}
