"""A JWT issuer and a JWT verifier built on jwcrypto, for the public JWKS rotation test
(crates/keyward/tests/public_jwks.rs).

    rotation.py sign JWK_JSON ALG        prints a compact JWT signed with the (private) JWK, kid in
                                         the header
    rotation.py verify JWKS_URL TOKEN    fetches the JWK Set over HTTP like a verifier would and
                                         verifies TOKEN against it (the key is chosen by kid);
                                         exit 0 VERIFIED, 1 REJECTED, 3 when the set holds private
                                         material
"""
import json
import sys
import time
import urllib.request

from jwcrypto import jwk, jwt


def sign(jwk_json, alg):
    key = jwk.JWK.from_json(jwk_json)
    now = int(time.time())
    token = jwt.JWT(
        header={"alg": alg, "kid": key.key_id},
        claims={"iss": "keyward-test", "sub": "rotation", "iat": now, "exp": now + 3600},
    )
    token.make_signed_token(key)
    print(token.serialize())


def verify(url, token):
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = resp.read()
    keys = jwk.JWKSet.from_json(body)
    for k in keys:
        if k.has_private:
            print("PRIVATE material in the public JWKS:", k.key_id)
            sys.exit(3)
    try:
        verified = jwt.JWT(jwt=token, key=keys)
    except Exception as e:  # jwcrypto raises its own types for a missing kid or bad signature
        print("REJECTED", type(e).__name__, e)
        sys.exit(1)
    print("VERIFIED", json.loads(verified.claims)["sub"])


if __name__ == "__main__":
    if sys.argv[1] == "sign":
        sign(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: rotation.py sign JWK ALG | verify URL TOKEN")
