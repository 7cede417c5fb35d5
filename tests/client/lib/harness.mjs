// Test helpers: the real better-auth client (1.7.24, pinned in package-lock.json) talking to a
// running server the way a browser app does.
//
//   - a cookie jar per "browser profile" (Set-Cookie in, Cookie out, expiry honoured);
//   - `client()`: createAuthClient with a customFetchImpl bound to a jar, sending an Origin header
//     for the app's own origin (what a browser does on a same-origin fetch POST);
//   - `raw()`: plain HTTP to /api/auth/<path> with the same jar, for what the client hides
//     (redirects, headers, cookies);
//   - the development outbox (`GET /__outbox?to=EMAIL`, newest first);
//   - unique identities, so runs never collide with earlier ones on the same database.
//
// Environment:
//   BASE_URL    origin of the server under test, without /api/auth (default http://127.0.0.1:4100)
//   OUTBOX_URL  development outbox (default $BASE_URL/__outbox)
//
// Every case written with these helpers must also pass against Better Auth 1.7.24 itself
// (../shared/peer): a case that fails there is a wrong case, not a server bug.
import http from "node:http";
import { createAuthClient } from "better-auth/client";

export const BASE_URL = (process.env.BASE_URL || "http://127.0.0.1:4100").replace(/\/+$/, "");
export const AUTH_URL = `${BASE_URL}/api/auth`;
export const ORIGIN = new URL(BASE_URL).origin;
export const OUTBOX_URL = process.env.OUTBOX_URL || `${BASE_URL}/__outbox`;
export const EVIL_ORIGIN = "http://evil.example";
export const COOKIE = {
  session: "better-auth.session_token",
  data: "better-auth.session_data",
  dontRemember: "better-auth.dont_remember",
};

/** Parses one Set-Cookie line into { name, value, attrs } (attribute names lower-cased). */
export function parseSetCookie(line) {
  const [pair, ...rest] = line.split(";").map((s) => s.trim());
  const eq = pair.indexOf("=");
  const attrs = {};
  for (const a of rest) {
    const i = a.indexOf("=");
    if (i < 0) attrs[a.toLowerCase()] = true;
    else attrs[a.slice(0, i).toLowerCase()] = a.slice(i + 1);
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attrs };
}

const setCookiesOf = (res) => (res.headers.getSetCookie ? res.headers.getSetCookie() : []);

