#!/usr/bin/env node
// Verify a Portcullis JWT with its JWKS (the Node recipe of docs/jwt.md).
//
// Usage: node verify.mjs JWKS_URL TOKEN ISSUER [AUDIENCE]
// AUDIENCE defaults to ISSUER (Portcullis uses the base URL's origin for both).
// Prints the verified claims as JSON; exits 1 if the token does not verify.
import { createRemoteJWKSet, jwtVerify } from "jose";

const [jwksUrl, token, issuer, audience = issuer] = process.argv.slice(2);
if (!jwksUrl || !token || !issuer) {
  console.error("usage: node verify.mjs JWKS_URL TOKEN ISSUER [AUDIENCE]");
  process.exit(2);
}

try {
  // --- recipe (docs/jwt.md) ---
  const JWKS = createRemoteJWKSet(new URL(jwksUrl)); // caches keys; refetches on an unknown kid
  const { payload } = await jwtVerify(token, JWKS, {
    issuer,
    audience,
    requiredClaims: ["exp", "iat", "sub"],
  });
  // --- end of recipe ---
  console.log(JSON.stringify(payload));
} catch (e) {
  console.error(`not verified: ${e.code ?? e.name}: ${e.message}`);
  process.exit(1);
}
