#!/usr/bin/env python3
"""Search the memory of a running process for byte strings.

Usage: memscan.py PID NAME=HEX [NAME=HEX ...]

Every readable mapping of /proc/PID/mem (through /proc/PID/maps; mappings
over 512 MiB, the sanitizers' shadow memory, are left out) is searched for
each needle. Prints one line per needle: "NAME: absent" or "NAME: found at
ADDR (PERMS MAPPING), ...". Exit 0 when no needle is found, 1 when one is,
2 when the memory cannot be read (the tests run as root).
"""
import sys


def main():
    pid = int(sys.argv[1])
    needles = {}
    for arg in sys.argv[2:]:
        name, hexval = arg.split("=", 1)
        needles[name] = bytes.fromhex(hexval)
    longest = max(len(n) for n in needles.values())
    hits = {name: [] for name in needles}
    scanned = 0
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
    except OSError as e:
        print(f"cannot read the memory of {pid}: {e}")
        return 2
    for line in maps:
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        where = f[5] if len(f) > 5 else "[anon]"
        if f[1][0] != "r" or where in ("[vvar]", "[vvar_vclock]", "[vsyscall]") or hi - lo > 512 << 20:
            continue
        off, tail = lo, b""
        while off < hi:
            n = min(1 << 20, hi - off)
            try:
                mem.seek(off)
                buf = mem.read(n)
            except OSError:
                buf = b""
            data = tail + buf
            for name, needle in needles.items():
                i = data.find(needle)
                while i >= 0 and len(hits[name]) < 8:
                    hits[name].append(f"{off - len(tail) + i:#x} ({f[1]} {where})")
                    i = data.find(needle, i + 1)
            tail = buf[-(longest - 1):] if buf and longest > 1 else b""
            scanned += len(buf)
            off += n
    if scanned == 0:
        print("nothing could be read")
        return 2
    found = False
    for name in needles:
        if hits[name]:
            found = True
            print(f"{name}: found at {', '.join(hits[name])}")
        else:
            print(f"{name}: absent")
    print(f"{scanned >> 20} MiB scanned")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
