#!/usr/bin/env node
// A small, strict fake OpenID Connect provider for the social sign-in client tests.
// node:http + node:crypto only. No login page: /authorize signs in the current user (set through
// POST /__user) and redirects straight back with code, state and iss (RFC 9207).
//
// Strict where a sloppy relying party would slip: one-time codes bound to client, redirect_uri,
// PKCE S256 challenge (required) and nonce; client authentication (client_secret_post or
// client_secret_basic); RS256 id_tokens signed with a key generated at start, published as JWKS.
//
//   node fake-idp.mjs            listens on a free port of 127.0.0.1 and prints its URL as the
//                                first line of stdout (run.sh reads it)
//
// Environment: IDP_CLIENT_ID (default social-test-client), IDP_CLIENT_SECRET (default
// social-test-secret), IDP_PORT (default 0 = a free port).
//
// Endpoints:
//   GET  /.well-known/openid-configuration, GET /authorize, POST /token (authorization_code and
//   refresh_token grants), GET /userinfo, GET /jwks, GET /end-session
//   POST /__user  {sub, email?, email_verified?, name?}: who /authorize signs in from now on
//   GET  /__log   the requests the IdP accepted or refused, oldest first ({endpoint, ok, error?})
import http from "node:http";
import crypto from "node:crypto";

const CLIENT_ID = process.env.IDP_CLIENT_ID || "social-test-client";
const CLIENT_SECRET = process.env.IDP_CLIENT_SECRET || "social-test-secret";

const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const KID = crypto.randomBytes(8).toString("hex");
const JWK = { ...publicKey.export({ format: "jwk" }), kid: KID, alg: "RS256", use: "sig" };

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const random = () => b64url(crypto.randomBytes(24));

function signJwt(claims) {
  const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: KID }));
  const body = b64url(JSON.stringify(claims));
  const sig = crypto.sign("RSA-SHA256", Buffer.from(`${header}.${body}`), privateKey);
  return `${header}.${body}.${b64url(sig)}`;
}

let issuer = "";
let current = null; // the signed-in user at the IdP
const codes = new Map(); // code -> {user, redirectUri, challenge, nonce, scope, exp}
const accessTokens = new Map(); // token -> user
const refreshTokens = new Map(); // token -> {user, scope}
const log = [];

function send(res, status, body, headers = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json", "cache-control": "no-store", ...headers });
  res.end(text);
}

function refuse(res, endpoint, status, error) {
  log.push({ endpoint, ok: false, error });
  send(res, status, { error });
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

function tokens(user, scope, nonce) {
  const now = Math.floor(Date.now() / 1000);
  const access = `at-${random()}`;
  const refresh = `rt-${random()}`;
  accessTokens.set(access, user);
  refreshTokens.set(refresh, { user, scope });
  const body = { access_token: access, token_type: "Bearer", expires_in: 3600, refresh_token: refresh, scope };
  if (scope.split(" ").includes("openid")) {
    const claims = { iss: issuer, sub: user.sub, aud: CLIENT_ID, iat: now, exp: now + 3600, name: user.name };
    if (scope.split(" ").includes("email") && user.email) {
      claims.email = user.email;
      claims.email_verified = user.email_verified;
    }
    if (nonce) claims.nonce = nonce;
    body.id_token = signJwt(claims);
  }
  return body;
}

/** client_secret_post or client_secret_basic; true when the client authenticated. */
function clientAuthenticated(req, form) {
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization || "");
  if (basic) {
    const [id, secret] = Buffer.from(basic[1], "base64").toString("utf8").split(":").map(decodeURIComponent);
    return id === CLIENT_ID && secret === CLIENT_SECRET;
  }
  return form.get("client_id") === CLIENT_ID && form.get("client_secret") === CLIENT_SECRET;
}

async function handle(req, res) {
  const url = new URL(req.url, issuer);
  const q = url.searchParams;
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case "GET /.well-known/openid-configuration":
      return send(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/userinfo`,
        jwks_uri: `${issuer}/jwks`,
        end_session_endpoint: `${issuer}/end-session`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
        authorization_response_iss_parameter_supported: true,
      });
    case "GET /jwks":
      return send(res, 200, { keys: [JWK] });
    case "GET /authorize": {
      const redirectUri = q.get("redirect_uri");
      if (q.get("client_id") !== CLIENT_ID) return refuse(res, "authorize", 400, "unauthorized_client");
      if (!redirectUri || !/^https?:\/\//.test(redirectUri)) return refuse(res, "authorize", 400, "invalid_request");
      if (q.get("response_type") !== "code") return refuse(res, "authorize", 400, "unsupported_response_type");
      if (q.get("code_challenge_method") !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(q.get("code_challenge") || "")) {
        return refuse(res, "authorize", 400, "invalid_request");
      }
      if (!q.get("state")) return refuse(res, "authorize", 400, "invalid_request");
      if (!current) return refuse(res, "authorize", 400, "login_required");
      const code = random();
      codes.set(code, {
        user: current,
        redirectUri,
        challenge: q.get("code_challenge"),
        nonce: q.get("nonce"),
        scope: q.get("scope") || "",
        exp: Date.now() + 60_000,
      });
      const back = new URL(redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", q.get("state"));
      back.searchParams.set("iss", issuer);
      log.push({ endpoint: "authorize", ok: true });
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    case "POST /token": {
      const form = new URLSearchParams(await readBody(req));
      if (!clientAuthenticated(req, form)) return refuse(res, "token", 401, "invalid_client");
      if (form.get("grant_type") === "authorization_code") {
        const c = codes.get(form.get("code") || "");
        codes.delete(form.get("code") || "");
        if (!c || c.exp < Date.now()) return refuse(res, "token", 400, "invalid_grant");
        if (form.get("redirect_uri") !== c.redirectUri) return refuse(res, "token", 400, "invalid_grant");
        const verifier = form.get("code_verifier") || "";
        const challenge = b64url(crypto.createHash("sha256").update(verifier).digest());
        if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || challenge !== c.challenge) {
          return refuse(res, "token", 400, "invalid_grant");
        }
        log.push({ endpoint: "token", ok: true, grant: "authorization_code" });
        return send(res, 200, tokens(c.user, c.scope, c.nonce));
      }
      if (form.get("grant_type") === "refresh_token") {
        const r = refreshTokens.get(form.get("refresh_token") || "");
        refreshTokens.delete(form.get("refresh_token") || "");
        if (!r) return refuse(res, "token", 400, "invalid_grant");
        log.push({ endpoint: "token", ok: true, grant: "refresh_token" });
        return send(res, 200, tokens(r.user, r.scope, null));
      }
      return refuse(res, "token", 400, "unsupported_grant_type");
    }
    case "GET /userinfo": {
      const user = accessTokens.get((req.headers.authorization || "").replace(/^Bearer /i, ""));
      if (!user) return refuse(res, "userinfo", 401, "invalid_token");
      return send(res, 200, { sub: user.sub, email: user.email, email_verified: user.email_verified, name: user.name });
    }
    case "GET /end-session":
      return send(res, 200, "signed out");
    case "POST /__user": {
      const u = JSON.parse((await readBody(req)) || "{}");
      current = { sub: String(u.sub), email: u.email, email_verified: u.email_verified ?? true, name: u.name || `User ${u.sub}` };
      return send(res, 200, current);
    }
    case "GET /__log":
      return send(res, 200, log);
    default:
      return send(res, 404, { error: "not_found" });
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => send(res, 500, { error: "server_error", detail: String(e) }));
});
server.listen(Number(process.env.IDP_PORT || 0), "127.0.0.1", () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`${issuer}\n`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)));
