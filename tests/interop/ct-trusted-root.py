#!/usr/bin/env python3
"""Writes a Sigstore trusted root (application/vnd.dev.sigstore.trustedroot+json;
version=0.1) for a private instance: fulcrum's CA chain, one CT log key and
optionally one TSA; no Rekor. Standard library only.

Usage:
  ct-trusted-root.py --ca-chain PEM --ca-uri URL --ct-pub PEM --ct-url URL
                     [--ct-log-id-from PEM] [--tsa TSA_JSON] [--start RFC3339]

  --ca-chain       the CA certificates (issuing CA first, root last), PEM
  --ct-pub         the CT log public key, PEM SubjectPublicKeyInfo (P-256)
  --ct-log-id-from compute logId.keyId from this other key instead (to make
                   a root whose log ID and key disagree)
  --tsa            JSON written by js/ct-sign.mjs: {uri, subject, certificates}
  --start          validFor.start of every entry (default 2000-01-01T00:00:00Z)
Prints the JSON on stdout.
"""
import argparse
import base64
import hashlib
import json
import re
import ssl


def pem_blocks(path: str, label: str) -> list[bytes]:
    text = open(path).read()
    rx = rf"-----BEGIN {label}-----(.*?)-----END {label}-----"
    return [base64.b64decode("".join(m.split())) for m in re.findall(rx, text, re.S)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ca-chain", required=True)
    ap.add_argument("--ca-uri", required=True)
    ap.add_argument("--ct-pub", required=True)
    ap.add_argument("--ct-url", required=True)
    ap.add_argument("--ct-log-id-from")
    ap.add_argument("--tsa")
    ap.add_argument("--start", default="2000-01-01T00:00:00Z")
    a = ap.parse_args()

    certs = pem_blocks(a.ca_chain, "CERTIFICATE")
    if not certs:
        raise SystemExit(f"no certificate in {a.ca_chain}")
    spki = pem_blocks(a.ct_pub, "PUBLIC KEY")
    if len(spki) != 1:
        raise SystemExit(f"want one PUBLIC KEY in {a.ct_pub}")
    id_spki = pem_blocks(a.ct_log_id_from, "PUBLIC KEY")[0] if a.ct_log_id_from else spki[0]
    b64 = lambda b: base64.b64encode(b).decode()
    valid = {"start": a.start}
    root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [],
        "certificateAuthorities": [{
            "subject": {"organization": "fulcrum test", "commonName": "fulcrum"},
            "uri": a.ca_uri,
            "certChain": {"certificates": [{"rawBytes": b64(c)} for c in certs]},
            "validFor": valid,
        }],
        "ctlogs": [{
            "baseUrl": a.ct_url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": b64(spki[0]), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": valid},
            "logId": {"keyId": b64(hashlib.sha256(id_spki).digest())},
        }],
        "timestampAuthorities": [],
    }
    if a.tsa:
        tsa = json.load(open(a.tsa))
        root["timestampAuthorities"].append({
            "subject": tsa["subject"],
            "uri": tsa["uri"],
            "certChain": {"certificates": [{"rawBytes": c} for c in tsa["certificates"]]},
            "validFor": valid,
        })
    print(json.dumps(root, indent=2))


if __name__ == "__main__":
    main()
