#!/usr/bin/env python3
"""Differential test driver: the same requests to fulcrum serve and to Fulcio.

  fulcio-diff.py config ISSUERS.json SHIPPED.yaml OUT.yaml
      writes the identity configuration both servers load: one issuer per
      identity type (tenants of the test issuer), two meta-issuers, an
      unreachable issuer, and the ci-issuer-metadata section of Fulcio's
      shipped configuration (SHIPPED.yaml) copied verbatim.
  fulcio-diff.py run ISSUERS.json FULCRUM_URL FULCIO_URL
      sends every case to both servers and compares the answers; prints one
      line per case and "driver: N passed, M failed"; exits 1 on any
      unexpected difference.

ISSUERS.json: {"fixed": URL, "meta_k8s": URL, "meta_ci": URL, "noalg": URL,
"down": URL} (test issuers started by fulcio-diff.sh; "fixed" serves one
tenant per identity type under /tenant/NAME; "noalg" publishes its JWKS
without "alg" members; nothing listens at "down").

Successful cases: both answer 2xx, and the leaf certificates are compared
field by field (version, issuer, subject, signature algorithm, public key,
validity length, every extension's OID, criticality and exact DER value, in
order) with pyca/cryptography and a small DER reader; serial, NotBefore,
NotAfter and the signature differ by design. The CA certificates after the
leaf must be the same, the leaf must certify the request's key and verify
under the issuing CA.

Refusals: the HTTP status, Content-Type and the error body's gRPC "code"
must be equal, unless the case is on KNOWN_DIFFERENCES (deliberate,
documented in docs/fulcio-compat.md). Message texts may differ. Read-only
endpoints: same status, Content-Type, certificates and framing.
"""
import base64
import http.client
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x25519
from cryptography.x509.oid import NameOID

# Cases whose status differs on purpose (README.md, "Where fulcrum differs
# from Fulcio (on purpose)"; docs/fulcio-compat.md): case name ->
# (fulcrum status, Fulcio status).
KNOWN_DIFFERENCES = {
    "refused: body over 4 MiB": (413, 400),
    "refused: issuer unreachable": (503, 400),
    "clock skew: nbf 120 s ahead": (400, 200),
    "clock skew: iat 120 s ahead": (400, 200),
    "clock skew: exp 30 s ago": (200, 400),
    # A JWK's "alg" binds the key (RFC 7517 4.4): fulcrum refuses a PS256
    # token signed by a key published for RS256; Fulcio (go-jose) issues.
    "token signed PS256 by a key whose JWK says alg RS256": (400, 200),
}

# Certificate fields that differ on purpose: case name -> {field: (text in
# fulcrum's value, text in Fulcio's value)}. Both texts must be there, so
# the difference stays exactly the documented one.
KNOWN_FIELD_DIFFERENCES = {
    # Whole-number claims print as integers in templates, as Fulcio does
    # since PR #2406 (after v1.8.8, which printed Go's %v: 1.234567e+06).
    "identity ci-provider buildkite-job templates (number claim 1234567)": {
        "ext 1.3.6.1.4.1.57264.1.21": ("/builds/1234567#", "/builds/1.234567e+06#"),
    },
}

SIGSTORE = "1.3.6.1.4.1.57264.1."
EXT_NAMES = {
    "2.5.29.15": "KeyUsage", "2.5.29.37": "ExtendedKeyUsage", "2.5.29.14": "SubjectKeyId",
    "2.5.29.35": "AuthorityKeyId", "2.5.29.17": "SubjectAltName", "2.5.29.19": "BasicConstraints",
}


# --- DER ----------------------------------------------------------------------

def der_read(buf, off):
    """One TLV at off: (tag, header length, content start, end)."""
    tag = buf[off]
    n = buf[off + 1]
    if n < 0x80:
        return tag, 2, off + 2, off + 2 + n
    k = n & 0x7F
    length = int.from_bytes(buf[off + 2:off + 2 + k], "big")
    return tag, 2 + k, off + 2 + k, off + 2 + k + length


def der_children(buf, start, end):
    out = []
    while start < end:
        tag, _, cstart, cend = der_read(buf, start)
        out.append((tag, start, cstart, cend))
        start = cend
    return out


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def der_oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(enc))
    return der(0x06, body)


def seq(*items):
    return der(0x30, b"".join(items))


def bitstring(b):
    return der(0x03, b"\x00" + b)


def tbs_extensions(cert):
    """Every extension of cert as (OID, critical, exact DER of extnValue's
    content), in certificate order, read from the TBS bytes."""
    tbs = cert.tbs_certificate_bytes
    _, _, cstart, cend = der_read(tbs, 0)
    out = []
    for tag, _, c0, c1 in der_children(tbs, cstart, cend):
        if tag != 0xA3:
            continue
        _, _, s0, s1 = der_read(tbs, c0)
        for _, _, e0, e1 in der_children(tbs, s0, s1):
            parts = der_children(tbs, e0, e1)
            oid = x509.ObjectIdentifier(oid_text(tbs[parts[0][2]:parts[0][3]])).dotted_string
            critical = len(parts) == 3 and tbs[parts[1][2]] != 0
            val = parts[-1]
            out.append((oid, critical, tbs[val[2]:val[3]].hex()))
    return out


