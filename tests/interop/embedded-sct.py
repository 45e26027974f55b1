#!/usr/bin/env python3
"""The embedded SCT of a leaf certificate, verified and printed as the
CT submission answer it stands for (pyca/cryptography only, none of
fulcrum's code).

Usage: embedded-sct.py LEAF_PEM ISSUER_PEM LOG_KEY_PEM

Checks that the leaf holds exactly one SCT, from the log whose key is
LOG_KEY_PEM (log ID = SHA-256 of its SPKI), that its signature verifies
over the RFC 6962 3.2 precert input rebuilt here (timestamp, SHA-256 of
the issuer's SPKI, tbs_precertificate_bytes, extensions), and that it
carries the static-ct-api leaf_index extension. Prints one JSON line
{"index": N, "sct": {...add-pre-chain answer...}} for the Go reader's
-subs file; exit 1 with the reason otherwise.
"""
import base64
import datetime
import hashlib
import json
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def spki(key):
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def main(leaf_path, issuer_path, key_path):
    cert = x509.load_pem_x509_certificate(open(leaf_path, "rb").read())
    issuer = x509.load_pem_x509_certificate(open(issuer_path, "rb").read())
    key = serialization.load_pem_public_key(open(key_path, "rb").read())
    scts = cert.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps).value
    if len(scts) != 1:
        sys.exit(f"want exactly one SCT, got {len(scts)}")
    sct = scts[0]
    if sct.log_id != hashlib.sha256(spki(key)).digest():
        sys.exit("the SCT's log ID is not the SHA-256 of the log key")
    ikh = hashlib.sha256(spki(issuer.public_key())).digest()
    tbs = cert.tbs_precertificate_bytes
    ts = int(sct.timestamp.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)
    ext = sct.extension_bytes
    signed = (b"\x00\x00" + struct.pack(">Q", ts) + b"\x00\x01" + ikh
              + len(tbs).to_bytes(3, "big") + tbs + struct.pack(">H", len(ext)) + ext)
    key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
    if len(ext) != 8 or ext[:3] != b"\x00\x00\x05":
        sys.exit(f"no leaf_index extension: {ext.hex()}")
    ds = b"\x04\x03" + struct.pack(">H", len(sct.signature)) + sct.signature
    print(json.dumps({"index": int.from_bytes(ext[3:], "big"), "sct": {
        "sct_version": 0, "id": base64.b64encode(sct.log_id).decode(), "timestamp": ts,
        "extensions": base64.b64encode(ext).decode(),
        "signature": base64.b64encode(ds).decode()}}))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
