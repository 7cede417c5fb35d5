// Reads back, through Portcullis, a database that Better Auth 1.7.24 (../shared/peer, FIELDS=on,
// COOKIE_CACHE=on) wrote; driven by peer-readback.sh, which starts and stops the servers. Plain
// Node (fetch), no dependencies. One phase per run, the state passed on in a JSON file:
//
//   node peer-readback.mjs record   BASE_URL=<peer>        STATE=<file>  users written by Better Auth
//   node peer-readback.mjs check    BASE_URL=<portcullis>  STATE=<file>  Portcullis reads them back
//   node peer-readback.mjs readback BASE_URL=<peer>        STATE=<file>  Better Auth reads Portcullis's writes
//
// Every comparison is on the raw response text (key order, escapes, number and date formats), not
// on parsed values: the compact cookie-cache signature covers Better Auth's exact bytes, so "the
// same JSON" has to mean the same bytes. Nothing is excluded: the sessions are minutes old, so no
// get-session refreshes them (updateAge is a day) and every timestamp is the stored one. The only
// masked value is the new session token of a sign-in (each sign-in creates a session).
import fs from "node:fs";

const phase = process.argv[2];
const BASE = process.env.BASE_URL;
const STATE = process.env.STATE;
if (!["record", "check", "readback"].includes(phase) || !BASE || !STATE) {
  console.error("usage: BASE_URL=... STATE=file node peer-readback.mjs record|check|readback");
  process.exit(2);
}
const AUTH = `${BASE}/api/auth`;
const ORIGIN = new URL(BASE).origin;
const TOKEN = "better-auth.session_token";
const DATA = "better-auth.session_data";
const PASSWORD = "password-peer-readback-1234";

// ------------------------------------------------------------------ reporting
let failures = 0;
function ok(name) {
  console.log(`ok - ${name}`);
}
function fail(name, detail) {
  failures++;
  console.log(`not ok - ${name}`);
  for (const line of String(detail).split("\n")) console.log(`    ${line}`);
}
/** Byte-for-byte: on a difference, both texts and where they part. */
function same(name, actual, expected, who = ["portcullis", "peer"]) {
  if (actual === expected) return ok(name);
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  fail(
    name,
    `${who[0]}: ${actual}\n${who[1]}: ${expected}\n` +
      `first difference at character ${i}: ${who[0]} …${JSON.stringify(actual.slice(Math.max(0, i - 40), i + 40))}… ` +
      `vs ${who[1]} …${JSON.stringify(expected.slice(Math.max(0, i - 40), i + 40))}…`,
  );
}
function check(name, cond, detail = "") {
  cond ? ok(name) : fail(name, detail);
}

