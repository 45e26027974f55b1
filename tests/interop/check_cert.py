#!/usr/bin/env python3
"""Independent check of a Fulcio-style leaf certificate (pyca/cryptography
and the openssl command, none of fulcrum's code).

Usage:
  check_cert.py CHAIN --san-type TYPE --san VALUE --issuer URL [options]

CHAIN is a file ("-" for stdin) holding either JSON {"chain": [PEM, ...]}
(leaf first, as request-cert.mjs / request_cert.py print) or concatenated
PEM certificates (a v1 /api/v1/signingCert body).

Options:
  --san-type email|uri|othername|dns   the one expected SAN (othername means
                                       1.3.6.1.4.1.57264.1.7 UTF8String)
  --san VALUE
  --issuer URL          expects 1.3.6.1.4.1.57264.1.1 = URL (raw) and
                        1.3.6.1.4.1.57264.1.8 = URL (DER UTF8String)
  --ext OID ENC VALUE   an expected extension, ENC raw|utf8string (repeatable;
                        OID may be the suffix "24" of 1.3.6.1.4.1.57264.1.)
  --only-expected       no 1.3.6.1.4.1.57264.1.x extension beyond those expected
  --ca FILE             CA certificates (trustBundle JSON {"chains":[...]},
                        chain JSON or PEM); default: the chain after the leaf
  --public-key FILE     the leaf must certify this PEM public key (a chain JSON
                        with a "publicKey" member is used automatically)
  --lifetime SECONDS    NotAfter - NotBefore (default 600)
  --skew SECONDS        |NotBefore - now| allowed (default 10)
  --skid required|absent|any   leaf SubjectKeyId (default required; when
                        present it must be RFC 5280 method 1)
  --openssl-verify      also run `openssl verify -CAfile ROOT -untrusted
                        INTERMEDIATES LEAF` with the CA certificates
Exit 0 if every check passes, 1 with the list of failures, 2 on bad usage
or input that cannot be read.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, ObjectIdentifier

SIGSTORE = "1.3.6.1.4.1.57264.1."
OTHERNAME_SAN = ObjectIdentifier(SIGSTORE + "7")


def die(msg: str) -> None:
    print(f"check_cert: {msg}", file=sys.stderr)
    sys.exit(2)


def read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_pems(text: str) -> tuple[list[x509.Certificate], dict]:
    """Certificates of a chain JSON, trust bundle JSON or PEM text."""
    stripped = text.lstrip()
    meta: dict = {}
    if stripped.startswith("{"):
        doc = json.loads(stripped)
        if "chain" in doc:
            pems = doc["chain"]
            meta = doc
        elif "chains" in doc:
            pems = [p for ch in doc["chains"] for p in ch["certificates"]]
        elif "certificates" in doc:
            pems = doc["certificates"]
        else:
            raise ValueError("JSON has neither chain, chains nor certificates")
        if not all(isinstance(p, str) for p in pems):
            raise ValueError("certificates must be PEM strings")
        certs = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    else:
        certs = x509.load_pem_x509_certificates(text.encode())
    return certs, meta


def der_utf8string(value: str) -> bytes:
    b = value.encode("utf-8")
    n = len(b)
    if n < 0x80:
        hdr = bytes([n])
    else:
        nb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        hdr = bytes([0x80 | len(nb)]) + nb
    return b"\x0c" + hdr + b


def parse_utf8string(der: bytes) -> str | None:
    if len(der) < 2 or der[0] != 0x0C:
        return None
    n, off = der[1], 2
    if n & 0x80:
        k = n & 0x7F
        n, off = int.from_bytes(der[2 : 2 + k], "big"), 2 + k
    if off + n != len(der):
        return None
    try:
        return der[off:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def check(args) -> list[str]:
    fails: list[str] = []
    bad = fails.append
    try:
        certs, meta = load_pems(read_text(args.chain))
    except Exception as e:  # noqa: BLE001 - any parse error is a usage failure
        die(f"cannot read the chain {args.chain}: {e}")
    if not certs:
        die("no certificate in the chain")
    leaf = certs[0]
    if args.ca:
        try:
            cas, _ = load_pems(read_text(args.ca))
        except Exception as e:  # noqa: BLE001
            die(f"cannot read the CA certificates {args.ca}: {e}")
    else:
        cas = certs[1:]
    if not cas:
        bad("no CA certificate to check the leaf against (chain has only the leaf; give --ca)")

    # --- parse every extension once (duplicates make cryptography raise) ---
    try:
        exts = {e.oid.dotted_string: e for e in leaf.extensions}
    except Exception as e:  # noqa: BLE001
        bad(f"leaf extensions cannot be parsed: {e}")
        exts = {}

    if leaf.version != x509.Version.v3:
        bad(f"version is {leaf.version}, want v3")

    # --- issuer and signature ---
    issuer = None
    for ca in cas:
        if ca.subject == leaf.issuer:
            try:
                leaf.verify_directly_issued_by(ca)
                issuer = ca
                break
            except Exception:  # noqa: BLE001 - try the next candidate
                continue
    if cas and issuer is None:
        bad(f"no CA certificate with subject {leaf.issuer.rfc4514_string()!r} verifies the leaf signature")

    # --- validity ---
    nb, na = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    life = (na - nb).total_seconds()
    if life != args.lifetime:
        bad(f"NotAfter - NotBefore = {life:g} s, want {args.lifetime} s")
    now = datetime.datetime.now(datetime.timezone.utc)
    drift = (nb - now).total_seconds()
    if abs(drift) > args.skew:
        bad(f"NotBefore {nb.isoformat()} is {drift:+.0f} s from now, allowed ±{args.skew} s")
    if issuer is not None and (na > issuer.not_valid_after_utc or nb < issuer.not_valid_before_utc):
        bad("leaf validity is not inside the issuer's")

    # --- subject ---
    if leaf.subject.public_bytes() != b"\x30\x00":
        bad(f"subject is not empty: {leaf.subject.rfc4514_string()!r}")

    # --- SAN ---
    san = exts.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string)
    if san is None:
        bad("no SubjectAlternativeName")
    else:
        if not san.critical:
            bad("SubjectAlternativeName is not critical (the subject is empty)")
        names = list(san.value)
        if len(names) != 1:
            bad(f"SubjectAlternativeName has {len(names)} names, want exactly 1: {names}")
        else:
            got_type, got = san_of(names[0])
            if got_type != args.san_type or got != args.san:
                bad(f"SAN is {got_type}:{got!r}, want {args.san_type}:{args.san!r}")

    # --- KeyUsage ---
    ku = exts.get(ExtensionOID.KEY_USAGE.dotted_string)
    if ku is None:
        bad("no KeyUsage")
    else:
        v = ku.value
        flags = {n: getattr(v, n) for n in ("digital_signature", "content_commitment",
                 "key_encipherment", "data_encipherment", "key_agreement",
                 "key_cert_sign", "crl_sign")}
        if v.key_agreement:
            flags["encipher_only"] = v.encipher_only
            flags["decipher_only"] = v.decipher_only
        on = sorted(n for n, f in flags.items() if f)
        if on != ["digital_signature"]:
            bad(f"KeyUsage is {on}, want digitalSignature only")
        if not ku.critical:
            bad("KeyUsage is not critical")

    # --- ExtKeyUsage ---
    eku = exts.get(ExtensionOID.EXTENDED_KEY_USAGE.dotted_string)
    if eku is None:
        bad("no ExtendedKeyUsage")
    else:
        usages = [u.dotted_string for u in eku.value]
        if usages != [ExtendedKeyUsageOID.CODE_SIGNING.dotted_string]:
            bad(f"ExtendedKeyUsage is {usages}, want codeSigning (1.3.6.1.5.5.7.3.3) only")
        if eku.critical:
            bad("ExtendedKeyUsage is critical (Fulcio's is not)")

    # --- BasicConstraints, SKID, AKID ---
    if ExtensionOID.BASIC_CONSTRAINTS.dotted_string in exts:
        bad("leaf has BasicConstraints (Fulcio leaves have none)")
    skid = exts.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string)
    if args.skid == "required" and skid is None:
        bad("no SubjectKeyIdentifier")
    if args.skid == "absent" and skid is not None:
        bad("SubjectKeyIdentifier present, want none")
    if skid is not None:
        want = x509.SubjectKeyIdentifier.from_public_key(leaf.public_key()).digest
        if skid.value.digest != want:
            bad(f"SubjectKeyIdentifier {skid.value.digest.hex()} is not SHA-1 of the key bits ({want.hex()})")
    akid = exts.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string)
    if issuer is not None:
        try:
            iskid = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            iskid = None
        if iskid is None:
            bad("the issuer has no SubjectKeyIdentifier")
        elif akid is None:
            bad("no AuthorityKeyIdentifier")
        elif akid.value.key_identifier != iskid:
            got = akid.value.key_identifier.hex() if akid.value.key_identifier else None
            bad(f"AuthorityKeyIdentifier {got} != issuer SKID {iskid.hex()}")

    # --- Sigstore extensions ---
    expected: dict[str, tuple[str, str]] = {}
    if args.issuer is not None:
        expected[SIGSTORE + "1"] = ("raw", args.issuer)
        expected[SIGSTORE + "8"] = ("utf8string", args.issuer)
    for oid, enc, value in args.ext or []:
        if "." not in oid:
            oid = SIGSTORE + oid
        if enc not in ("raw", "utf8string"):
            die(f"--ext {oid}: encoding must be raw or utf8string, not {enc!r}")
        expected[oid] = (enc, value)
    for oid in (SIGSTORE + "1", SIGSTORE + "8"):
        if oid not in exts:
            bad(f"no {oid} extension (both .1.1 and .1.8 are required)")
    for oid, (enc, value) in expected.items():
        e = exts.get(oid)
        if e is None:
            if oid not in (SIGSTORE + "1", SIGSTORE + "8"):
                bad(f"no {oid} extension (want {enc} {value!r})")
            continue
        got = e.value.value  # UnrecognizedExtension: the extnValue octets
        want = value.encode("utf-8") if enc == "raw" else der_utf8string(value)
        if got != want:
            shown = parse_utf8string(got) if enc == "utf8string" else None
            bad(f"{oid} is {got!r}{f' (UTF8String {shown!r})' if shown is not None else ''}, want {enc} {value!r} = {want!r}")
        if e.critical:
            bad(f"{oid} is critical")
    if args.only_expected:
        extra = sorted(o for o in exts if o.startswith(SIGSTORE) and o not in expected)
        if extra:
            bad(f"unexpected Sigstore extensions: {extra}")

    # --- serial ---
    if leaf.serial_number <= 0:
        bad(f"serial {leaf.serial_number} is not positive")
    elif leaf.serial_number.bit_length() > 159:
        bad(f"serial has {leaf.serial_number.bit_length()} bits (> 159; DER > 20 bytes)")

    # --- key ---
    want_key = None
    if args.public_key:
        want_key = read_text(args.public_key)
    elif isinstance(meta.get("publicKey"), str):
        want_key = meta["publicKey"]
    if want_key is not None:
        try:
            k = serialization.load_pem_public_key(want_key.encode())
            if spki(k) != spki(leaf.public_key()):
                bad("the leaf's public key is not the client's")
        except ValueError as e:
            bad(f"cannot read the expected public key: {e}")

    if args.openssl_verify:
        fails.extend(openssl_verify(leaf, cas))
    return fails


def san_of(name) -> tuple[str, str]:
    if isinstance(name, x509.RFC822Name):
        return "email", name.value
    if isinstance(name, x509.UniformResourceIdentifier):
        return "uri", name.value
    if isinstance(name, x509.DNSName):
        return "dns", name.value
    if isinstance(name, x509.OtherName):
        if name.type_id != OTHERNAME_SAN:
            return f"othername({name.type_id.dotted_string})", name.value.hex()
        # value is the DER of [0] EXPLICIT UTF8String as cryptography keeps it
        v = parse_utf8string(name.value)
        if v is None and name.value[:1] == b"\xa0":
            v = parse_utf8string(name.value[2:] if name.value[1] < 0x80 else name.value[2 + (name.value[1] & 0x7F):])
        return "othername", v if v is not None else name.value.hex()
    return type(name).__name__, str(name.value)


def openssl_verify(leaf: x509.Certificate, cas: list[x509.Certificate]) -> list[str]:
    roots = [c for c in cas if c.subject == c.issuer]
    inter = [c for c in cas if c.subject != c.issuer]
    if not roots:
        return ["openssl verify: no self-signed root among the CA certificates"]
    pem = lambda cs: b"".join(c.public_bytes(serialization.Encoding.PEM) for c in cs)
    with tempfile.TemporaryDirectory() as d:
        paths = {}
        for name, cs in (("root", roots), ("untrusted", inter), ("leaf", [leaf])):
            paths[name] = os.path.join(d, name + ".pem")
            with open(paths[name], "wb") as f:
                f.write(pem(cs))
        cmd = ["openssl", "verify", "-x509_strict", "-CAfile", paths["root"]]
        if inter:
            cmd += ["-untrusted", paths["untrusted"]]
        cmd.append(paths["leaf"])
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return [f"openssl verify could not run: {e}"]
        out = (r.stdout + r.stderr).strip().replace(d + "/", "")
        if r.returncode != 0 or not r.stdout.strip().endswith(": OK"):
            return [f"openssl verify failed (rc {r.returncode}): {out}"]
    return []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("chain")
    p.add_argument("--san-type", required=True, choices=["email", "uri", "othername", "dns"])
    p.add_argument("--san", required=True)
    p.add_argument("--issuer")
    p.add_argument("--ext", nargs=3, action="append", metavar=("OID", "ENC", "VALUE"))
    p.add_argument("--only-expected", action="store_true")
    p.add_argument("--ca")
    p.add_argument("--public-key")
    p.add_argument("--lifetime", type=int, default=600)
    p.add_argument("--skew", type=int, default=10)
    p.add_argument("--skid", choices=["required", "absent", "any"], default="required")
    p.add_argument("--openssl-verify", action="store_true")
    args = p.parse_args()
    fails = check(args)
    if fails:
        print(f"check_cert: {len(fails)} problem(s):")
        for f in fails:
            print(f"  - {f}")
        sys.exit(1)
    print("check_cert: OK")


if __name__ == "__main__":
    main()
