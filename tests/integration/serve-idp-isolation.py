#!/usr/bin/env python3
"""A slow identity provider delays only its own tokens (driver for
serve-idp-isolation.sh).

    serve-idp-isolation.py SERVE_URL GOOD_ISSUER HANGING_ISSUER META_ISSUER SECONDS

GOOD_ISSUER is a configured issuer whose keys are fetched; HANGING_ISSUER a
configured issuer whose discovery hangs; META_ISSUER serves tenants
(META/tenant/NAME) matched by a MetaIssuers pattern, each discovery taking
200 ms. For SECONDS the attack runs: 20 requests at once with the hanging
issuer's tokens, and 20 tokens a second of new, never-seen tenants. Before
and during it, one client measures the latency of GET /healthz and of a
signingCert with the good issuer's token. Prints one JSON object.
"""
import base64
import http.client
import json
import sys
import threading
import time
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def mint(issuer, claims):
    req = urllib.request.Request(issuer + "/mint", data=json.dumps({"claims": claims}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode().strip()


def body_for(token, email):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    pop = key.sign(email.encode(), ec.ECDSA(hashes.SHA256()))
    return json.dumps({"credentials": {"oidcIdentityToken": token},
                       "publicKeyRequest": {"publicKey": {"content": pem},
                                            "proofOfPossession": base64.b64encode(pop).decode()}})


class Client:
    def __init__(self, url, timeout=30):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.conn = None

    def request(self, method, path, body=None):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.request(method, path, body=body,
                                  headers={"Content-Type": "application/json"} if body else {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 1:
                    return 0, b""
        return 0, b""


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def measure(url, good_bodies, n):
    """Latencies (ms) of n /healthz and n good signingCerts, one at a time."""
    c = Client(url)
    health, sign, bad = [], [], 0
    for i in range(n):
        t = time.monotonic()
        s, _ = c.request("GET", "/healthz")
        health.append((time.monotonic() - t) * 1000)
        bad += s != 200
        t = time.monotonic()
        s, _ = c.request("POST", "/api/v2/signingCert", good_bodies[i % len(good_bodies)])
        sign.append((time.monotonic() - t) * 1000)
        bad += s != 200
    return {"healthz_p99_ms": p99(health), "sign_p99_ms": p99(sign), "failures": bad}


def attack(url, hanging, meta, seconds, stats):
    stop = time.monotonic() + seconds
    hang_tok = mint(hanging, {"sub": "h", "email": "h@example.com", "email_verified": True})
    hang_body = body_for(hang_tok, "h@example.com")

    def hang_worker():
        c = Client(url, timeout=seconds + 30)
        while time.monotonic() < stop:
            s, _ = c.request("POST", "/api/v2/signingCert", hang_body)
            with lock:
                stats["hanging"][str(s)] = stats["hanging"].get(str(s), 0) + 1
            time.sleep(0.05)

    def tenant_worker(k):
        c = Client(url, timeout=seconds + 30)
        i = 0
        while time.monotonic() < stop:
            t0 = time.monotonic()
            name = "t%d-%d-%d" % (k, i, int(t0 * 1000) % 100000)
            i += 1
            iss = "%s/tenant/%s" % (meta, name)
            try:
                tok = mint(meta, {"iss": iss, "sub": name, "email": name + "@example.com",
                                  "email_verified": True})
            except OSError:
                continue
            s, _ = c.request("POST", "/api/v2/signingCert", body_for(tok, name + "@example.com"))
            with lock:
                stats["tenants"][str(s)] = stats["tenants"].get(str(s), 0) + 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))  # one a second per worker

    lock = threading.Lock()
    threads = [threading.Thread(target=hang_worker) for _ in range(20)]
    threads += [threading.Thread(target=tenant_worker, args=(k,)) for k in range(20)]
    for t in threads:
        t.daemon = True
        t.start()
    return threads


def main():
    url, good, hanging, meta, seconds = sys.argv[1:6]
    seconds = float(seconds)
    good_bodies = [body_for(mint(good, {"sub": "g%d" % i, "email": "g%d@example.com" % i,
                                        "email_verified": True}), "g%d@example.com" % i)
                   for i in range(20)]
    Client(url).request("POST", "/api/v2/signingCert", good_bodies[0])  # the keys, once
    out = {"unloaded": measure(url, good_bodies, 100)}
    stats = {"hanging": {}, "tenants": {}}
    threads = attack(url, hanging, meta, seconds, stats)
    time.sleep(1.0)  # the attack under way
    out["loaded"] = measure(url, good_bodies, 100)
    for t in threads:
        t.join(timeout=seconds + 40)
    out["attack"] = stats
    print(json.dumps(out))


if __name__ == "__main__":
    main()
