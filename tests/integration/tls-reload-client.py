#!/usr/bin/env python3
"""HTTPS load for tls-reload.sh: GET PATH on 127.0.0.1:PORT for SECONDS,
trusting only CA (the hostname, 127.0.0.1, is checked against the leaf's
IP SAN), from two kinds of clients:

  * LONG threads, each on one keep-alive connection opened at the start:
    the serial of the certificate that connection was made with, its
    requests, failures, and whether it had to reconnect (http.client would
    reopen a connection the server closed: counted, it must not happen);
  * FRESH threads, each opening a new connection for every request: when
    each handshake began and ended, and the serial it saw.

Prints one JSON object: {"long": [...], "fresh": [[begin, end, serial], ...],
"failures": N, "errors": [first few], "requests": N}.
"""
import argparse
import http.client
import json
import ssl
import threading
import time


def serial_of(sock):
    """The leaf's serial as openssl prints it (tls_serial_of): lower-case
    hex, an even number of digits."""
    h = format(int(sock.getpeercert()["serialNumber"], 16), "x")
    return "0" + h if len(h) % 2 else h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--long", type=int, default=8)
    ap.add_argument("--fresh", type=int, default=4)
    ap.add_argument("--path", default="/healthz")
    a = ap.parse_args()
    ctx = ssl.create_default_context(cafile=a.ca)
    lock = threading.Lock()
    out = {"long": [], "fresh": [], "failures": 0, "errors": [], "requests": 0}
    end = time.time() + a.seconds

    def fail(msg):
        with lock:
            out["failures"] += 1
            if len(out["errors"]) < 10:
                out["errors"].append(msg)

    def get(c):
        c.request("GET", a.path)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError("status %d" % r.status)

    def long_client():
        rec = {"serial": None, "requests": 0, "failures": 0, "reconnects": 0, "last": 0}
        try:
            c = http.client.HTTPSConnection("127.0.0.1", a.port, context=ctx, timeout=15)
            c.connect()
            sock = c.sock
            rec["serial"] = serial_of(sock)
        except Exception as e:  # noqa: BLE001 - any failure is reported
            fail("long connect: %r" % e)
            return
        while time.time() < end:
            try:
                get(c)
                rec["requests"] += 1
                rec["last"] = time.time()
                if c.sock is not sock:
                    rec["reconnects"] += 1
                    sock = c.sock
            except Exception as e:  # noqa: BLE001
                rec["failures"] += 1
                fail("long: %r" % e)
            time.sleep(0.02)
        c.close()
        with lock:
            out["long"].append(rec)
            out["requests"] += rec["requests"]

    def fresh_client():
        n = 0
        while time.time() < end:
            t = time.time()
            c = http.client.HTTPSConnection("127.0.0.1", a.port, context=ctx, timeout=15)
            try:
                c.connect()
                done = time.time()
                s = serial_of(c.sock)
                get(c)
                n += 1
                with lock:
                    out["fresh"].append([t, done, s])
            except Exception as e:  # noqa: BLE001
                fail("fresh: %r" % e)
            finally:
                c.close()
        with lock:
            out["requests"] += n

    threads = [threading.Thread(target=long_client) for _ in range(a.long)]
    threads += [threading.Thread(target=fresh_client) for _ in range(a.fresh)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
