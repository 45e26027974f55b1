#!/usr/bin/env python3
"""HTTP clients for the front's tests (tests/integration/http-*.sh): well
and badly behaved, over raw sockets so that every byte is what the test
says. Each mode prints one JSON object on standard output.

  raw HOST PORT HEX                     send the bytes (hex), read the answer
  probe HOST PORT --src A --n N [--post FILE] [--path P]
                                        N sequential requests on keep-alive
                                        connections from address A: latencies
  loris HOST PORT --src A --conns N --secs S
                                        N connections trickling a header, one
                                        byte a second, reconnecting when closed
  idle HOST PORT --src A --conns N --secs S
                                        N keep-alive connections: one request
                                        each, then silence; reconnect if closed
  flood HOST PORT --src A --conns N --secs S --post FILE [--path P] [--rate R]
                                        POST as fast as answers come (or R/s)
  gone HOST PORT --n N --after-ms T --post FILE [--path P]
                                        N requests at once, each connection
                                        closed T ms after its request was sent
  load HOST PORT --conns N --post FILE [--path P] [--secs S]
                                        keep-alive POSTs until the server stops
                                        answering: counts answers by status
"""
import argparse
import asyncio
import json
import socket
import sys
import time


def request_bytes(host, port, path, body=None, close=False):
    head = (f"{'POST' if body is not None else 'GET'} {path} HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n")
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode() + (body or b"")


async def read_answer(reader):
    """(status, headers dict lower-case, body) of one answer (Content-Length)."""
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed")
    status = int(line.split()[1])
    headers = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    body = await reader.readexactly(n) if n else b""
    return status, headers, body


async def connect(host, port, src):
    return await asyncio.open_connection(host, port, local_addr=(src, 0) if src else None)


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


async def mode_raw(a):
    data = bytes.fromhex(a.hex)
    t0 = time.monotonic()
    out = {"status": None, "closed": False, "body": ""}
    try:
        reader, writer = await connect(a.host, a.port, a.src)
        writer.write(data)
        await writer.drain()
        status, headers, body = await asyncio.wait_for(read_answer(reader), a.timeout)
        out.update(status=status, body=body.decode("utf-8", "replace"),
                   connection=headers.get("connection", ""))
        out["ms_answer"] = round((time.monotonic() - t0) * 1000, 1)
        try:
            rest = await asyncio.wait_for(reader.read(1), a.timeout)
            out["closed"] = rest == b""
        except (asyncio.TimeoutError, ConnectionError):
            out["closed"] = False
        writer.close()
    except (asyncio.TimeoutError, ConnectionError, OSError) as e:
        out["error"] = repr(e)
    out["ms"] = round((time.monotonic() - t0) * 1000, 1)
    print(json.dumps(out))


async def mode_probe(a):
    body = open(a.post, "rb").read() if a.post else None
    req = request_bytes(a.host, a.port, a.path, body)
    lat, statuses, errors = [], {}, 0
    reader = writer = None
    for _ in range(a.n):
        t0 = time.monotonic()
        try:
            if writer is None:
                reader, writer = await connect(a.host, a.port, a.src)
            writer.write(req)
            await writer.drain()
            status, headers, _ = await asyncio.wait_for(read_answer(reader), 30)
            lat.append((time.monotonic() - t0) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
        except (asyncio.TimeoutError, ConnectionError, OSError, ValueError):
            errors += 1
            writer = None
        if a.gap_ms:
            await asyncio.sleep(a.gap_ms / 1000)
    print(json.dumps({"n": len(lat), "errors": errors, "statuses": statuses,
                      "p50_ms": round(percentile(lat, 50) or 0, 2),
                      "p99_ms": round(percentile(lat, 99) or 0, 2),
                      "max_ms": round(max(lat) if lat else 0, 2)}))


async def hold(a, stats, first, trickle):
    """One attacking connection for a.secs, reconnecting when closed."""
    end = time.monotonic() + a.secs
    while time.monotonic() < end:
        try:
            reader, writer = await connect(a.host, a.port, a.src)
            stats["opened"] += 1
            writer.write(first)
            await writer.drain()
            if not trickle:
                await asyncio.wait_for(read_answer(reader), 30)
            while time.monotonic() < end:
                if trickle:
                    writer.write(b"x")  # one more byte of the header value
                    await writer.drain()
                try:
                    got = await asyncio.wait_for(reader.read(4096), 1.0)
                    if got == b"":
                        stats["closed_by_server"] += 1
                        break
                except asyncio.TimeoutError:
                    pass
            writer.close()
        except (ConnectionError, OSError, asyncio.TimeoutError, ValueError):
            stats["refused"] += 1
            await asyncio.sleep(1.0)  # a refused attacker tries again a second later


async def mode_attack(a, trickle):
    first = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " if trickle
             else request_bytes(a.host, a.port, "/healthz"))
    stats = {"opened": 0, "closed_by_server": 0, "refused": 0}
    await asyncio.gather(*(hold(a, stats, first, trickle) for _ in range(a.conns)))
    print(json.dumps(stats))


