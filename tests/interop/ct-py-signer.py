#!/usr/bin/env python3
"""Gets a signing certificate the way sigstore-python's own signer does and
lets sigstore-python check its SCT: SigningContext.from_trust_config(...)
.signer(IdentityToken(tok), cache=True) makes a P-256 key, posts the CSR to
the CA and runs sigstore._internal.sct.verify_sct on the answer against the
CT log keys of the trusted root (ctlogs whose validFor covers now). Nothing
is signed and Rekor is never contacted (its URL in the signing config is a
placeholder that sigstore-python requires but only uses in sign_*()).

Usage: ct-py-signer.py FULCIO_URL TOKEN TRUSTED_ROOT_JSON
Exit 0 and the leaf PEM on stdout; 1 and the error on stderr.
"""
import json
import sys


def main() -> None:
    if len(sys.argv) != 4:
        print("usage: ct-py-signer.py FULCIO_URL TOKEN TRUSTED_ROOT_JSON", file=sys.stderr)
        sys.exit(2)
    url, token, root_path = sys.argv[1:]
    from cryptography.hazmat.primitives import serialization
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    start = "2000-01-01T00:00:00Z"
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.load(open(root_path)),
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [{"url": url, "majorApiVersion": 1, "validFor": {"start": start},
                        "operator": "fulcrum-test"}],
            "rekorTlogUrls": [{"url": "http://127.0.0.1:9", "majorApiVersion": 1,
                               "validFor": {"start": start}, "operator": "unused"}],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        },
    }
    try:
        ctx = SigningContext.from_trust_config(ClientTrustConfig.from_json(json.dumps(config)))
        with ctx.signer(IdentityToken(token), cache=True) as signer:
            cert = signer._signing_cert()
    except Exception as e:  # FulcioClientError, VerificationError, ...
        print(f"ct-py-signer: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.write(cert.public_bytes(serialization.Encoding.PEM).decode())


if __name__ == "__main__":
    main()
