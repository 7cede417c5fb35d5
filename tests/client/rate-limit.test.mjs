// Rate limiting, when the server has it on (production mode; Portcullis: PORTCULLIS_RATE_LIMIT=true,
// the peer: RATE_LIMIT=on). Each case uses its own client IP (X-Forwarded-For) so cases don't
// share buckets, and skips itself when the server lets a 4th quick sign-in through (limits off).
import { test } from "node:test";
import assert from "node:assert/strict";
import { identity, signedUp, plainPost, AUTH_URL } from "./lib/harness.mjs";

let ipSeq = 0;
const base = 1 + Math.floor(Math.random() * 200);
const freshIp = () => `198.51.100.${(base + ipSeq++) % 250 + 1}`;
const TOO_MANY = { message: "Too many requests. Please try again later." };

/** Sign-in attempts from one IP; returns the answers. */
async function attempts(n, ip, email) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(await plainPost("/sign-in/email", { email, password: "wrong-password-123" }, { "x-forwarded-for": ip }));
  }
  return out;
}

test("a 4th sign-in within 10 s from one IP gets 429 with X-Retry-After", async (t) => {
  const ip = freshIp();
  const rs = await attempts(4, ip, identity("limited").email);
  if (rs[3].status !== 429) return t.skip("the server does not rate-limit (limits are off outside production)");
  for (const r of rs.slice(0, 3)) assert.equal(r.status, 401);
  assert.equal(rs[3].status, 429);
  assert.deepEqual(rs[3].body, TOO_MANY);
  const retry = Number(rs[3].headers["x-retry-after"]);
  assert.ok(retry > 0 && retry <= 10, `X-Retry-After ${rs[3].headers["x-retry-after"]}`);
});

test("the limit is per client IP: another IP is not blocked", async (t) => {
  const u = await signedUp("limit-other");
  const ip = freshIp();
  const rs = await attempts(4, ip, u.email);
  if (rs[3].status !== 429) return t.skip("the server does not rate-limit");
  const other = await plainPost("/sign-in/email", { email: u.email, password: u.password }, { "x-forwarded-for": freshIp() });
  assert.equal(other.status, 200, other.text);
  const blocked = await plainPost("/sign-in/email", { email: u.email, password: u.password }, { "x-forwarded-for": ip });
  assert.equal(blocked.status, 429, "even the right password waits");
});

test("get-session is not held to the sign-in limit", async (t) => {
  const ip = freshIp();
  const rs = await attempts(4, ip, identity("limit-gs").email);
  if (rs[3].status !== 429) return t.skip("the server does not rate-limit");
  for (let i = 0; i < 10; i++) {
    const r = await fetch(`${AUTH_URL}/get-session`, { headers: { "x-forwarded-for": ip } });
    assert.equal(r.status, 200);
  }
});