def oid_text(body):
    first = body[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    v = 0
    for b in body[1:]:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(v)
            v = 0
    return ".".join(str(p) for p in parts)


# --- keys, proofs, CSRs ---------------------------------------------------------

def curve_hash(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}.get(
            key.curve.key_size, hashes.SHA256())
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    return hashes.SHA256()


def sign(key, msg, hash_alg="auto"):
    h = curve_hash(key) if hash_alg == "auto" else hash_alg
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(msg, ec.ECDSA(h))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(msg, padding.PKCS1v15(), h)
    if isinstance(key, dsa.DSAPrivateKey):
        return key.sign(msg, h)
    return key.sign(msg)


def spki_der(key):
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def spki_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def pem(label, der_bytes):
    b = base64.b64encode(der_bytes).decode()
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def make_csr(key, hash_alg="auto", rsa_padding=None):
    h = curve_hash(key) if hash_alg == "auto" else hash_alg
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fulcio-diff")]))
    if rsa_padding is not None:
        return b.sign(key, h, rsa_padding=rsa_padding).public_bytes(serialization.Encoding.PEM)
    return b.sign(key, h).public_bytes(serialization.Encoding.PEM)


ECDSA_SIG_OIDS = {"sha1": "1.2.840.10045.4.1", "sha256": "1.2.840.10045.4.3.2"}


def raw_csr(signing_key, spki, digest="sha256"):
    """A PEM CSR over an arbitrary SPKI, signed by an ECDSA key (for keys
    pyca/cryptography will not encode: compressed points, explicit curves)."""
    name = seq(der(0x31, seq(der_oid("2.5.4.3"), der(0x0C, b"fulcio-diff"))))
    info = seq(der(0x02, b"\x00"), name, spki, der(0xA0, b""))
    h = hashes.SHA1() if digest == "sha1" else hashes.SHA256()
    sig = signing_key.sign(info, ec.ECDSA(h))
    return pem("CERTIFICATE REQUEST", seq(info, seq(der_oid(ECDSA_SIG_OIDS[digest])),
                                          bitstring(sig))).encode()


def compressed_spki(key):
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.CompressedPoint)
    return seq(seq(der_oid("1.2.840.10045.2.1"), der_oid("1.2.840.10045.3.1.7")), bitstring(point))


def explicit_spki(key):
    """The SPKI with explicit curve parameters, as the openssl CLI writes it."""
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
        f.flush()
        out = subprocess.run(["openssl", "ec", "-in", f.name, "-param_enc", "explicit", "-pubout",
                              "-outform", "DER"], capture_output=True, check=True).stdout
    return out


def ber_spki(key):
    """The DER SPKI with the outer length in a needless long form (BER)."""
    d = spki_der(key)
    _, hl, cstart, cend = der_read(d, 0)
    assert hl == 2
    return b"\x30\x81" + bytes([cend - cstart]) + d[cstart:]


# --- HTTP -------------------------------------------------------------------------

