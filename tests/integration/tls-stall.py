#!/usr/bin/env python3
"""Stalled TLS clients for tls-stall.sh: opens connections to 127.0.0.1:PORT
that each stop at some point and hold them:
  silent   open TCP and never send a byte;
  hello    send a whole ClientHello (made with the ssl module's memory BIOs,
           half of them TLS 1.2 only) and nothing more: the server has sent
           its flight and waits for the client's;
  partial  send the first 20 bytes of a ClientHello and nothing more;
  noread   complete the handshake (trusting only --ca), send --requests
           pipelined GET /api/v2/trustBundle with a small receive buffer,
           and never read an answer: the server's answers back up in its
           socket.
Prints one JSON line {"ready": {...}, "server_send_queue": [...]} once every
connection is in place and the server has stopped writing to the noread ones
(server_send_queue: the bytes waiting in the server's socket of each, from
/proc/net/tcp, unchanged for a second), then holds them for
--hold seconds and prints {"closed": {...}, "open": {...}}: per kind, how
many the server has closed by then (end of stream or reset)."""
import argparse
import json
import os
import socket
import ssl
import time

REQUEST = b"GET /api/v2/trustBundle HTTP/1.1\r\nHost: localhost\r\n\r\n"


def client_hello(tls12):
    """The bytes of a ClientHello, as a client would send them first."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def open_noread(port, ca, requests):
    """A TLS connection with answers waiting unread; the raw socket and the
    TLS socket (kept so that it is not closed)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # a small window, and a small MSS, which keeps the server's send buffer
    # small (Linux sizes it from the MSS): a few hundred answers fill both
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    raw.connect(("127.0.0.1", port))
    ctx = ssl.create_default_context(cafile=ca)
    tls = ctx.wrap_socket(raw, server_hostname="localhost")
    tls.settimeout(5)
    try:
        tls.sendall(REQUEST * requests)
    except (socket.timeout, ssl.SSLWantWriteError):
        pass  # the server stopped reading: its answers are not taken
    return tls


def server_send_queues(port, client_ports):
    """tx_queue of the server's side of each connection (/proc/net/tcp)."""
    queues = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            lport = int(fields[1].split(":")[1], 16)
            rport = int(fields[2].split(":")[1], 16)
            if lport == port and rport in client_ports:
                queues[rport] = int(fields[4].split(":")[0], 16)
    return [queues.get(p, 0) for p in client_ports]


def closed_by_server(s):
    """Read what is there without blocking: True on end of stream or reset."""
    s.setblocking(False)
    try:
        while True:
            if not s.recv(65536):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--silent", type=int, default=0)
    ap.add_argument("--hello", type=int, default=0)
    ap.add_argument("--partial", type=int, default=0)
    ap.add_argument("--noread", type=int, default=0)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--hold", type=float, required=True)
    a = ap.parse_args()

    socks = {"silent": [], "hello": [], "partial": [], "noread": []}
    keep = []
    for _ in range(a.silent):
        socks["silent"].append(socket.create_connection(("127.0.0.1", a.port)))
    for i in range(a.hello):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(client_hello(tls12=i % 2 == 1))
        socks["hello"].append(s)
    for _ in range(a.partial):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(client_hello(tls12=False)[:20])
        socks["partial"].append(s)
    for _ in range(a.noread):
        tls = open_noread(a.port, a.ca, a.requests)
        keep.append(tls)
        # a duplicate of its descriptor, read raw at the end only
        socks["noread"].append(socket.socket(fileno=os.dup(tls.fileno())))
    # ready once the server has stopped answering the pipelined requests:
    # its send queues unchanged for a second
    ports = [s.getsockname()[1] for s in socks["noread"]]
    queues, deadline = None, time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(1)
        now = server_send_queues(a.port, ports)
        if now == queues:
            break
        queues = now
    print(json.dumps({"ready": {k: len(v) for k, v in socks.items()},
                      "server_send_queue": queues}), flush=True)
    time.sleep(a.hold)
    closed = {k: sum(closed_by_server(s) for s in v) for k, v in socks.items()}
    print(json.dumps({"closed": closed,
                      "open": {k: len(v) - closed[k] for k, v in socks.items()}}), flush=True)


if __name__ == "__main__":
    main()
