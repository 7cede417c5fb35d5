#!/usr/bin/env python3
"""Verify a Portcullis JWT with its JWKS (the Python recipe of docs/jwt.md).

Usage: verify.py JWKS_URL TOKEN ISSUER [AUDIENCE]
AUDIENCE defaults to ISSUER (Portcullis uses the base URL's origin for both).
Prints the verified claims as JSON; exits 1 if the token does not verify.
"""
import json
import sys

import jwt
from jwt import PyJWKClient


def verify(jwks_url: str, token: str, issuer: str, audience: str) -> dict:
    # --- recipe (docs/jwt.md) ---
    jwks = PyJWKClient(jwks_url)  # caches keys; refetches on an unknown kid
    signing_key = jwks.get_signing_key_from_jwt(token)  # picks the key by the token's kid
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=[signing_key.algorithm_name],  # only the algorithm the key declares
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )
    # --- end of recipe ---


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    jwks_url, token, issuer = sys.argv[1:4]
    audience = sys.argv[4] if len(sys.argv) == 5 else issuer
    try:
        claims = verify(jwks_url, token, issuer, audience)
    except Exception as e:  # any failure means "not verified"
        print(f"not verified: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
