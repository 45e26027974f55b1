#!/usr/bin/env python3
"""Writes a Sigstore trusted root (application/vnd.dev.sigstore.trustedroot+json;
version=0.1) for a private instance: fulcrum's CA chain, the keys of one or
more CT logs and optionally one TSA; no Rekor. Standard library only.

Usage:
  ct-trusted-root.py --ca-chain PEM --ca-uri URL --ct-pub PEM --ct-url URL
                     [--ct-pub PEM2 --ct-url URL2 ...]
                     [--ct-log-id-from PEM] [--tsa TSA_JSON] [--start RFC3339]

  --ca-chain       the CA certificates (issuing CA first, root last), PEM
  --ct-pub         a CT log public key, PEM SubjectPublicKeyInfo (P-256);
                   repeat --ct-pub and --ct-url (in pairs, same order) for
                   several logs
  --ct-log-id-from compute the first log's logId.keyId from this other key
                   instead (to make a root whose log ID and key disagree)
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
    ap.add_argument("--ct-pub", required=True, action="append")
    ap.add_argument("--ct-url", required=True, action="append")
    ap.add_argument("--ct-log-id-from")
    ap.add_argument("--tsa")
    ap.add_argument("--start", default="2000-01-01T00:00:00Z")
    a = ap.parse_args()

    certs = pem_blocks(a.ca_chain, "CERTIFICATE")
    if not certs:
        raise SystemExit(f"no certificate in {a.ca_chain}")
    if len(a.ct_pub) != len(a.ct_url):
        raise SystemExit("give --ct-pub and --ct-url in pairs")
    ctlogs = []
    for i, (pub, url) in enumerate(zip(a.ct_pub, a.ct_url)):
        spki = pem_blocks(pub, "PUBLIC KEY")
        if len(spki) != 1:
            raise SystemExit(f"want one PUBLIC KEY in {pub}")
        id_spki = spki[0]
        if i == 0 and a.ct_log_id_from:
            id_spki = pem_blocks(a.ct_log_id_from, "PUBLIC KEY")[0]
        ctlogs.append((url, spki[0], id_spki))
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
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": b64(spki), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": valid},
            "logId": {"keyId": b64(hashlib.sha256(id_spki).digest())},
        } for url, spki, id_spki in ctlogs],
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
