// The HTTP side of peer-import.sh. `record`: sign users up through Better Auth (../shared/peer),
// give one an organization, and keep their e-mails and passwords in $STATE. `signin`: each of
// them signs in to Portcullis with the old password (200), a wrong one is refused (401).
//   BASE_URL=http://127.0.0.1:PORT STATE=state.json node peer-import.mjs record|signin
import { readFileSync, writeFileSync } from "node:fs";

const base = process.env.BASE_URL;
const state = process.env.STATE;
const mode = process.argv[2];

async function post(path, body, cookie) {
  const headers = { "content-type": "application/json", origin: base };
  if (cookie) headers.cookie = cookie;
  const r = await fetch(`${base}/api/auth${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, text, cookie: (r.headers.getSetCookie?.() ?? []).map((c) => c.split(";")[0]).join("; ") };
}

let failed = 0;
const check = (ok, what) => {
  console.log(`${ok ? "ok" : "not ok"} - ${what}`);
  if (!ok) failed = 1;
};

if (mode === "record") {
  const users = [
    { email: "ada.import@example.com", password: "ada-lovelace-1815", name: "Ada" },
    { email: "Grace.Import@Example.com", password: "grace-hopper-1906", name: "Grace" },
    { email: "linus.import@example.com", password: "pässwörd-ünïcode-1969", name: "Linus" },
  ];
  for (const u of users) {
    const r = await post("/sign-up/email", u);
    check(r.status === 200, `peer: sign-up ${u.email} (${r.status} ${r.status === 200 ? "" : r.text})`);
    if (u.name === "Ada") {
      const o = await post("/organization/create", { name: "Analytical Engines", slug: "analytical-engines" }, r.cookie);
      check(o.status === 200, `peer: organization for ${u.email} (${o.status})`);
    }
  }
  writeFileSync(state, JSON.stringify({ users }, null, 2));
} else if (mode === "signin") {
  const { users } = JSON.parse(readFileSync(state, "utf8"));
  for (const u of users) {
    const wrong = await post("/sign-in/email", { email: u.email, password: `${u.password}-not` });
    check(wrong.status === 401, `portcullis: wrong password for ${u.email} refused (${wrong.status})`);
    const r = await post("/sign-in/email", { email: u.email, password: u.password });
    check(r.status === 200, `portcullis: ${u.email} signs in with the password Better Auth hashed (${r.status})`);
  }
} else {
  console.error("usage: node peer-import.mjs record|signin");
  process.exit(2);
}
process.exit(failed);