async def flood_one(a, req, stats, end):
    reader = writer = None
    gap = a.conns / a.rate if a.rate else 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            if writer is None:
                reader, writer = await connect(a.host, a.port, a.src)
            writer.write(req)
            await writer.drain()
            status, headers, _ = await asyncio.wait_for(read_answer(reader), 30)
            stats[str(status)] = stats.get(str(status), 0) + 1
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
        except (ConnectionError, OSError, asyncio.TimeoutError, ValueError):
            stats["errors"] = stats.get("errors", 0) + 1
            writer = None
            await asyncio.sleep(0.05)
        if gap:
            await asyncio.sleep(max(0, gap - (time.monotonic() - t0)))


async def mode_flood(a):
    req = request_bytes(a.host, a.port, a.path, open(a.post, "rb").read())
    stats = {}
    end = time.monotonic() + a.secs
    await asyncio.gather(*(flood_one(a, req, stats, end) for _ in range(a.conns)))
    print(json.dumps(stats))


async def gone_one(a, req, stats):
    try:
        reader, writer = await connect(a.host, a.port, a.src)
        writer.write(req)
        await writer.drain()
        try:
            status, _, _ = await asyncio.wait_for(read_answer(reader), a.after_ms / 1000)
            stats["answered_" + str(status)] = stats.get("answered_" + str(status), 0) + 1
        except asyncio.TimeoutError:
            stats["left"] += 1
        # A reset, as a client that gives up usually leaves.
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.close()
    except (ConnectionError, OSError, ValueError):
        stats["errors"] += 1


async def mode_gone(a):
    req = request_bytes(a.host, a.port, a.path, open(a.post, "rb").read())
    stats = {"left": 0, "errors": 0}
    await asyncio.gather(*(gone_one(a, req, stats) for _ in range(a.n)))
    print(json.dumps(stats))


async def load_one(a, req, stats, stop_at):
    reader = writer = None
    while stop_at is None or time.monotonic() < stop_at:
        try:
            if writer is None:
                reader, writer = await connect(a.host, a.port, a.src)
            writer.write(req)
            await writer.drain()
            status, headers, _ = await asyncio.wait_for(read_answer(reader), 60)
            stats[str(status)] = stats.get(str(status), 0) + 1
            if headers.get("connection", "").lower() == "close":
                stats["connection_close"] += 1
                writer.close()
                writer = None
        except ConnectionRefusedError:
            stats["refused"] += 1
            return
        except (ConnectionError, OSError, asyncio.TimeoutError, ValueError,
                asyncio.IncompleteReadError):
            stats["errors"] += 1
            writer = None
            await asyncio.sleep(0.01)


async def mode_load(a):
    req = request_bytes(a.host, a.port, a.path, open(a.post, "rb").read())
    stats = {"refused": 0, "errors": 0, "connection_close": 0}
    stop_at = time.monotonic() + a.secs if a.secs else None
    await asyncio.gather(*(load_one(a, req, stats, stop_at) for _ in range(a.conns)))
    print(json.dumps(stats))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["raw", "probe", "loris", "idle", "flood", "gone", "load"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("hex", nargs="?", default="")
    p.add_argument("--src", default=None)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--conns", type=int, default=10)
    p.add_argument("--secs", type=float, default=0)
    p.add_argument("--post", default=None)
    p.add_argument("--path", default="/healthz")
    p.add_argument("--after-ms", type=int, default=300)
    p.add_argument("--gap-ms", type=float, default=0)
    p.add_argument("--rate", type=float, default=0, help="flood: requests/s in all (0: no cap)")
    p.add_argument("--timeout", type=float, default=5)
    a = p.parse_args()
    if a.mode in ("loris", "idle"):
        asyncio.run(mode_attack(a, a.mode == "loris"))
    else:
        asyncio.run(globals()["mode_" + a.mode](a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
