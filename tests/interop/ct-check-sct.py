#!/usr/bin/env python3
"""Independent check of the embedded SCT of a Fulcio-style leaf certificate
against a CT log's public key (pyca/cryptography, sigstore-python's own SCT
verifier and the log's own storage; none of fulcrum's code).

Usage:
  ct-check-sct.py CHAIN --log-key PEM [--log-key PEM2 ...] [--scts N] [options]

CHAIN is a file ("-" for stdin) holding JSON {"chain": [PEM, ...]} (leaf
first, then the issuing CA, ...: what request-cert.mjs / request_cert.py
print), a v2 signingCert answer, or concatenated PEM certificates.

Checks (each failure is listed; exit 1 if any):
  * the leaf has exactly one SCT (extension 1.3.6.1.4.1.11129.2.4.2, not
    critical) and no CT poison;
  * SCT version v1, entry type precert, log ID = SHA-256(log key SPKI);
  * SCT timestamp within [notBefore - skew, now + skew];
  * SCT extensions: with --leaf-index, a static-ct leaf_index extension
    (type 0, length 5) is required and its value printed;
  * the signature: hash SHA-256, ECDSA, and it verifies with the log key over
    the RFC 6962 section 3.2 precert input rebuilt here: version 0,
    signature type 0, timestamp, entry type 1, SHA-256 of the issuer's
    (chain[1]) SPKI, the leaf's TBS without the SCT list
    (cryptography's tbs_precertificate_bytes), and the SCT's extensions;
  * with --sigstore-python: sigstore._internal.sct.verify_sct (sigstore-python's
    own verifier, private API) with a CT keyring built from a trusted root
    holding only --log-key;
  * with --log-storage DIR (TesseraCT's --storage_dir or fulcrum ctlog's
    --storage-dir: both the static-ct-api layout, checkpoint and
    tile/data/<N>[.p/<W>], gzipped or not): the entry at the SCT's
    leaf_index in the log's data tiles has the same timestamp, issuer key
    hash, precert TBS and extensions, and the log's checkpoint covers it.

With several logs (--log-key repeated, and --log-storage once per key in
the same order), each SCT is checked against the log whose ID it names;
--scts N sets how many SCTs the leaf must carry (default 1), from distinct
logs. sigstore-python's verify_sct accepts exactly one SCT per certificate.

Options: --skew SECONDS (default 300), --quiet, --jsonl (CHAIN holds one
answer per line, e.g. from js/ct-load.mjs --save: every one is checked and
their leaf indices must all differ).
Exit 0 on success (prints one summary line), 1 with the list of failures,
2 on bad usage or unreadable input.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import gzip
import hashlib
import json
import os
import sys
import tempfile

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.certificate_transparency import (
    LogEntryType,
    SignatureAlgorithm,
    Version,
)
from cryptography.x509.oid import ExtensionOID

OID_POISON = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.3")


def die(msg: str) -> None:
    print(f"ct-check-sct: {msg}", file=sys.stderr)
    sys.exit(2)


def load_chain(text: str) -> list[x509.Certificate]:
    s = text.lstrip()
    if s.startswith("{"):
        doc = json.loads(s)
        if "chain" in doc:
            pems = doc["chain"]
        elif "signedCertificateEmbeddedSct" in doc:
            pems = doc["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        elif "signedCertificateDetachedSct" in doc:
            pems = doc["signedCertificateDetachedSct"]["chain"]["certificates"]
        else:
            raise ValueError("JSON has no chain")
        return [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    return x509.load_pem_x509_certificates(text.encode())


def load_log_key(path: str) -> ec.EllipticCurvePublicKey:
    data = open(path, "rb").read()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        die("the log key must be an EC key")
    return key


def spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def u(n: int, width: int) -> bytes:
    return n.to_bytes(width, "big")


def data_tile_path(tile_index: int) -> str:
    """Tessera's NWithSuffix: 3-digit groups, all but the last prefixed 'x'."""
    s = f"{tile_index:d}"
    # pad to a multiple of 3 digits
    s = s.zfill((len(s) + 2) // 3 * 3)
    groups = [s[i:i + 3] for i in range(0, len(s), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def read_bundle(storage: str, leaf_index: int) -> bytes | None:
    base = os.path.join(storage, "tile", "data", data_tile_path(leaf_index // 256))
    cand = []
    if os.path.isfile(base):
        cand.append(base)
    pdir = base + ".p"
    if os.path.isdir(pdir):
        widths = sorted((int(w) for w in os.listdir(pdir) if w.isdigit()), reverse=True)
        cand += [os.path.join(pdir, str(w)) for w in widths]
    for path in cand:
        raw = open(path, "rb").read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw
    return None


def parse_entries(raw: bytes) -> list[dict]:
    """static-ct-api data tile: a sequence of TileLeaf structures."""
    out, p = [], 0
    def take(n):
        nonlocal p
        if p + n > len(raw):
            raise ValueError("truncated data tile")
        b = raw[p:p + n]
        p += n
        return b
    while p < len(raw):
        e = {"timestamp": int.from_bytes(take(8), "big")}
        etype = int.from_bytes(take(2), "big")
        e["entry_type"] = etype
        if etype == 0:
            e["cert"] = take(int.from_bytes(take(3), "big"))
            e["extensions"] = take(int.from_bytes(take(2), "big"))
        elif etype == 1:
            e["issuer_key_hash"] = take(32)
            e["tbs"] = take(int.from_bytes(take(3), "big"))
            e["extensions"] = take(int.from_bytes(take(2), "big"))
            e["pre_certificate"] = take(int.from_bytes(take(3), "big"))
        else:
            raise ValueError(f"unknown entry type {etype}")
        e["chain"] = take(int.from_bytes(take(2), "big"))
        out.append(e)
    return out


def check_storage(storage: str, leaf_index: int, ts_ms: int, issuer_key_hash: bytes,
                  tbs: bytes, exts: bytes, fails: list, info: list) -> None:
    """The entry at leaf_index in a static-ct-api storage directory."""
    try:
        cp = open(os.path.join(storage, "checkpoint")).read().split("\n")
        size = int(cp[1])
        if size <= leaf_index:
            fails.append(f"checkpoint size {size} does not cover leaf_index {leaf_index}")
        raw = read_bundle(storage, leaf_index)
        if raw is None:
            fails.append(f"no data tile for leaf_index {leaf_index}")
            return
        entries = parse_entries(raw)
        i = leaf_index % 256
        if i >= len(entries):
            fails.append(f"data tile has {len(entries)} entries, want index {i}")
            return
        e = entries[i]
        bad = []
        if e["entry_type"] != 1:
            bad.append("entry type")
        if e["timestamp"] != ts_ms:
            bad.append(f"timestamp {e['timestamp']} != {ts_ms}")
        if e.get("issuer_key_hash") != issuer_key_hash:
            bad.append("issuer key hash")
        if e.get("tbs") != tbs:
            bad.append("TBS")
        if e.get("extensions") != exts:
            bad.append("extensions")
        if bad:
            fails.append("log entry differs: " + ", ".join(bad))
        else:
            info.append(f"log entry {leaf_index} matches (tree size {size})")
    except (OSError, ValueError, IndexError) as e:
        fails.append(f"reading the log storage: {e}")


def check_sigstore_python(leaf, chain, logs, fails, info) -> None:
    """sigstore-python's own verify_sct, with a trusted root of the logs."""
    try:
        from sigstore._internal.sct import verify_sct
        from sigstore._internal.trust import KeyringPurpose
        from sigstore.models import TrustedRoot
    except ImportError as e:
        fails.append(f"sigstore-python not importable: {e}")
        return
    root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [], "certificateAuthorities": [], "timestampAuthorities": [],
        "ctlogs": [{
            "baseUrl": "http://127.0.0.1", "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(spki(key)).decode(),
                          "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": "2000-01-01T00:00:00Z"}},
            "logId": {"keyId": base64.b64encode(log_id).decode()}} for key, log_id, _ in logs],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(root, f)
    try:
        keyring = TrustedRoot.from_file(f.name).ct_keyring(KeyringPurpose.SIGN)
        verify_sct(leaf, chain[1:], keyring)
        info.append("sigstore-python verify_sct ok")
    except Exception as e:  # VerificationError and anything else
        fails.append(f"sigstore-python verify_sct: {type(e).__name__}: {e}")
    finally:
        os.unlink(f.name)


def check_sct(sct, leaf, issuer, a, logs, fails, info):
    """One SCT against the log whose ID it names; returns (log number, leaf_index)."""
    which = next((i for i, (_, log_id, _) in enumerate(logs) if log_id == sct.log_id), None)
    if sct.version != Version.v1:
        fails.append(f"SCT version {sct.version}")
    if sct.entry_type != LogEntryType.PRE_CERTIFICATE:
        fails.append(f"SCT entry type {sct.entry_type}, want PRE_CERTIFICATE")
    if which is None:
        ids = ", ".join(log_id.hex() for _, log_id, _ in logs)
        fails.append(f"SCT log ID {sct.log_id.hex()} is none of SHA-256(log SPKI): {ids}")
        return None, None
    log_key, log_id, storage = logs[which]
    ts = sct.timestamp.replace(tzinfo=datetime.timezone.utc)
    ts_ms = int(round(ts.timestamp() * 1000))
    now = datetime.datetime.now(datetime.timezone.utc)
    nb = leaf.not_valid_before_utc
    skew = datetime.timedelta(seconds=a.skew)
    if not (nb - skew <= ts <= now + skew):
        fails.append(f"SCT time {ts.isoformat()} outside [notBefore {nb.isoformat()} - {a.skew}s, now + {a.skew}s]")
    exts = sct.extension_bytes
    leaf_index = None
    if len(exts) == 8 and exts[0] == 0 and exts[1:3] == b"\x00\x05":
        leaf_index = int.from_bytes(exts[3:8], "big")
        info.append(f"leaf_index={leaf_index}")
    elif a.leaf_index:
        fails.append(f"SCT extensions {exts.hex() or '(empty)'} are not one static-ct leaf_index extension")
    if not isinstance(sct.signature_hash_algorithm, hashes.SHA256):
        fails.append(f"SCT hash {sct.signature_hash_algorithm}, want SHA-256")
    if sct.signature_algorithm != SignatureAlgorithm.ECDSA:
        fails.append(f"SCT signature algorithm {sct.signature_algorithm}, want ECDSA")
    issuer_key_hash = hashlib.sha256(spki(issuer.public_key())).digest()
    tbs = leaf.tbs_precertificate_bytes
    signed = (b"\x00" + b"\x00" + u(ts_ms, 8) + b"\x00\x01" + issuer_key_hash
              + u(len(tbs), 3) + tbs + u(len(exts), 2) + exts)
    try:
        log_key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
        info.append("signature verifies (cryptography)")
    except InvalidSignature:
        fails.append("SCT signature does not verify with the log key over the rebuilt "
                     "precert input (issuer key hash = SHA-256 of chain[1]'s SPKI)")
    if storage:
        if leaf_index is None:
            fails.append("no leaf_index in the SCT: cannot find the entry in the log")
        else:
            check_storage(storage, leaf_index, ts_ms, issuer_key_hash, tbs, exts, fails, info)
    return which, leaf_index


def check_one(chain, a, logs):
    """Returns (failures, notes, leaf_index or None, the logs of the SCTs in order)."""
    if len(chain) < 2:
        return ["need the leaf and its issuer"], [], None, []
    leaf, issuer = chain[0], chain[1]
    fails: list[str] = []
    info: list[str] = []

    try:
        leaf.extensions.get_extension_for_oid(OID_POISON)
        fails.append("the leaf carries the CT poison extension")
    except x509.ExtensionNotFound:
        pass
    try:
        ext = leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps)
    except x509.ExtensionNotFound:
        return ["the leaf has no embedded SCT list"], info, None, []
    if ext.critical:
        fails.append("the SCT list extension is critical")
    scts = list(ext.value)
    if len(scts) != a.scts:
        fails.append(f"want exactly {'one SCT' if a.scts == 1 else f'{a.scts} SCTs'}, got {len(scts)}")
    which, leaf_index = [], None
    for sct in scts:
        w, idx = check_sct(sct, leaf, issuer, a, logs, fails, info)
        which.append(w)
        leaf_index = idx if leaf_index is None else leaf_index
    if len(set(w for w in which if w is not None)) != len([w for w in which if w is not None]):
        fails.append("two SCTs from the same log")
    if a.sigstore_python:
        check_sigstore_python(leaf, chain, logs, fails, info)
    return fails, info, leaf_index, which


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("chain")
    ap.add_argument("--log-key", required=True, action="append",
                    help="a log's public key; repeat it for several logs")
    ap.add_argument("--scts", type=int, default=1, help="SCTs the leaf must carry (default 1)")
    ap.add_argument("--skew", type=int, default=300)
    ap.add_argument("--leaf-index", action="store_true",
                    help="require the static-ct leaf_index SCT extension")
    ap.add_argument("--sigstore-python", action="store_true")
    ap.add_argument("--log-storage", action="append",
                    help="a log's storage directory; with several logs, one per --log-key "
                         "in the same order")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--jsonl", action="store_true",
                    help="CHAIN holds one answer per line; check each")
    a = ap.parse_args()

    storages = a.log_storage or []
    if storages and len(storages) != len(a.log_key):
        die("give --log-storage once per --log-key, or not at all")
    logs = []
    for i, path in enumerate(a.log_key):
        key = load_log_key(path)
        logs.append((key, hashlib.sha256(spki(key)).digest(), storages[i] if storages else None))
    if a.jsonl:
        # one v2 signingCert answer (or chain JSON) per line: every one is
        # checked, and the leaf indices must all differ
        lines = [l for l in open(a.chain).read().splitlines() if l.strip()]
        bad, seen, dup = 0, set(), 0
        for n, line in enumerate(lines, 1):
            try:
                chain = load_chain(line)
            except (ValueError, KeyError) as e:
                print(f"ct-check-sct: line {n}: cannot read: {e}", file=sys.stderr)
                bad += 1
                continue
            fails, info, idx, which = check_one(chain, a, logs)
            if fails:
                bad += 1
                if bad <= 5:
                    print(f"ct-check-sct: line {n}: FAIL: " + "; ".join(fails), file=sys.stderr)
            if idx is not None:
                key = (which[0] if which else None, idx)  # indices are per log
                dup += key in seen
                seen.add(key)
        if dup:
            print(f"ct-check-sct: {dup} duplicate leaf indices", file=sys.stderr)
        if bad or dup or not lines:
            print(f"ct-check-sct: FAIL: {bad} of {len(lines)} certificates failed", file=sys.stderr)
            sys.exit(1)
        if not a.quiet:
            print(f"ct-check-sct: ok: {len(lines)} certificates, each with {a.scts} valid SCT(s), "
                  f"{len(seen)} distinct leaf indices")
        return
    try:
        text = sys.stdin.read() if a.chain == "-" else open(a.chain).read()
        chain = load_chain(text)
    except (OSError, ValueError, KeyError) as e:
        die(f"cannot read the chain: {e}")
    fails, info, _, which = check_one(chain, a, logs)
    if fails:
        print("ct-check-sct: FAIL: " + "; ".join(fails), file=sys.stderr)
        sys.exit(1)
    if not a.quiet and len(logs) == 1:
        print("ct-check-sct: ok: one SCT, log " + logs[0][1].hex()[:16] + "..., " + ", ".join(info))
    elif not a.quiet:
        print(f"ct-check-sct: ok: {len(which)} SCT(s) from logs {','.join(str(w) for w in which)} "
              f"(by --log-key order), " + ", ".join(info))


if __name__ == "__main__":
    main()