// ------------------------------------------------------------------ HTTP
/** Set-Cookie values of a response, as {name: value} (a deleted cookie maps to ""). */
function setCookies(res) {
  const out = {};
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    out[pair.slice(0, eq).trim()] = /max-age=0(;|$)/i.test(line) ? "" : pair.slice(eq + 1);
  }
  return out;
}
async function call(method, path, { cookies = {}, body } = {}) {
  const cookie = Object.entries(cookies)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${v}`)
    .join("; ");
  const res = await fetch(AUTH + path, {
    method,
    headers: {
      origin: ORIGIN,
      ...(cookie ? { cookie } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { text, cookies: setCookies(res) };
}
/** The `session` member of a compact session_data cookie, re-serialised in its own key order. */
function cachePayload(cookie) {
  const outer = JSON.parse(Buffer.from(decodeURIComponent(cookie), "base64url").toString("utf8"));
  const { session, user, version } = outer.session;
  return JSON.stringify({ session, user, version });
}
/** The cookies a get-session sends: the session token and, for the cached path, a cache entry. */
const jar = (u, data) => ({ [TOKEN]: u.token, ...(data ? { [DATA]: data } : {}) });
const maskToken = (text) => text.replace(/"token":"[^"]*"/, '"token":"<new session token>"');

// ------------------------------------------------------------------ the users Better Auth writes
// The planning app's and SaaS template's fields of ../shared/conformance/fields: strings, booleans,
// string[] with non-ASCII, a json object, a date, number/string defaults, input:false fields given
// (and ignored), a returned:false field; plus the username plugin's fields and a name that needs
// escaping (quote, control character, U+2028, astral plane).
const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
const USERS = [
  {
    key: "ada",
    signUp: {
      email: `ada-${stamp}@example.com`,
      password: PASSWORD,
      name: "Ada Lovelace",
      username: "Ada_Lovelace",
      theme: "dark",
      blocklist: ["exam", "test", "contrôle", "試験"],
      // jsonb hands keys back shortest first ("b" before "10"); Better Auth answers them in
      // JavaScript's object order (array-index keys first: "10" before "b").
      colors: { lecture: "#10b981", td: "#f59e0b", b: "#000", "10": "#111", nested: { a: [1, 2.5, "é"], z: null } },
      birthday: "1990-06-15T12:34:56.789Z",
      nickname: "ada",
      secretNote: "kept but never returned",
      plan: "enterprise", // input:false: ignored at sign-up, the default stays
      monthlyCreditsQuota: 999999, // input:false
    },
    updateUser: {
      plannings: ["enscr.elevesing1iereannee", "groupe-B"],
      prefsMeta: JSON.stringify({ theme: 1709419845000, plannings: 1709419850000 }),
      showWeekends: false,
      highlightTeacher: true,
    },
    updateSession: { deviceName: "Zoë’s laptop 💻" },
  },
  {
    key: "bob",
    signUp: {
      email: `bob-${stamp}@example.com`,
      password: PASSWORD,
      name: 'Bob "the builder" \u0001 \u2028 🧱 Ünïcödé',
      username: "Bob_The",
      displayUsername: "Bob The",
    },
  },
];

async function record() {
  const state = { users: {} };
  for (const u of USERS) {
    const up = await call("POST", "/sign-up/email", { body: u.signUp });
    const s = { email: u.signUp.email, token: up.cookies[TOKEN] };
    if (u.updateUser) await call("POST", "/update-user", { cookies: jar(s), body: u.updateUser });
    if (u.updateSession) await call("POST", "/update-session", { cookies: jar(s), body: u.updateSession });
    // The database answer, which also writes a fresh cache cookie holding every change above.
    const db = await call("GET", "/get-session?disableCookieCache=true", { cookies: jar(s) });
    s.dbText = db.text;
    s.cacheCookie = db.cookies[DATA];
    if (!s.cacheCookie) throw new Error("the peer set no session_data cookie: is COOKIE_CACHE=on?");
    // The answer from that cookie alone: the peer sets no cookie when it answers from the cache.
    const cached = await call("GET", "/get-session", { cookies: jar(s, s.cacheCookie) });
    if (DATA in cached.cookies) throw new Error("the peer's get-session with its cache cookie read the database");
    s.cachedText = cached.text;
    s.cachedSetCookies = Object.keys(cached.cookies).filter((k) => k === TOKEN || k === DATA);
    const signIn = await call("POST", "/sign-in/email", { body: { email: u.signUp.email, password: PASSWORD } });
    s.signInText = maskToken(signIn.text);
    state.users[u.key] = s;
    console.log(`recorded ${u.key}: ${s.dbText}`);
  }
  fs.writeFileSync(STATE, JSON.stringify(state, null, 2));
}

// ------------------------------------------------------------------ Portcullis reads them back
// What Portcullis writes for the readback phase (d): a change through update-user and
// update-session on Ada's peer-born session.
const PORTCULLIS_UPDATE_USER = {
  theme: "solarized",
  blocklist: ["ß", "日本語", 'quote " and \\ backslash'],
  colors: { z: [1, 2], a: { é: true }, "7": 7 },
  nickname: null,
  birthday: "2001-02-03T04:05:06.007Z",
};
const PORTCULLIS_UPDATE_SESSION = { deviceName: "phone 📱" };

async function checkPortcullis() {
  const state = JSON.parse(fs.readFileSync(STATE, "utf8"));
  for (const [key, s] of Object.entries(state.users)) {
    // (a) The peer's cache cookie: its compact signature covers the peer's key order and must
    // verify; Portcullis must then answer exactly what the peer answered from it.
    const cached = await call("GET", "/get-session", { cookies: jar(s, s.cacheCookie) });
    same(`${key}: get-session from the peer's cache cookie = the peer's cached answer`, cached.text, s.cachedText);
    const setNames = Object.keys(cached.cookies).filter((k) => k === TOKEN || k === DATA);
    same(`${key}: ... and sets the same session cookies (none)`, JSON.stringify(setNames), JSON.stringify(s.cachedSetCookies));

    // (b) The database answer.
    const db = await call("GET", "/get-session?disableCookieCache=true", { cookies: jar(s) });
    same(`${key}: get-session?disableCookieCache=true = the peer's database answer`, db.text, s.dbText);
    const mine = db.cookies[DATA];
    if (!mine) {
      fail(`${key}: Portcullis sets a session_data cookie on the database path`, `set-cookie: ${JSON.stringify(db.cookies)}`);
    } else {
      same(`${key}: the cache cookie Portcullis writes holds the peer's payload, in its key order`, cachePayload(mine), cachePayload(s.cacheCookie));
      const again = await call("GET", "/get-session", { cookies: jar(s, mine) });
      same(`${key}: get-session from Portcullis's own cache cookie = the peer's cached answer`, again.text, s.cachedText);
    }

    // (c) Sign-in with e-mail and password of the peer-born user (scrypt hash written by the peer).
    const signIn = await call("POST", "/sign-in/email", { body: { email: s.email, password: PASSWORD } });
    same(`${key}: sign-in/email answer (new session token masked) = the peer's`, maskToken(signIn.text), s.signInText);
  }

  // (d) Portcullis writes; readback checks Better Auth reads it.
  const ada = state.users.ada;
  await call("POST", "/update-user", { cookies: jar(ada), body: PORTCULLIS_UPDATE_USER });
  await call("POST", "/update-session", { cookies: jar(ada), body: PORTCULLIS_UPDATE_SESSION });
  const db = await call("GET", "/get-session?disableCookieCache=true", { cookies: jar(ada) });
  const cached = await call("GET", "/get-session", { cookies: jar(ada, db.cookies[DATA]) });
  state.portcullis = { dbText: db.text, cacheCookie: db.cookies[DATA], cachedText: cached.text };
  fs.writeFileSync(STATE, JSON.stringify(state, null, 2));
}

