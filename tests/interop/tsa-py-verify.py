#!/usr/bin/env python3
"""Time-stamps a signature with sigstore-python's own TSA client and verifies
the answer with sigstore-python's own verifier, the code a bundle's RFC 3161
timestamps go through (sigstore.verify.Verifier._verify_signed_timestamp,
over rfc3161_client's VerifierBuilder), against a trusted root whose
timestampAuthorities hold the TSA chain.

Usage: tsa-py-verify.py TSA_URL CHAIN_PEM [--other-chain PEM]

  TSA_URL      the TSA's base URL (POST TSA_URL/api/v1/timestamp)
  CHAIN_PEM    the TSA chain, signing certificate first, root last
  --other-chain  a chain from another root: the timestamp must NOT verify
                 against a trusted root holding only that one

Prints one line per check; exit 0 when all pass, 1 otherwise.
"""
import argparse
import base64
import datetime
import json
import os
import re
import sys
import tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rfc3161_client import VerifierBuilder
from sigstore._internal.timestamp import TimestampAuthorityClient
from sigstore.models import TrustedRoot
from sigstore.verify.verifier import Verifier


def pem_certs(path):
    text = open(path).read()
    rx = r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----"
    return [base64.b64decode("".join(m.split())) for m in re.findall(rx, text, re.S)]


def trusted_root(chain):
    """A trusted root with the TSA chain; sigstore-python's Verifier also
    wants a Rekor log and a CA, which play no part here (a fresh key and the
    TSA root)."""
    b64 = lambda b: base64.b64encode(b).decode()
    spki = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    valid = {"start": "2000-01-01T00:00:00Z"}
    return {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "http://127.0.0.1:1",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": b64(spki), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": valid},
            "logId": {"keyId": b64(os.urandom(32))},
        }],
        "certificateAuthorities": [{
            "subject": {"organization": "unused", "commonName": "unused"},
            "uri": "http://127.0.0.1:1",
            "certChain": {"certificates": [{"rawBytes": b64(chain[-1])}]},
            "validFor": valid,
        }],
        "ctlogs": [],
        "timestampAuthorities": [{
            "subject": {"organization": "fulcrum test", "commonName": "fulcrum tsa"},
            "uri": "http://127.0.0.1:1/api/v1/timestamp",
            "certChain": {"certificates": [{"rawBytes": b64(c)} for c in chain]},
            "validFor": valid,
        }],
    }


def verifier_for(chain):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(trusted_root(chain), f)
        path = f.name
    try:
        return Verifier(trusted_root=TrustedRoot.from_file(path))
    finally:
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("chain")
    ap.add_argument("--other-chain")
    a = ap.parse_args()
    ok = True

    def check(cond, msg):
        nonlocal ok
        print(("ok: " if cond else "FAIL: ") + msg)
        ok = ok and cond

    chain = pem_certs(a.chain)
    signature = os.urandom(71)  # stands for a bundle's signature
    client = TimestampAuthorityClient(a.url.rstrip("/") + "/api/v1/timestamp")
    resp = client.request_timestamp(signature)  # DER query with a nonce
    gen = resp.tst_info.gen_time
    now = datetime.datetime.now(datetime.timezone.utc)
    check(abs((now - gen).total_seconds()) < 60,
          f"sigstore-python TimestampAuthorityClient: granted, genTime {gen.isoformat()}, "
          f"nonce {resp.tst_info.nonce}")
    v = verifier_for(chain)
    res = v._verify_signed_timestamp(resp, signature)
    check(res is not None and res.time == gen,
          f"sigstore-python Verifier: timestamp verified against the trusted root ({res})")
    check(v._verify_signed_timestamp(resp, signature + b"x") is None,
          "sigstore-python Verifier: refused for another message")
    # rfc3161_client directly, with the policy it must carry
    from cryptography.x509 import ObjectIdentifier, load_der_x509_certificate
    certs = [load_der_x509_certificate(c) for c in chain]
    b = VerifierBuilder().tsa_certificate(certs[0]).add_root_certificate(certs[-1])
    b = b.policy_id(ObjectIdentifier("1.3.6.1.4.1.57264.2"))
    check(b.build().verify_message(resp, signature),
          "rfc3161_client: verified with policy 1.3.6.1.4.1.57264.2 and the leaf's critical "
          "timeStamping EKU")
    if a.other_chain:
        other = verifier_for(pem_certs(a.other_chain))
        check(other._verify_signed_timestamp(resp, signature) is None,
              "sigstore-python Verifier: refused against a trusted root with another TSA")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
