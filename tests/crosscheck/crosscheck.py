#!/usr/bin/env python3
"""Independent cross-check of the JWKs keyward builds from certificates, key files and generation.

Usage: crosscheck.py CASES.json

CASES.json: {"cases": [{"name": ..., "certificate": "<abs path of the PEM given to keyward>",
"privateKey": "<abs path of the leaf's private key PEM>", "kidGiven": false,
"expectedKid": null, "jwk": {<the complete JWK keyward produced>}}]}

Optional key cases (same file, same "cases" list; "pkcs12Password" when "privateKey" is a PKCS#12
keystore, read by pyca): {"kind": "key", "name": ...,
"privateKey": "<abs path of a private key file in any format keyward reads>",
"password": "<its password>" | null, "kty": "<optional, for DER>", "jwk": {<keyward's private
JWK of that key>}}. For those, jwcrypto's JWK.from_pem(key file, password) (for DER or base64
DER files: jwcrypto's JWK of what pyca/cryptography reads) must equal keyward's JWK member by
member (kty, crv, n, e, x, y, d, p, q, dp, dq, qi; keyward may carry no other key material),
and keyward's kid, when present, is jwcrypto's RFC 7638 thumbprint unless the case says
"kidGiven". For X448, which jwcrypto cannot import, the reference is built from the raw bytes
pyca/cryptography reads (as below). Certificate cases have no "kind" (or "kind": "certificate").

Optional generated cases: {"kind": "generated", "name": ..., "kty": "RSA" | "EC" | "OKP" | "oct",
"alg": <the alg asked for>, "bits": <RSA modulus / oct key size, else absent>,
"jwk": {<keyward's complete private JWK of a key it generated, kid = RFC 7638 thumbprint>}}.
For those: jwcrypto imports the private JWK; the public members (kty, crv, n, e, x, y) equal
both jwcrypto's public export and what pyca/cryptography computes from the private members
alone (RSA: n = p*q, and d, dp, dq, qi checked against p, q, e; EC: d*G; OKP: from d); kid is
the RFC 7638 thumbprint; then a JWS signed with the private JWK verifies with a JWK built from
the public members only, or a JWE encrypted to that public-only JWK (enc A256GCM) decrypts with
the private JWK (oct keys: the same key both ways).

For each certificate case, with jwcrypto (and pyca/cryptography) and nothing of keyward:
 1. the JWK of the leaf certificate (JWK.from_pem) has the same public members
    (kty, crv, n, e, x, y) as keyward's;
 2. unless kidGiven, keyward's kid is jwcrypto's RFC 7638 SHA-256 thumbprint
    (when kidGiven, kid is expectedKid);
 3. x5c[0] is the standard base64 of the leaf DER, x5c holds exactly the uploaded certificates,
    leaf first (x5c[i] issued by x5c[i+1], by names, and by signature where pyca can check it),
    x5t / x5t#S256 are base64url SHA-1 / SHA-256 of the leaf DER;
 4. use=sig: a JWS signed with the private key and keyward's alg verifies with
    JWK(**keyward_jwk); use=enc: a JWE encrypted to JWK(**keyward_jwk) with keyward's alg
    (enc A256GCM) decrypts with the private key.

jwcrypto 1.6.1 cannot import X448 keys from PEM / pyca objects (its import_from_pyca lacks
X448), though it implements X448 JWKs and ECDH-ES with them. For X448 the reference JWK is then
built from the raw key bytes that pyca/cryptography reads from the certificate and the key file
(RFC 8037 §2: x = the raw public key) — still independent of keyward — and a `note` line on
standard error says so.

The leaf is found independently: the one uploaded certificate that issued none of the others,
and it must hold the public key of the private key file.

Prints `ok NAME`, `FAIL NAME: reason` or `skip NAME: reason` per case, then
`N passed, M failed` (`, K skipped` when some were skipped). A case is skipped (never passed)
when checks 1-3 pass but jwcrypto cannot do step 4 for its algorithm or curve.
Exit status 1 when any case failed or there was no case at all.
"""

import base64
import hashlib
import json
import math
import sys

