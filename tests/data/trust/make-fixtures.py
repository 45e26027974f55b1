#!/usr/bin/env python3
"""Writes the fixtures of tests/unit/test_trust.c into this directory
(pyca/cryptography; run once, the files are committed):

  ca-chain.pem     intermediate (NotBefore 2026-02-01) then root (2026-01-01)
  ca-root.pem      the root alone
  ca-reversed.pem  root then intermediate (wrong order)
  leaf-chain.pem   a non-CA certificate then the root
  tsa-chain.pem    time-stamping certificate (critical EKU timeStamping,
                   NotBefore 2026-03-01) then its root
  tsa-ca-only.pem  the TSA root alone
  ct.pub           ECDSA P-256 public key (CT log)
  rekor.pub        ECDSA P-256 public key (Rekor)
  ed25519.pub      Ed25519 public key
  rsa2048.pub      RSA 2048 public key
  p224.pub         ECDSA P-224 public key (refused)
  private.pem      a PKCS#8 private key (refused where a public key is wanted)
  checkpoint       a Rekor v2 signed note of origin 127.0.0.1 by rekor.pub's key
"""
import base64
import datetime as dt
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

here = os.path.dirname(os.path.abspath(__file__))


def name(cn, org="fulcrum test"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def cert(subject, key, issuer, issuer_key, start, years, ca, eku=None):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(start).not_valid_after(start.replace(year=start.year + years))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False,
                                      key_encipherment=False, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer_key is not key:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


def pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def pub(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def write(fn, data):
    with open(os.path.join(here, fn), "wb") as f:
        f.write(data)


utc = dt.timezone.utc
root_key = ec.generate_private_key(ec.SECP256R1())
int_key = ec.generate_private_key(ec.SECP256R1())
root = cert(name("fulcrum test root"), root_key, name("fulcrum test root"), root_key,
            dt.datetime(2026, 1, 1, tzinfo=utc), 10, True)
inter = cert(name("fulcrum test intermediate"), int_key, root.subject, root_key,
             dt.datetime(2026, 2, 1, tzinfo=utc), 5, True)
leaf_key = ec.generate_private_key(ec.SECP256R1())
leaf = cert(name("a leaf"), leaf_key, root.subject, root_key, dt.datetime(2026, 2, 1, tzinfo=utc), 1, False)
write("ca-chain.pem", pem(inter, root))
write("ca-root.pem", pem(root))
write("ca-reversed.pem", pem(root, inter))
write("leaf-chain.pem", pem(leaf, root))

tsa_root_key = ec.generate_private_key(ec.SECP384R1())
tsa_key = ec.generate_private_key(ec.SECP256R1())
tsa_root = cert(name("fulcrum test TSA root", "fulcrum tsa"), tsa_root_key,
                name("fulcrum test TSA root", "fulcrum tsa"), tsa_root_key,
                dt.datetime(2026, 1, 1, tzinfo=utc), 10, True)
tsa = cert(name("fulcrum test timestamping", "fulcrum tsa"), tsa_key, tsa_root.subject, tsa_root_key,
           dt.datetime(2026, 3, 1, tzinfo=utc), 5, False, [ExtendedKeyUsageOID.TIME_STAMPING])
write("tsa-chain.pem", pem(tsa, tsa_root))
write("tsa-ca-only.pem", pem(tsa_root))

write("ct.pub", pub(ec.generate_private_key(ec.SECP256R1())))
rekor_key = ec.generate_private_key(ec.SECP256R1())
write("rekor.pub", pub(rekor_key))
write("ed25519.pub", pub(ed25519.Ed25519PrivateKey.generate()))
write("rsa2048.pub", pub(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
write("p224.pub", pub(ec.generate_private_key(ec.SECP224R1())))
write("private.pem", ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

spki = rekor_key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
h = hashes.Hash(hashes.SHA256())
h.update(spki)
key_id = h.finalize()[:4]
body = b"127.0.0.1\n7\n" + base64.b64encode(b"\x01" * 32) + b"\n"
sig = rekor_key.sign(body, ec.ECDSA(hashes.SHA256()))
write("checkpoint", body + b"\n\xe2\x80\x94 127.0.0.1 " + base64.b64encode(key_id + sig) + b"\n")