/** The cookies of one browser profile on one site. */
export class Jar {
  constructor(entries) {
    this.cookies = new Map(entries || []);
  }
  get(name) {
    return this.cookies.get(name);
  }
  set(name, value) {
    this.cookies.set(name, value);
  }
  has(name) {
    return this.cookies.has(name);
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  /** Applies a response's Set-Cookie headers: a deletion (empty value, Max-Age<=0, past Expires) removes. */
  absorb(res) {
    for (const line of setCookiesOf(res)) {
      const { name, value, attrs } = parseSetCookie(line);
      const maxAge = attrs["max-age"];
      const expires = attrs.expires;
      const gone =
        value === "" ||
        (maxAge !== undefined && Number(maxAge) <= 0) ||
        (typeof expires === "string" && Date.parse(expires) < Date.now());
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  /** A copy, e.g. what an attacker who stole the cookies would hold. */
  clone() {
    return new Jar(this.cookies);
  }
}

/**
 * fetch bound to a jar. Like a browser on the app's own origin it sends `Origin` (pass
 * `origin: null` to send none, or another origin to play a cross-site page) and never follows
 * redirects by itself, so tests can look at them.
 */
export function jarFetch(jar, { origin = ORIGIN, userAgent } = {}) {
  return async (input, init = {}) => {
    const headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
    const cookie = jar.header();
    if (cookie) headers.set("cookie", cookie);
    if (origin && !headers.has("origin")) headers.set("origin", origin);
    if (userAgent && !headers.has("user-agent")) headers.set("user-agent", userAgent);
    const res = await fetch(input, { ...init, headers, redirect: init.redirect || "manual" });
    jar.absorb(res);
    return res;
  };
}

const jars = new WeakMap();

/** The real better-auth client, created as an app creates it, on its own (or the given) jar. */
export function client(jar = new Jar(), opts = {}) {
  const c = createAuthClient({
    baseURL: BASE_URL,
    fetchOptions: { customFetchImpl: jarFetch(jar, opts) },
  });
  jars.set(c, jar);
  return c;
}

/** The jar a client was created with (the client is a proxy and can't carry properties itself). */
export const jarOf = (c) => jars.get(c);

/**
 * Raw HTTP to `/api/auth<path>`. Returns { status, headers, body (parsed JSON or undefined),
 * text, setCookies (parsed) }.
 */
export async function raw(path, { method = "GET", body, jar = new Jar(), headers = {}, origin = ORIGIN } = {}) {
  const h = new Headers(headers);
  if (body !== undefined && !h.has("content-type")) h.set("content-type", "application/json");
  const res = await jarFetch(jar, { origin })(`${AUTH_URL}${path}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text, setCookies: setCookiesOf(res).map(parseSetCookie) };
}

/**
 * A POST with node:http, i.e. without the `Sec-Fetch-Mode` header fetch always adds: what a
 * server-to-server caller (curl, a backend) sends. Returns { status, headers (lower-cased names), body, text }.
 */
export function plainPost(path, body, headers = {}) {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${AUTH_URL}${path}`,
      { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => {
          let parsed;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, body: parsed, text });
        });
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
let seq = 0;

/** A fresh identity no earlier run has used: { email, password, name }. */
export function identity(label = "user") {
  seq += 1;
  return {
    email: `${label}-${RUN}-${seq}@example.com`,
    password: `pw-${RUN}-${seq}-Correct-Horse`,
    name: `${label[0].toUpperCase()}${label.slice(1)} ${seq}`,
  };
}

/** Signs up a fresh user; returns the identity plus its signed-in client, user and session token. */
export async function signedUp(label = "user", opts = {}) {
  const id = identity(label);
  const c = client(new Jar(), opts);
  const { data, error } = await c.signUp.email(id);
  if (error) throw new Error(`sign-up of ${id.email} failed: ${error.status} ${JSON.stringify(error)}`);
  return { ...id, client: c, user: data.user, token: data.token };
}

/** A second signed-in client (another device) for an existing user. */
export async function signedIn(u, opts = {}) {
  const c = client(new Jar(), opts);
  const { data, error } = await c.signIn.email({ email: u.email, password: u.password });
  if (error) throw new Error(`sign-in of ${u.email} failed: ${error.status} ${JSON.stringify(error)}`);
  return { client: c, token: data.token };
}

/** Whether a client's session is gone, asked of the database (not of a cookie cache). */
export async function signedOut(c) {
  const { data, error } = await c.getSession({ query: { disableCookieCache: true } });
  if (error) throw new Error(`get-session failed: ${error.status} ${JSON.stringify(error)}`);
  return data === null;
}

/** Messages the server "sent" to an address, newest first. */
export async function outbox(to) {
  const url = new URL(OUTBOX_URL);
  url.searchParams.set("to", to);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`outbox ${url} answered ${res.status}`);
  const list = await res.json();
  if (!Array.isArray(list)) throw new Error(`outbox ${url} did not answer a JSON array`);
  return list;
}

/**
 * Waits (up to ~5 s) for the newest message to `to` whose kind matches `kind` and that is not in
 * `seen` (messages already read), and returns { token, url, msg }. The token comes from the
 * message, else from its link (`?token=` or the last path segment).
 */
export async function mail(to, kind, { seen = [] } = {}) {
  const old = new Set(seen.map((m) => JSON.stringify(m)));
  for (let i = 0; i < 50; i++) {
    const msg = (await outbox(to)).find((m) => kind.test(String(m.kind || "")) && !old.has(JSON.stringify(m)));
    if (msg) {
      const url = msg.url ? new URL(msg.url, BASE_URL) : undefined;
      const token = msg.token || url?.searchParams.get("token") || url?.pathname.split("/").filter(Boolean).pop();
      return { token, url, msg };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${kind} message for ${to} in the outbox`);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** The client revives ISO strings into Dates; accept either form, nothing else. */
export function isDateLike(v) {
  return (v instanceof Date && !Number.isNaN(v.getTime())) || (typeof v === "string" && ISO.test(v));
}
export const ms = (v) => new Date(v).getTime();