async function readback() {
  const state = JSON.parse(fs.readFileSync(STATE, "utf8"));
  const ada = state.users.ada;
  const p = state.portcullis;
  const who = ["peer", "portcullis"];
  const db = await call("GET", "/get-session?disableCookieCache=true", { cookies: jar(ada) });
  same("ada: after Portcullis's update-user/update-session, the peer's database answer = Portcullis's", db.text, p.dbText, who);
  const expect = { theme: "solarized", nickname: null, deviceName: "phone 📱" };
  const parsed = JSON.parse(db.text);
  check(
    "ada: ... and carries the values Portcullis wrote",
    parsed.user.theme === expect.theme && parsed.user.nickname === null && parsed.session.deviceName === expect.deviceName &&
      JSON.stringify(parsed.user.blocklist) === JSON.stringify(PORTCULLIS_UPDATE_USER.blocklist) &&
      parsed.user.birthday === PORTCULLIS_UPDATE_USER.birthday,
    db.text,
  );
  if (!p.cacheCookie) return fail("ada: Portcullis wrote a cache cookie", "none was set");
  const cached = await call("GET", "/get-session", { cookies: jar(ada, p.cacheCookie) });
  check("ada: the peer answers from Portcullis's cache cookie (its signature verifies)", !(DATA in cached.cookies), JSON.stringify(cached.cookies));
  same("ada: ... and its answer = Portcullis's cached answer", cached.text, p.cachedText, who);
}

try {
  await { record, check: checkPortcullis, readback }[phase]();
} catch (e) {
  fail(`${phase}: ${e.message}`, e.stack);
}
console.log(failures ? `# ${phase}: ${failures} failed` : `# ${phase}: all passed`);
process.exit(failures ? 1 : 0);