def request(base, method, path, body=None, headers=None):
    """(status, content type, body bytes); status 0 when the connection
    failed before an answer."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    if isinstance(body, str):
        body = body.encode()
    try:
        try:
            conn.request(method, path, body=body, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            pass  # an early answer to an oversized body: read it below
        r = conn.getresponse()
        return r.status, (r.getheader("Content-Type") or "").split(";")[0].strip(), r.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, "", str(e).encode()
    finally:
        conn.close()


def mint(issuer, claims, **extra):
    req = {"claims": claims}
    req.update(extra)
    st, _, body = request(issuer, "POST", "/mint", json.dumps(req))
    if st != 200:
        raise RuntimeError("mint failed: %s %s" % (st, body[:200]))
    return body.decode()


def b64(b):
    return base64.b64encode(b).decode()


def v2_pubkey_body(token, key, subject, content=None, pop=None):
    return json.dumps({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": content or spki_pem(key)},
            "proofOfPossession": pop if pop is not None else b64(sign(key, subject.encode())),
        }})


def v2_csr_body(token, csr_pem):
    return json.dumps({"credentials": {"oidcIdentityToken": token},
                       "certificateSigningRequest": b64(csr_pem)})


def v1_body(key, subject, content=None):
    return json.dumps({"publicKey": {"content": content or b64(spki_der(key)), "algorithm": "ecdsa"},
                       "signedEmailAddress": b64(sign(key, subject.encode()))})


# --- answers ----------------------------------------------------------------------

def leaf_chain(ctype, body):
    """The certificates of a v2 JSON or v1 PEM answer, leaf first."""
    if ctype == "application/json":
        doc = json.loads(body)
        inner = doc.get("signedCertificateDetachedSct") or doc.get("signedCertificateEmbeddedSct")
        pems = inner["chain"]["certificates"]
        return [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    return x509.load_pem_x509_certificates(body)


PEM_BLOCK = re.compile(r"(-----BEGIN CERTIFICATE-----\n)[A-Za-z0-9+/=\n]+?(\n-----END CERTIFICATE-----)")


def shape(ctype, body):
    """The answer with every certificate's base64 replaced by "...": its
    framing (members, PEM line breaks, separators), compared bytewise except
    for JSON whitespace (protojson varies it on purpose)."""
    def blank(v):
        if isinstance(v, str):
            return PEM_BLOCK.sub(r"\1...\2", v)
        if isinstance(v, list):
            return [blank(x) for x in v]
        if isinstance(v, dict):
            return {k: blank(x) for k, x in v.items()}
        return v
    if ctype == "application/json":
        try:
            return json.dumps(blank(json.loads(body)), sort_keys=True)
        except ValueError:
            pass
    return blank(body.decode("utf-8", "replace"))


def describe(cert):
    """The fields compared, as a dict of printable values."""
    d = {
        "version": cert.version.name,
        "issuer": cert.issuer.rfc4514_string() + " der=" + cert.issuer.public_bytes().hex(),
        "subject": cert.subject.rfc4514_string() + " der=" + cert.subject.public_bytes().hex(),
        "signature algorithm": cert.signature_algorithm_oid.dotted_string,
        "public key": cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex(),
        "validity seconds": int((cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()),
    }
    exts = tbs_extensions(cert)
    d["extension order"] = " ".join(EXT_NAMES.get(o, o.replace(SIGSTORE, "S.")) for o, _, _ in exts)
    for oid, crit, val in exts:
        d["ext %s" % EXT_NAMES.get(oid, oid)] = "critical=%s value=%s" % (crit, val)
    for ext in cert.extensions:
        v = ext.value
        if isinstance(v, x509.SubjectAlternativeName):
            d["SAN (parsed)"] = "; ".join("%s=%s" % (type(g).__name__, g.value if not isinstance(
                g, x509.OtherName) else g.type_id.dotted_string + ":" + g.value.hex()) for g in v)
        elif isinstance(v, x509.KeyUsage):
            d["key usage (parsed)"] = str(v)
        elif isinstance(v, x509.ExtendedKeyUsage):
            d["EKU (parsed)"] = ",".join(o.dotted_string for o in v)
        elif isinstance(v, x509.BasicConstraints):
            d["basic constraints (parsed)"] = str(v)
    return d


def cert_checks(certs, key):
    """Real outcomes for one answer: the leaf certifies key and verifies
    under the issuing CA. Returns a list of problems."""
    bad = []
    if key is not None and certs[0].public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != spki_der(key):
        bad.append("leaf does not certify the request's key")
    try:
        certs[0].verify_directly_issued_by(certs[1])
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        bad.append("leaf does not verify under the issuing CA: %s" % e)
    return bad


class Runner:
    def __init__(self, fulcrum, fulcio):
        self.fulcrum, self.fulcio = fulcrum, fulcio
        self.passed = self.failed = 0
        self.failures = []

    def ok(self, msg):
        self.passed += 1
        print("ok - " + msg, flush=True)

    def bad(self, msg):
        self.failed += 1
        self.failures.append(msg.split("\n")[0])
        print("FAIL - " + msg, flush=True)

    def both(self, method, path, body=None, headers=None):
        return (request(self.fulcrum, method, path, body, headers),
                request(self.fulcio, method, path, body, headers))

    def issue(self, name, method, path, body, key, headers=None):
        """A request both must answer with a certificate; compares them."""
        (s1, t1, b1), (s2, t2, b2) = self.both(method, path, body, headers)
        if (s1, s2) == KNOWN_DIFFERENCES.get(name):
            self.ok("%s: known difference (docs/fulcio-compat.md): fulcrum %d, Fulcio %d" % (name, s1, s2))
            return
        if not (200 <= s1 < 300 and 200 <= s2 < 300):
            self.bad("%s: fulcrum %s %s / Fulcio %s %s" % (name, s1, b1[:300].decode("utf-8", "replace"),
                                                         s2, b2[:300].decode("utf-8", "replace")))
            return
        problems = []
        if s1 != s2:
            problems.append("status fulcrum %d, Fulcio %d" % (s1, s2))
        if t1 != t2:
            problems.append("content type fulcrum %r, Fulcio %r" % (t1, t2))
        try:
            c1, c2 = leaf_chain(t1, b1), leaf_chain(t2, b2)
        except Exception as e:  # noqa: BLE001
            self.bad("%s: cannot read the answers: %s" % (name, e))
            return
        if shape(t1, b1) != shape(t2, b2):
            problems.append("answer framing differs:\n      fulcrum: %r\n      Fulcio:  %r" % (
                shape(t1, b1)[:400], shape(t2, b2)[:400]))
        if [c.public_bytes(serialization.Encoding.DER) for c in c1[1:]] != \
                [c.public_bytes(serialization.Encoding.DER) for c in c2[1:]]:
            problems.append("CA certificates after the leaf differ")
        for who, certs in (("fulcrum", c1), ("Fulcio", c2)):
            problems += ["%s: %s" % (who, p) for p in cert_checks(certs, key)]
        d1, d2 = describe(c1[0]), describe(c2[0])
        known = KNOWN_FIELD_DIFFERENCES.get(name, {})
        for field in sorted(set(d1) | set(d2)):
            if field in known:
                ours, theirs = (t.encode().hex() for t in known[field])  # values are DER hex
                if ours not in str(d1.get(field)) or theirs not in str(d2.get(field)):
                    problems.append("%s: not the documented difference (%r / %r):\n      fulcrum: %s"
                                    "\n      Fulcio:  %s" % (field, ours, theirs, d1.get(field),
                                                              d2.get(field)))
            elif d1.get(field) != d2.get(field):
                problems.append("%s:\n      fulcrum: %s\n      Fulcio:  %s" % (
                    field, d1.get(field, "(absent)"), d2.get(field, "(absent)")))
        if problems:
            self.bad("%s: %s" % (name, "\n    ".join(problems)))
        else:
            n_ext = len(tbs_extensions(c1[0]))
            self.ok("%s: both %d, leaf equal (%d extensions), SAN %s" % (
                name, s1, n_ext, d1.get("SAN (parsed)", "?")))

    def refuse(self, name, method, path, body=None, headers=None):
        """A request both must refuse with the same status and gRPC code."""
        (s1, t1, b1), (s2, t2, b2) = self.both(method, path, body, headers)
        m1, m2 = b1[:160].decode("utf-8", "replace"), b2[:160].decode("utf-8", "replace")
        code1, code2 = grpc_code(t1, b1), grpc_code(t2, b2)
        if (s1, s2) == KNOWN_DIFFERENCES.get(name):
            self.ok("%s: known difference (docs/fulcio-compat.md): fulcrum %d, Fulcio %d" % (name, s1, s2))
        elif s1 == s2 and 400 <= s1 < 600 and code1 == code2 and t1 == t2:
            self.ok("%s: both %d (code %s) | fulcrum: %s | Fulcio: %s" % (name, s1, code1, m1, m2))
        else:
            self.bad("%s: fulcrum %s %s (code %s) %s\n    Fulcio  %s %s (code %s) %s" % (
                name, s1, t1, code1, m1, s2, t2, code2, m2))


def grpc_code(ctype, body):
    try:
        return json.loads(body).get("code")
    except Exception:  # noqa: BLE001 - a non-JSON body has no code
        return None


# --- the cases --------------------------------------------------------------------

def issuers_of(meta):
    f = meta["fixed"]
    t = {n: "%s/tenant/%s" % (f, n) for n in (
        "email", "email-claim", "email-skip", "username", "uri", "spiffe", "kubernetes",
        "github-workflow", "gitlab-pipeline", "buildkite-job", "codefresh-workflow",
        "chainguard", "ci-github", "ci-gitlab", "ci-buildkite", "ci-codefresh", "ci-circleci",
        "ci-buddy")}
    return t


def write_config(meta, shipped_path, out_path):
    t = issuers_of(meta)
    types = {
        "email": ["type: email"],
        "email-claim": ["type: email", "issuer-claim: $.federated_claims.connector_id"],
        "email-skip": ["type: email", "skip-email-verification: true"],
        "username": ["type: username", "subject-domain: 127.0.0.1"],
        "uri": ["type: uri", "subject-domain: http://127.0.0.1"],
        "spiffe": ["type: spiffe", "spiffe-trust-domain: example.org"],
        "kubernetes": ["type: kubernetes"],
        "github-workflow": ["type: github-workflow"],
        "gitlab-pipeline": ["type: gitlab-pipeline"],
        "buildkite-job": ["type: buildkite-job"],
        "codefresh-workflow": ["type: codefresh-workflow"],
        "chainguard": ["type: chainguard-identity"],
        "ci-github": ["type: ci-provider", "ci-provider: *github-type"],
        "ci-gitlab": ["type: ci-provider", "ci-provider: *gitlab-type"],
        "ci-buildkite": ["type: ci-provider", "ci-provider: *buildkite-type"],
        "ci-codefresh": ["type: ci-provider", "ci-provider: *codefresh-type"],
        "ci-circleci": ["type: ci-provider", "ci-provider: *circleci-type"],
        "ci-buddy": ["type: ci-provider", "ci-provider: *buddy-type"],
    }
    shipped = open(shipped_path).read()
    define = shipped[shipped.index("define:"):shipped.index("oidc-issuers:")]
    metadata = shipped[shipped.index("ci-issuer-metadata:"):]
    lines = ["# fulcio-diff: generated; the ci-issuer-metadata is Fulcio's shipped one.", define.rstrip(), "",
             "oidc-issuers:"]
    for name, extra in types.items():
        lines += ["  %s:" % t[name], "    issuer-url: %s" % t[name], "    client-id: sigstore"]
        lines += ["    " + e for e in extra]
    plain = meta["noalg"] + "/tenant/email"
    lines += ["  %s:" % plain, "    issuer-url: %s" % plain, "    client-id: sigstore", "    type: email"]
    lines += ["  %s:" % meta["down"], "    issuer-url: %s" % meta["down"], "    client-id: sigstore",
              "    type: email", "", "meta-issuers:",
              "  %s/tenant/*:" % meta["meta_k8s"], "    client-id: sigstore", "    type: kubernetes",
              "  %s/tenant/*:" % meta["meta_ci"], "    client-id: sigstore", "    type: ci-provider",
              "    ci-provider: *github-type", "", metadata]
    with open(out_path, "w") as f:
        f.write("\n".join(lines))


GH = {"sub": "repo:acme/app:ref:refs/heads/main",
      "job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/heads/main",
      "sha": "1111111111111111111111111111111111111111", "event_name": "push", "repository": "acme/app",
      "workflow": "release", "ref": "refs/heads/main",
      "job_workflow_sha": "2222222222222222222222222222222222222222",
      "runner_environment": "github-hosted", "repository_id": "42", "repository_owner": "acme",
      "repository_owner_id": "7", "repository_visibility": "public",
      "workflow_ref": "acme/app/.github/workflows/release.yml@refs/heads/main",
      "workflow_sha": "2222222222222222222222222222222222222222", "run_id": "9912345678",
      "run_attempt": "1", "environment": "production"}
GL = {"sub": "project_path:acme/app:ref_type:branch:ref:main", "project_path": "acme/app",
      "pipeline_source": "push", "pipeline_id": "10",
      "ci_config_ref_uri": "gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main",
      "ci_config_sha": "3333333333333333333333333333333333333333", "job_id": "20", "ref": "main",
      "ref_type": "branch", "namespace_path": "acme", "namespace_id": "5", "project_id": "6",
      "sha": "4444444444444444444444444444444444444444", "runner_environment": "gitlab-hosted",
      "runner_id": 30, "project_visibility": "public"}
BK = {"sub": "organization:acme:pipeline:app:ref:refs/heads/main:commit:5555:step:build",
      "organization_slug": "acme", "pipeline_slug": "app", "build_number": 1234567,
      "job_id": "0190b1a2-aaaa-bbbb-cccc-1234567890ab", "build_commit": "5555555555555555555555555555555555555555",
      "build_source": "webhook", "runner_environment": "buildkite-hosted"}
CF = {"sub": "account:1:pipeline:2", "account_id": "1", "account_name": "acme", "pipeline_id": "2",
      "pipeline_name": "build", "workflow_id": "3", "scm_repo_url": "https://github.com/acme/app",
      "scm_ref": "main", "runner_environment": "hybrid"}
CC = {"sub": "org/o1/project/p1/user/u1", "oidc.circleci.com/project-id": "p1",
      "oidc.circleci.com/pipeline-definition-id": "pd1", "oidc.circleci.com/pipeline-id": "pl1",
      "oidc.circleci.com/workflow-id": "wf1", "oidc.circleci.com/job-id": "j1",
      "oidc.circleci.com/ssh-rerun": False, "oidc.circleci.com/vcs-ref": "refs/heads/main",
      "oidc.circleci.com/vcs-origin": "github.com/acme/app"}
BD = {"sub": "workspace:acme:project:app:pipeline:9", "workspace_domain": "acme", "project_name": "app",
      "pipeline_id": 9, "execution_id": 77, "revision": "6666666666666666666666666666666666666666",
      "ref": "refs/heads/main"}
K8S = {"sub": "system:serviceaccount:prod:builder",
       "kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "builder", "uid": "x"}}}
EMAIL = {"sub": "1234", "email": "alice@example.com", "email_verified": True}


def identity_cases(meta):
    """(name, issuer URL, claims, PoP subject) for every identity type."""
    t = issuers_of(meta)
    return [
        ("email", t["email"], EMAIL, "alice@example.com"),
        ("email, email_verified \"true\"", t["email"], dict(EMAIL, email_verified="true"), "alice@example.com"),
        ("email with issuer-claim", t["email-claim"],
         dict(EMAIL, federated_claims={"connector_id": "https://github.com/login/oauth", "user_id": "9"}),
         "alice@example.com"),
        ("email, skip-email-verification", t["email-skip"], {"sub": "1", "email": "bob@example.com"},
         "bob@example.com"),
        ("username", t["username"], {"sub": "alice"}, "alice"),
        ("uri", t["uri"], {"sub": "http://127.0.0.1/users/alice"}, "http://127.0.0.1/users/alice"),
        ("spiffe", t["spiffe"], {"sub": "spiffe://example.org/ns/prod/sa/builder"},
         "spiffe://example.org/ns/prod/sa/builder"),
        ("kubernetes", t["kubernetes"], K8S, K8S["sub"]),
        ("github-workflow", t["github-workflow"], GH, GH["sub"]),
        ("gitlab-pipeline", t["gitlab-pipeline"], GL, GL["sub"]),
        ("buildkite-job", t["buildkite-job"], BK, BK["sub"]),
        ("codefresh-workflow", t["codefresh-workflow"], CF, CF["sub"]),
        ("chainguard-identity", t["chainguard"], {"sub": "abc/def"}, "abc/def"),
        ("chainguard-identity with verified email", t["chainguard"],
         {"sub": "abc/def", "email": "carol@example.com", "email_verified": True}, "carol@example.com"),
        ("ci-provider github-workflow templates", t["ci-github"], GH, GH["sub"]),
        ("ci-provider gitlab-pipeline templates (branch)", t["ci-gitlab"], GL, GL["sub"]),
        ("ci-provider gitlab-pipeline templates (tag)", t["ci-gitlab"], dict(GL, ref_type="tag", ref="v1.0"),
         GL["sub"]),
        ("ci-provider buildkite-job templates (number claim 1234567)", t["ci-buildkite"], BK, BK["sub"]),
        ("ci-provider codefresh-workflow templates", t["ci-codefresh"], CF, CF["sub"]),
        ("ci-provider codefresh-workflow defaults (no scm claims)", t["ci-codefresh"],
         {k: v for k, v in CF.items() if not k.startswith("scm_") and k != "runner_environment"}, CF["sub"]),
        ("ci-provider circleci-job templates", t["ci-circleci"], CC, CC["sub"]),
        ("ci-provider buddy-pipeline templates", t["ci-buddy"], BD, BD["sub"]),
        ("meta-issuer kubernetes, tenant acme", meta["meta_k8s"] + "/tenant/acme", K8S, K8S["sub"]),
        ("meta-issuer kubernetes, tenant beta-2", meta["meta_k8s"] + "/tenant/beta-2", K8S, K8S["sub"]),
        ("meta-issuer ci-provider github-workflow, tenant acme", meta["meta_ci"] + "/tenant/acme", GH,
         GH["sub"]),
    ]


def new_keys():
    return [
        ("ECDSA P-256", ec.generate_private_key(ec.SECP256R1())),
        ("ECDSA P-384", ec.generate_private_key(ec.SECP384R1())),
        ("ECDSA P-521", ec.generate_private_key(ec.SECP521R1())),
        ("RSA 2048", rsa.generate_private_key(65537, 2048)),
        ("RSA 3072", rsa.generate_private_key(65537, 3072)),
        ("RSA 4096", rsa.generate_private_key(65537, 4096)),
        ("Ed25519", ed25519.Ed25519PrivateKey.generate()),
    ]


V2 = "/api/v2/signingCert"
V1 = "/api/v1/signingCert"


def run_issuance(r, meta, keys):
    email = issuers_of(meta)["email"]
    subj = EMAIL["email"]
    claims = dict(EMAIL, iss=email)
    for kname, key in keys:
        tok = mint(email, claims)
        r.issue("v2 public key + PoP, %s" % kname, "POST", V2, v2_pubkey_body(tok, key, subj), key)
        r.issue("v2 CSR, %s" % kname, "POST", V2, v2_csr_body(tok, make_csr(key)), key)
        r.issue("v1 public key (DER) + PoP, %s" % kname, "POST", V1, v1_body(key, subj), key,
                {"Authorization": "Bearer " + tok})
    p256 = keys[0][1]
    tok = mint(email, claims)
    r.issue("v1 public key (PEM in base64) + PoP", "POST", V1, v1_body(p256, subj, b64(spki_pem(p256).encode())),
            p256, {"Authorization": "Bearer " + tok})
    r.issue("v1 CSR", "POST", V1, json.dumps({"certificateSigningRequest": b64(make_csr(p256))}), p256,
            {"Authorization": "Bearer " + tok})
    r.issue("v2 token in Authorization: Bearer", "POST", V2, json.dumps(
        {"publicKeyRequest": {"publicKey": {"content": spki_pem(p256)},
                              "proofOfPossession": b64(sign(p256, subj.encode()))}}), p256,
        {"Authorization": "Bearer " + tok})
    r.issue("v2 snake_case member names", "POST", V2, json.dumps(
        {"credentials": {"oidc_identity_token": tok},
         "public_key_request": {"public_key": {"content": spki_pem(p256)},
                                "proof_of_possession": b64(sign(p256, subj.encode()))}}), p256)
    r.issue("v2 PoP in unpadded base64url, unknown member ignored", "POST", V2, json.dumps(
        {"credentials": {"oidcIdentityToken": tok}, "extra": {"x": 1},
         "publicKeyRequest": {"publicKey": {"content": spki_pem(p256)},
                              "proofOfPossession": base64.urlsafe_b64encode(
                                  sign(p256, subj.encode())).decode().rstrip("=")}}), p256)
    r.issue("v2 Content-Type text/plain", "POST", V2, v2_pubkey_body(tok, p256, subj), p256,
            {"Content-Type": "text/plain"})
    rsa2048 = keys[3][1]
    pkcs1 = rsa2048.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.PKCS1).decode()
    r.issue("v2 RSA PUBLIC KEY (PKCS#1) PEM", "POST", V2, v2_pubkey_body(tok, rsa2048, subj, content=pkcs1),
            rsa2048)


def run_identities(r, meta, key):
    for name, iss, claims, subject in identity_cases(meta):
        claims = dict(claims, iss=iss)
        tok = mint(iss, claims)
        r.issue("identity %s" % name, "POST", V2, v2_pubkey_body(tok, key, subject), key)
    # Token algorithms: "fixed" publishes each JWK with its "alg" (RS256 for
    # the RSA key), "noalg" publishes none, so PS* can be used there.
    email, plain = issuers_of(meta)["email"], meta["noalg"] + "/tenant/email"
    for iss, tkey, alg, what in ((email, "ec256", "ES256", ""), (email, "ec384", "ES384", ""),
                                 (email, "ec521", "ES512", ""), (email, "ed25519", "EdDSA", ""),
                                 (plain, "rsa", "RS256", " (JWKS without alg)"),
                                 (plain, "rsa", "PS256", " (JWKS without alg)"),
                                 (plain, "rsa", "PS384", " (JWKS without alg)"),
                                 (plain, "rsa", "PS512", " (JWKS without alg)"),
                                 (email, "rsa", "PS256", " by a key whose JWK says alg RS256")):
        tok = mint(iss, dict(EMAIL, iss=iss), key=tkey, alg=alg)
        r.issue("token signed %s%s" % (alg, what), "POST", V2, v2_pubkey_body(tok, key, EMAIL["email"]), key)


def run_refusals(r, meta, key):
    t = issuers_of(meta)
    email, subj = t["email"], EMAIL["email"]
    iss_claims = dict(EMAIL, iss=email)
    tok = mint(email, iss_claims)
    now = int(time.time())
    good = v2_pubkey_body(tok, key, subj)
    R = r.refuse
    R("refused: malformed JSON", "POST", V2, good[:40])
    R("refused: empty body", "POST", V2, "")
    R("refused: JSON array body", "POST", V2, "[]")
    R("refused: no token", "POST", V2, json.dumps(
        {"publicKeyRequest": json.loads(good)["publicKeyRequest"]}))
    R("refused: token not a JWT", "POST", V2, v2_pubkey_body("not-a-token", key, subj))
    R("refused: expired token", "POST", V2, v2_pubkey_body(
        mint(email, dict(iss_claims, iat=now - 900, exp=now - 300)), key, subj))
    R("refused: wrong audience", "POST", V2, v2_pubkey_body(mint(email, dict(iss_claims, aud="other")), key, subj))
    R("refused: unknown issuer", "POST", V2, v2_pubkey_body(
        mint(email, dict(EMAIL, iss=meta["fixed"] + "/tenant/nobody")), key, subj))
    R("refused: issuer unreachable", "POST", V2, v2_pubkey_body(
        mint(email, dict(EMAIL, iss=meta["down"])), key, subj))
    R("refused: token signed by an unpublished key", "POST", V2, v2_pubkey_body(
        mint(email, iss_claims, key="rogue-rsa"), key, subj))
    R("refused: alg none", "POST", V2, v2_pubkey_body(mint(email, iss_claims, mode="none"), key, subj))
    R("refused: HS256 token keyed with the issuer's public key", "POST", V2, v2_pubkey_body(
        mint(email, iss_claims, mode="hs256-pubkey"), key, subj))
    R("refused: JWS header with crit", "POST", V2, v2_pubkey_body(
        mint(email, iss_claims, header_extra={"crit": ["exp"]}), key, subj))
    R("refused: token alg RS384, not in discovery's algorithm list", "POST", V2, v2_pubkey_body(
        mint(email, iss_claims, alg="RS384"), key, subj))
    R("refused: JWS kid unknown to the JWKS", "POST", V2, v2_pubkey_body(
        mint(email, iss_claims, kid="nobody-1"), key, subj))
    R("clock skew: nbf 120 s ahead", "POST", V2, v2_pubkey_body(
        mint(email, dict(iss_claims, nbf=now + 120)), key, subj))
    R("clock skew: iat 120 s ahead", "POST", V2, v2_pubkey_body(
        mint(email, dict(iss_claims, iat=now + 120)), key, subj))
    R("clock skew: exp 30 s ago", "POST", V2, v2_pubkey_body(
        mint(email, dict(iss_claims, iat=now - 600, exp=now - 30)), key, subj))
    R("refused: nbf 10 min ahead", "POST", V2, v2_pubkey_body(
        mint(email, dict(iss_claims, nbf=now + 600)), key, subj))
    R("refused: email issuer-claim path absent", "POST", V2, v2_pubkey_body(
        mint(t["email-claim"], dict(EMAIL, iss=t["email-claim"])), key, subj))
    R("refused: email_verified false", "POST", V2, v2_pubkey_body(
        mint(email, dict(iss_claims, email_verified=False)), key, subj))
    R("refused: email missing", "POST", V2, v2_pubkey_body(
        mint(email, {"sub": "1", "iss": email}), key, "1"))
    R("refused: uri subject on another host", "POST", V2, v2_pubkey_body(
        mint(t["uri"], {"sub": "http://evil.example/u", "iss": t["uri"]}), key, "http://evil.example/u"))
    R("refused: spiffe subject in another trust domain", "POST", V2, v2_pubkey_body(
        mint(t["spiffe"], {"sub": "spiffe://other.org/x", "iss": t["spiffe"]}), key, "spiffe://other.org/x"))
    R("refused: username subject with '!'", "POST", V2, v2_pubkey_body(
        mint(t["username"], {"sub": "a!b", "iss": t["username"]}), key, "a!b"))
    R("refused: github-workflow claim missing", "POST", V2, v2_pubkey_body(
        mint(t["github-workflow"], dict({k: v for k, v in GH.items() if k != "run_id"},
                                        iss=t["github-workflow"])), key, GH["sub"]))
    R("refused: ci-provider template claim missing", "POST", V2, v2_pubkey_body(
        mint(t["ci-github"], {"sub": "repo:acme/app", "repository": "acme/app", "iss": t["ci-github"]}),
        key, "repo:acme/app"))
    R("refused: meta-issuer pattern matched only by prefix", "POST", V2, v2_pubkey_body(
        mint(email, dict(K8S, iss=meta["meta_k8s"] + "/tenant/acme/evil")), key, K8S["sub"]))
    # proof of possession
    R("refused: PoP over another subject", "POST", V2, v2_pubkey_body(tok, key, "mallory@example.com"))
    other = ec.generate_private_key(ec.SECP256R1())
    R("refused: PoP by another key", "POST", V2, v2_pubkey_body(tok, key, subj,
                                                              pop=b64(sign(other, subj.encode()))))
    R("refused: PoP not base64", "POST", V2, v2_pubkey_body(tok, key, subj, pop="!!!not base64!!!"))
    R("refused: PoP empty", "POST", V2, v2_pubkey_body(tok, key, subj, pop=""))
    p384 = ec.generate_private_key(ec.SECP384R1())
    R("refused: P-384 PoP hashed with SHA-256", "POST", V2, v2_pubkey_body(
        tok, p384, subj, pop=b64(sign(p384, subj.encode(), hashes.SHA256()))))
    # keys
    R("refused: no public key", "POST", V2, json.dumps({"credentials": {"oidcIdentityToken": tok}}))
    R("refused: public key not PEM", "POST", V2, v2_pubkey_body(tok, key, subj, content="hello"))
    weak = [("RSA 1024", rsa.generate_private_key(65537, 1024)),
            ("RSA 2560", rsa.generate_private_key(65537, 2560)),
            ("RSA e=3", rsa.generate_private_key(3, 2048)),
            ("P-224", ec.generate_private_key(ec.SECP224R1())),
            ("secp256k1", ec.generate_private_key(ec.SECP256K1())),
            ("Ed448", ed448.Ed448PrivateKey.generate())]
    for kname, k in weak:
        R("refused: %s public key" % kname, "POST", V2, v2_pubkey_body(tok, k, subj))
        R("refused: %s CSR" % kname, "POST", V2, v2_csr_body(tok, make_csr(k)))
    xk = x25519.X25519PrivateKey.generate()
    R("refused: X25519 public key", "POST", V2, v2_pubkey_body(
        tok, xk, subj, content=spki_pem(xk), pop=b64(b"\x00" * 64)))
    dk = dsa.generate_private_key(2048)
    R("refused: DSA 2048 CSR", "POST", V2, v2_csr_body(tok, make_csr(dk)))
    for form, spki in (("BER length", ber_spki(key)), ("explicit curve parameters", explicit_spki(key)),
                       ("compressed point", compressed_spki(key))):
        R("refused: public key with %s" % form, "POST", V2, v2_pubkey_body(
            tok, key, subj, content=pem("PUBLIC KEY", spki)))
        R("refused: CSR with %s key" % form, "POST", V2, v2_csr_body(tok, raw_csr(key, spki)))
    # CSRs
    csr = make_csr(key)
    R("refused: CSR as DER", "POST", V2, v2_csr_body(tok, x509.load_pem_x509_csr(csr).public_bytes(
        serialization.Encoding.DER)))
    R("refused: CSR not a CSR", "POST", V2, v2_csr_body(tok, pem("CERTIFICATE REQUEST", b"\x30\x03\x02\x01\x00")
                                                          .encode()))
    d = bytearray(x509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER))
    d[-3] ^= 0x01
    R("refused: CSR with a broken self-signature", "POST", V2, v2_csr_body(tok, pem("CERTIFICATE REQUEST",
                                                                                   bytes(d)).encode()))
    R("refused: CSR signed with RSA-PSS", "POST", V2, v2_csr_body(tok, make_csr(
        rsa.generate_private_key(65537, 2048), hashes.SHA256(),
        padding.PSS(padding.MGF1(hashes.SHA256()), 32))))
    R("refused: CSR signed with ecdsa-with-SHA1", "POST", V2, v2_csr_body(tok, raw_csr(key, spki_der(key), "sha1")))
    R("refused: P-384 CSR signed with SHA-256", "POST", V2, v2_csr_body(tok, make_csr(p384, hashes.SHA256())))
    R("refused: RSA 2048 CSR signed with SHA-512", "POST", V2, v2_csr_body(
        tok, make_csr(rsa.generate_private_key(65537, 2048), hashes.SHA512())))
    both = json.loads(good)
    both["certificateSigningRequest"] = b64(csr)
    R("refused: public key and CSR both", "POST", V2, json.dumps(both))
    # v1
    R("refused: v1 without Authorization", "POST", V1, v1_body(key, subj))
    R("refused: v1 without a key", "POST", V1, json.dumps({"signedEmailAddress": b64(b"x")}),
      {"Authorization": "Bearer " + tok})
    R("refused: v1 bad PoP", "POST", V1, v1_body(key, "mallory@example.com"), {"Authorization": "Bearer " + tok})
    # HTTP
    R("refused: body over 4 MiB", "POST", V2, good[:-1] + ', "pad": "' + "A" * (4 * 1024 * 1024) + '"}')
    R("refused: GET on signingCert", "GET", V2)
    R("refused: PUT on signingCert", "PUT", V2, good)
    R("refused: DELETE on v1 signingCert", "DELETE", V1)
    R("refused: POST on trustBundle", "POST", "/api/v2/trustBundle", "{}")
    R("refused: unknown path", "GET", "/api/v2/nothing")
    R("refused: unknown path under /api/v1", "POST", "/api/v1/nothing", "{}")


def run_others(r):
    """The read-only endpoints: same status, content type and bytes."""
    for path in ("/api/v2/trustBundle", "/api/v1/rootCert"):
        (s1, t1, b1), (s2, t2, b2) = r.both("GET", path)
        certs1 = [m.group(0) for m in PEM_BLOCK.finditer(b1.decode().replace("\\n", "\n"))]
        certs2 = [m.group(0) for m in PEM_BLOCK.finditer(b2.decode().replace("\\n", "\n"))]
        # (in JSON the PEM line breaks are "\n" escapes: read them as newlines)
        if s1 == s2 == 200 and t1 == t2 and shape(t1, b1) == shape(t2, b2) and certs1 == certs2:
            r.ok("GET %s: both 200 %s, the same %d certificates, same framing" % (path, t1, len(certs1)))
        else:
            r.bad("GET %s: fulcrum %s %s (%d bytes, %d certificates), Fulcio %s %s (%d bytes, %d certificates)"
                  "%s\n    fulcrum: %r\n    Fulcio:  %r" % (
                      path, s1, t1, len(b1), len(certs1), s2, t2, len(b2), len(certs2),
                      "" if certs1 == certs2 else "; the certificates differ", shape(t1, b1), shape(t2, b2)))

    (s1, t1, b1), (s2, t2, b2) = r.both("GET", "/healthz")
    if s1 == s2 == 200 and t1 == t2 and shape(t1, b1) == shape(t2, b2):
        r.ok("GET /healthz: both 200 %s %s" % (t1, shape(t1, b1)))
    else:
        r.bad("GET /healthz: fulcrum %s %s %r / Fulcio %s %s %r" % (s1, t1, b1[:100], s2, t2, b2[:100]))
    (s1, t1, b1), (s2, t2, b2) = r.both("GET", "/api/v2/configuration")
    try:
        key = lambda i: i.get("issuerUrl") or i.get("wildcardIssuerUrl")  # noqa: E731
        j1 = sorted(json.loads(b1)["issuers"], key=key)
        j2 = sorted(json.loads(b2)["issuers"], key=key)
    except Exception:  # noqa: BLE001
        j1, j2 = b1, b2
    if s1 == s2 == 200 and t1 == t2 and j1 == j2:
        r.ok("GET /api/v2/configuration: both 200, the same %d issuers" % len(j1))
    else:
        diff = [(a, b) for a, b in zip(j1, j2) if a != b][:3] if isinstance(j1, list) else (b1[:200], b2[:200])
        r.bad("GET /api/v2/configuration: fulcrum %s %s / Fulcio %s %s; first differences: %s" % (
            s1, t1, s2, t2, diff))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "config":
        write_config(json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4])
        return 0
    if len(sys.argv) != 5 or sys.argv[1] != "run":
        print(__doc__, file=sys.stderr)
        return 2
    meta = json.load(open(sys.argv[2]))
    r = Runner(sys.argv[3], sys.argv[4])
    start = time.time()
    keys = new_keys()
    run_others(r)
    run_issuance(r, meta, keys)
    run_identities(r, meta, keys[0][1])
    run_refusals(r, meta, keys[0][1])
    print("driver: %d cases in %.1f s" % (r.passed + r.failed, time.time() - start))
    if r.failures:
        print("failing cases:\n  " + "\n  ".join(r.failures))
    print("driver: %d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