import cryptography
import cryptography.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x448, x25519
from jwcrypto import jwe, jwk, jws
from jwcrypto.common import json_encode
from jwcrypto.jwa import JWA

try:
    from importlib.metadata import version

    VERSION = version("jwcrypto")
except Exception:  # noqa: BLE001
    VERSION = "(unknown version)"

PUBLIC_MEMBERS = ("kty", "crv", "n", "e", "x", "y")
CONTENT_ENC = "A256GCM"


class Skip(Exception):
    """Step 4 cannot be done with this jwcrypto."""


class Fail(Exception):
    """A check failed."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_certificates(path: str) -> list:
    data = open(path, "rb").read()
    if b"-----BEGIN" in data:
        certs = x509.load_pem_x509_certificates(data)
    else:
        certs = [x509.load_der_x509_certificate(data)]
    unique, seen = [], set()
    for c in certs:
        d = der(c)
        if d not in seen:
            seen.add(d)
            unique.append(c)
    return unique


def to_jwk(key) -> tuple:
    """JWK of a pyca key with jwcrypto; (jwk, note) where note tells about a fallback."""
    try:
        return jwk.JWK.from_pyca(key), None
    except jwk.InvalidJWKValue:
        pass
    raw = serialization.Encoding.Raw
    note = "jwcrypto cannot import X448 keys; reference JWK built from the raw key bytes read by pyca"
    if isinstance(key, x448.X448PrivateKey):
        public = key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
        secret = key.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        return jwk.JWK(kty="OKP", crv="X448", x=b64url(public), d=b64url(secret)), note
    if isinstance(key, x448.X448PublicKey):
        public = key.public_bytes(raw, serialization.PublicFormat.Raw)
        return jwk.JWK(kty="OKP", crv="X448", x=b64url(public)), note
    raise Fail(f"jwcrypto cannot import a {type(key).__name__}")


def issued_by_name(child: x509.Certificate, parent: x509.Certificate) -> bool:
    return child.issuer == parent.subject


def find_leaf(certs: list) -> x509.Certificate:
    leaves = [
        c
        for c in certs
        if not any(o is not c and issued_by_name(o, c) for o in certs)
    ]
    if len(leaves) != 1:
        raise Fail(f"the uploaded file has {len(leaves)} leaf certificates, expected 1")
    return leaves[0]


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise Fail(message)


def check_x5(kw: dict, certs: list, leaf: x509.Certificate) -> None:
    x5c = kw.get("x5c")
    expect(isinstance(x5c, list) and x5c, "x5c is missing or empty")
    decoded = []
    for i, entry in enumerate(x5c):
        try:
            raw = base64.b64decode(entry, validate=True)
        except Exception as exc:  # noqa: BLE001
            raise Fail(f"x5c[{i}] is not standard base64: {exc}") from exc
        expect(
            base64.b64encode(raw).decode("ascii") == entry,
            f"x5c[{i}] is not canonical padded standard base64",
        )
        decoded.append(x509.load_der_x509_certificate(raw))
    leaf_der = der(leaf)
    expect(
        x5c[0] == base64.b64encode(leaf_der).decode("ascii"),
        "x5c[0] is not the standard base64 of the leaf DER",
    )
    expect(
        sorted(der(c) for c in decoded) == sorted(der(c) for c in certs),
        "x5c does not hold exactly the uploaded certificates",
    )
    for i in range(len(decoded) - 1):
        child, parent = decoded[i], decoded[i + 1]
        expect(
            issued_by_name(child, parent),
            f"x5c[{i}] ({child.subject.rfc4514_string()}) is not issued by x5c[{i + 1}] "
            f"({parent.subject.rfc4514_string()})",
        )
        try:
            child.verify_directly_issued_by(parent)
        except (TypeError, cryptography.exceptions.UnsupportedAlgorithm):
            pass  # signature algorithm pyca cannot check; the name link stands
        except Exception as exc:  # noqa: BLE001
            raise Fail(f"x5c[{i}] signature does not verify with x5c[{i + 1}]: {exc}") from exc
    expect(kw.get("x5t") == b64url(hashlib.sha1(leaf_der).digest()), "x5t != base64url(SHA-1(leaf DER))")
    expect(
        kw.get("x5t#S256") == b64url(hashlib.sha256(leaf_der).digest()),
        "x5t#S256 != base64url(SHA-256(leaf DER))",
    )


def supported(alg: str, crv) -> str | None:
    """Why jwcrypto cannot do step 4, or None."""
    if alg not in JWA.algorithms_registry:
        return f"jwcrypto {VERSION} does not implement alg {alg}"
    if crv in ("Ed25519", "Ed448", "X25519", "X448") and crv not in jwk.ImplementedOkpCurves:
        return f"jwcrypto with this cryptography does not implement curve {crv}"
    return None


def round_trip(kw: dict, private: jwk.JWK, public: jwk.JWK | None = None) -> None:
    """Sign with `private` and verify with `public`, or encrypt to `public` and decrypt with
    `private`; `public` defaults to JWK(**kw)."""
    alg = kw["alg"]
    if public is None:
        public = jwk.JWK(**kw)
    if kw["use"] == "sig":
        payload = b"keyward cross-check payload"
        token = jws.JWS(payload)
        token.allowed_algs = [alg]
        token.add_signature(private, alg=alg, protected=json_encode({"alg": alg, "kid": kw.get("kid")}))
        compact = token.serialize(compact=True)
        check = jws.JWS()
        check.allowed_algs = [alg]
        check.deserialize(compact, key=public)
        expect(check.payload == payload, "JWS payload differs after verification")
    elif kw["use"] == "enc":
        plaintext = b"keyward cross-check secret"
        header = {"alg": alg, "enc": CONTENT_ENC, "kid": kw.get("kid")}
        token = jwe.JWE(plaintext, protected=json_encode(header))
        token.allowed_algs = [alg, CONTENT_ENC]
        token.add_recipient(public)
        compact = token.serialize(compact=True)
        check = jwe.JWE()
        check.allowed_algs = [alg, CONTENT_ENC]
        check.deserialize(compact, key=private)
        expect(check.payload == plaintext, "JWE plaintext differs after decryption")
    else:
        raise Fail(f"use is {kw['use']!r}, expected sig or enc")


KEY_MEMBERS = ("kty", "crv", "n", "e", "x", "y", "d", "p", "q", "dp", "dq", "qi", "k")


def run_key_case(case: dict) -> None:
    kw = case["jwk"]
    data = open(case["privateKey"], "rb").read()
    password = case.get("password")
    password = password.encode("utf-8") if password is not None else None
    note = None
    if case.get("pkcs12Password") is not None:
        # A PKCS#12 keystore: pyca reads it on its own (OpenSSL's PKCS#12 code, not keyward's).
        from cryptography.hazmat.primitives.serialization import pkcs12

        key, _cert, _more = pkcs12.load_key_and_certificates(data, case["pkcs12Password"].encode("utf-8"))
        expect(key is not None, "pyca found no private key in the PKCS#12 file")
        reference, note = to_jwk(key)
    elif b"-----BEGIN" not in data:
        # DER, or DER as base64 text: read by pyca (jwcrypto's from_pem takes PEM only).
        try:
            data = base64.b64decode(b"".join(data.split()), validate=True)
        except ValueError:
            pass
        try:
            private_pyca = serialization.load_der_private_key(data, password=password)
        except ValueError:
            # PKCS#1 RSAPrivateKey or SEC1 ECPrivateKey DER: pyca reads them as the PEM of
            # their type.
            kind = "RSA PRIVATE KEY" if case.get("kty") == "RSA" else "EC PRIVATE KEY"
            body = base64.encodebytes(data).decode("ascii")
            private_pyca = serialization.load_pem_private_key(
                f"-----BEGIN {kind}-----\n{body}-----END {kind}-----\n".encode("ascii"), password=password
            )
        reference, note = to_jwk(private_pyca)
    else:
        try:
            reference = jwk.JWK.from_pem(data, password)
        except (jwk.InvalidJWKValue, ValueError, TypeError):
            private_pyca = serialization.load_pem_private_key(data, password=password)
            reference, note = to_jwk(private_pyca)
    if note:
        print(f"note {case.get('name', '?')}: {note}", file=sys.stderr)
    ref = reference.export(as_dict=True, private_key=True)
    for m in KEY_MEMBERS:
        expect(kw.get(m) == ref.get(m), f"member {m}: keyward {kw.get(m)!r} != jwcrypto {ref.get(m)!r}")
    if kw.get("kid") is not None and not case.get("kidGiven"):
        expect(
            kw["kid"] == reference.thumbprint(),
            f"kid {kw['kid']!r} != RFC 7638 thumbprint {reference.thumbprint()!r}",
        )


def b64url_int(value: int, length: int | None = None) -> str:
    if length is None:
        length = max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def int_of(member: str, kw: dict) -> int:
    text = kw.get(member)
    expect(isinstance(text, str) and text, f"member {member} is missing")
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


EC_CURVES = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
    "secp256k1": (ec.SECP256K1(), 32),
}


def public_from_private(kw: dict) -> dict:
    """The public members computed from keyward's private members alone (pyca arithmetic),
    never read from the JWK's own public members."""
    kty = kw.get("kty")
    if kty == "RSA":
        p, q, d, e = (int_of(m, kw) for m in ("p", "q", "d", "e"))
        n = p * q
        expect(d * e % ((p - 1) * (q - 1) // math.gcd(p - 1, q - 1)) == 1, "d is not e^-1 mod lcm(p-1, q-1)")
        expect(int_of("dp", kw) == d % (p - 1), "dp != d mod (p-1)")
        expect(int_of("dq", kw) == d % (q - 1), "dq != d mod (q-1)")
        expect(int_of("qi", kw) * q % p == 1, "qi is not q^-1 mod p")
        return {"kty": "RSA", "n": b64url_int(n), "e": b64url_int(e)}
    if kty == "EC":
        expect(kw.get("crv") in EC_CURVES, f"unknown EC curve {kw.get('crv')!r}")
        curve, size = EC_CURVES[kw["crv"]]
        numbers = ec.derive_private_key(int_of("d", kw), curve).public_key().public_numbers()
        expect(len(kw["d"]) == len(b64url(bytes(size))), f"d is not {size} octets (RFC 7518 §6.2.2.1)")
        return {"kty": "EC", "crv": kw["crv"], "x": b64url_int(numbers.x, size), "y": b64url_int(numbers.y, size)}
    if kty == "OKP":
        raw = base64.urlsafe_b64decode(kw["d"] + "=" * (-len(kw["d"]) % 4))
        types = {"Ed25519": ed25519.Ed25519PrivateKey, "X25519": x25519.X25519PrivateKey}
        expect(kw.get("crv") in types, f"unexpected OKP curve {kw.get('crv')!r}")
        public = types[kw["crv"]].from_private_bytes(raw).public_key()
        x = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": kw["crv"], "x": b64url(x)}
    raise Fail(f"no public part for kty {kty!r}")


def run_generated_case(case: dict) -> None:
    """A key keyward generated: its private JWK imports into jwcrypto, its public members are
    what the private members imply, its kid is the RFC 7638 thumbprint (the case asks for
    keyIdType THUMBPRINT), and it signs / decrypts in jwcrypto against a JWK built from the
    public members alone (oct: the same key)."""
    kw = case["jwk"]
    expect(kw.get("kty") == case["kty"], f"kty {kw.get('kty')!r}, expected {case['kty']!r}")
    expect(kw.get("alg") == case["alg"], f"alg {kw.get('alg')!r}, expected {case['alg']!r}")
    expect(kw.get("use") in ("sig", "enc"), f"use is {kw.get('use')!r}")
    private = jwk.JWK(**kw)
    if kw["kty"] == "oct":
        expect(private.is_symmetric, "jwcrypto does not see a symmetric key")
        k = base64.urlsafe_b64decode(kw["k"] + "=" * (-len(kw["k"]) % 4))
        expect(len(k) * 8 == case["bits"], f"k has {len(k) * 8} bits, expected {case['bits']}")
        expect(kw.get("kid") == private.thumbprint(), f"kid {kw.get('kid')!r} != RFC 7638 thumbprint")
        public = jwk.JWK(kty="oct", k=kw["k"])
    else:
        expect(private.has_private, "jwcrypto sees no private key in keyward's JWK")
        if kw["kty"] == "RSA":
            n = int_of("n", kw)
            expect(n.bit_length() == case["bits"], f"n has {n.bit_length()} bits, expected {case['bits']}")
        derived = public_from_private(kw)
        members = {m: kw[m] for m in PUBLIC_MEMBERS if m in kw}
        expect(members == derived, f"public members {members} != those implied by the private key {derived}")
        theirs = private.export_public(as_dict=True)
        for m in PUBLIC_MEMBERS:
            expect(kw.get(m) == theirs.get(m), f"member {m}: keyward {kw.get(m)!r} != jwcrypto {theirs.get(m)!r}")
        public = jwk.JWK(**members, use=kw["use"], alg=kw["alg"])
        expect(not public.has_private, "the public-only JWK has a private part")
        expect(kw.get("kid") == public.thumbprint(), f"kid {kw.get('kid')!r} != RFC 7638 thumbprint {public.thumbprint()!r}")
    why = supported(kw["alg"], kw.get("crv"))
    if why:
        raise Skip(why)
    round_trip(kw, private, public)


def run_case(case: dict) -> None:
    if case.get("kind", "certificate") == "key":
        run_key_case(case)
        return
    if case.get("kind") == "generated":
        run_generated_case(case)
        return
    kw = case["jwk"]
    certs = load_certificates(case["certificate"])
    leaf = find_leaf(certs)
    private_pyca = serialization.load_pem_private_key(open(case["privateKey"], "rb").read(), password=None)
    expect(
        spki(private_pyca.public_key()) == spki(leaf.public_key()),
        "the private key does not belong to the leaf certificate",
    )
    private, note = to_jwk(private_pyca)

    # 1. public members
    try:
        reference = jwk.JWK.from_pem(leaf.public_bytes(serialization.Encoding.PEM))
    except jwk.InvalidJWKValue:
        reference, note = to_jwk(leaf.public_key())
    if note:
        print(f"note {case.get('name', '?')}: {note}", file=sys.stderr)
    ref = reference.export_public(as_dict=True)
    for m in PUBLIC_MEMBERS:
        expect(kw.get(m) == ref.get(m), f"member {m}: keyward {kw.get(m)!r} != jwcrypto {ref.get(m)!r}")
    expect(kw.get("use") in ("sig", "enc"), f"use is {kw.get('use')!r}")
    expect(isinstance(kw.get("alg"), str) and kw["alg"], "alg is missing")
    for private_member in ("d", "p", "q", "dp", "dq", "qi", "k"):
        expect(private_member not in kw, f"public JWK carries private member {private_member}")

    # 2. kid
    if case.get("kidGiven"):
        if case.get("expectedKid") is not None:
            expect(kw.get("kid") == case["expectedKid"], f"kid {kw.get('kid')!r} != given {case['expectedKid']!r}")
    else:
        expect(
            kw.get("kid") == reference.thumbprint(),
            f"kid {kw.get('kid')!r} != RFC 7638 thumbprint {reference.thumbprint()!r}",
        )

    # 3. x5c / x5t / x5t#S256
    check_x5(kw, certs, leaf)

    # 4. sign/verify or encrypt/decrypt
    why = supported(kw["alg"], kw.get("crv"))
    if why:
        raise Skip(why)
    round_trip(kw, private)


def main(argv: list) -> int:
    if len(argv) != 2:
        print("usage: crosscheck.py CASES.json", file=sys.stderr)
        return 2
    cases = json.load(open(argv[1], encoding="utf-8"))["cases"]
    passed = failed = skipped = 0
    for case in cases:
        name = case.get("name", "?")
        try:
            run_case(case)
        except Skip as why:
            skipped += 1
            print(f"skip {name}: {why}")
        except Exception as exc:  # noqa: BLE001 -- every error is a failed case
            failed += 1
            reason = str(exc) or type(exc).__name__
            print(f"FAIL {name}: {type(exc).__name__}: {reason}" if not isinstance(exc, Fail) else f"FAIL {name}: {reason}")
        else:
            passed += 1
            print(f"ok {name}")
    if not cases:
        failed += 1
        print("FAIL input: no cases")
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
