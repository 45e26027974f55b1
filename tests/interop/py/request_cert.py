#!/usr/bin/env python3
"""Request a signing certificate through sigstore-python's own Fulcio client.

Usage: request_cert.py FULCIO_URL [TOKEN|-]
       (TOKEN may instead come from SIGSTORE_IDENTITY_TOKEN; "-" reads stdin)

Everything on the wire is sigstore-python's code (the pinned version in
tests/interop/py/requirements.txt):
  * the token is wrapped in sigstore.oidc.IdentityToken, which refuses it
    the way the client does (aud "sigstore", iat/exp/sub/iss present);
  * the CSR is built by sigstore.sign.Signer._build_csr over a fresh P-256
    key, as Signer does (empty subject, critical BasicConstraints CA:FALSE,
    ECDSA with SHA-256);
  * it is sent by sigstore._internal.fulcio.client.FulcioClient
    (POST urljoin(url, "/api/v2/signingCert"), token in "Authorization:
    Bearer", body {"certificateSigningRequest": base64(PEM CSR)}).

Exit codes:
  0  prints {"chain": [PEM...], "publicKey": PEM} (leaf first) on stdout;
  1  the client failed (message on stderr; for an HTTP error the server's
     status and body are added, since the client itself drops the message);
  2  usage error or sigstore-python not importable;
  3  "client requires an embedded SCT": the server answered 2xx with
     signedCertificateDetachedSct, which sigstore-python 4.x refuses
     ("Fulcio response missing certificate chain") because it reads only
     signedCertificateEmbeddedSct. Fulcio (and fulcrum) answer that form
     when no CT log is configured. The chain of that raw answer is still
     printed on stdout (with "clientAccepted": false) so the certificate
     issued for the client's CSR can be checked.
"""
from __future__ import annotations

import json
import os
import sys
import types


def fail(code: int, msg: str) -> None:
    print(f"request_cert: {msg}", file=sys.stderr)
    sys.exit(code)


def public_pem(key) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def main() -> None:
    args = sys.argv[1:]
    if not args:
        fail(2, "usage: request_cert.py FULCIO_URL [TOKEN|-]")
    url = args[0]
    token = args[1] if len(args) > 1 else os.environ.get("SIGSTORE_IDENTITY_TOKEN", "")
    if token == "-":
        token = sys.stdin.read()
    token = token.strip()
    if not token:
        fail(2, "no identity token (argument or SIGSTORE_IDENTITY_TOKEN)")

    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from sigstore._internal.fulcio.client import FulcioClient, FulcioClientError
        from sigstore.oidc import IdentityError, IdentityToken
        from sigstore.sign import Signer
    except ImportError as e:  # pragma: no cover - depends on the venv
        fail(2, f"sigstore-python is not importable: {e}")

    try:
        identity = IdentityToken(token)
    except IdentityError as e:
        fail(1, f"sigstore-python refused the identity token: {e}")

    # Signer.__init__ would also fetch a trust root and a certificate; only
    # its CSR builder is wanted here, and that reads self._private_key only.
    key = ec.generate_private_key(ec.SECP256R1())
    csr = Signer._build_csr(types.SimpleNamespace(_private_key=key))

    client = FulcioClient(url)
    responses = []
    client.session.hooks["response"].append(lambda r, *a, **k: responses.append(r))

    try:
        resp = client.signing_cert.post(csr, identity)
    except FulcioClientError as e:
        last = responses[-1] if responses else None
        body = None
        if last is not None:
            try:
                body = last.json()
            except ValueError:
                body = None
        if (
            last is not None
            and 200 <= last.status_code < 300
            and isinstance(body, dict)
            and "signedCertificateDetachedSct" in body
            and "signedCertificateEmbeddedSct" not in body
        ):
            # The CSR path itself worked: hand the chain of the raw answer to
            # the caller (stdout) so the certificate can still be checked.
            chain = body["signedCertificateDetachedSct"].get("chain", {}).get("certificates")
            if isinstance(chain, list):
                print(json.dumps({"chain": chain, "publicKey": public_pem(key),
                                  "clientAccepted": False}))
            fail(
                3,
                "client requires an embedded SCT (server answered "
                f"{last.status_code} with signedCertificateDetachedSct; "
                f"client said: {e})",
            )
        msg = str(e) or repr(e.__cause__ or e)
        if last is not None:
            msg += f" [HTTP {last.status_code} {last.headers.get('Content-Type', '')}: {last.text[:500]}]"
        fail(1, f"FulcioClientError: {msg}")
    except Exception as e:  # requests errors, bad PEM, ...
        fail(1, f"{type(e).__name__}: {e}")

    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()
    leaf_key = resp.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    own_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if leaf_key != own_key:
        fail(1, "the leaf does not certify the key of the CSR")
    print(json.dumps({"chain": [pem(resp.cert)] + [pem(c) for c in resp.chain],
                      "publicKey": public_pem(key)}))


if __name__ == "__main__":
    main()
