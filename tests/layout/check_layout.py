#!/usr/bin/env python3
"""The layout rules the build keeps, checked over the product code.

Each folder of product code is one module with one public header named after
it (ca/ca.h) and, at most, private headers ending in _int.h. The rules:

  1. Only hsm/ includes a PKCS#11 header or names a CK_* type or constant:
     keys and tokens stay behind the signer interface.
  2. oidc/ never includes an OpenSSL X.509 header: it knows tokens, not
     certificates.
  3. No module includes another module's private (_int.h) header.
  4. The folders' include graph has no cycle (arrows point one way).
  5. Nothing but cmd/ includes ca.h: the CA is the top of the library stack.
  6. No function of product code is longer than 100 lines (from the line
     with its opening brace to its closing one; the code is formatted by
     .clang-format, so a function body opens with "{" alone in column 0).

Usage: check_layout.py SOURCE_ROOT         check the tree, exit 1 on a breach
       check_layout.py --self-test ROOT    also prove, on a scratch copy of the
                                           tree, that each rule catches a breach
"""
import os
import re
import shutil
import sys
import tempfile

# Not product code, though they hold a header named after their folder.
NOT_MODULES = {"fuzz", "tests", "examples", "docs"}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
CK_NAME = re.compile(r'(?<![A-Za-z0-9_])CK[RAOMU]?_[A-Z0-9_]+')
PKCS11_HEADER = re.compile(r'(^|/)(pkcs11[^/]*\.h|cryptoki\.h)$')
MAX_FUNCTION_LINES = 100


def modules(root):
    """The product modules: top-level folders D holding D/D.h."""
    return [d for d in sorted(os.listdir(root))
            if d not in NOT_MODULES and os.path.isfile(os.path.join(root, d, d + ".h"))]


def product_files(root):
    for mod in modules(root):
        d = os.path.join(root, mod)
        if not os.path.isdir(d):
            continue
        for dirpath, _, names in os.walk(d):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield mod, os.path.join(dirpath, n)


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r'//[^\n]*', "", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def header_owner(root, name):
    """The module whose folder holds the header `name`, or None (system)."""
    base = os.path.basename(name)
    for mod in modules(root):
        if os.path.isfile(os.path.join(root, mod, base)):
            return mod
    return None


def check(root):
    breaches = []
    graph = {}
    for mod, path in product_files(root):
        rel = os.path.relpath(path, root)
        raw = open(path, encoding="utf-8", errors="replace").read()
        code = strip_comments(raw)
        for inc in INCLUDE.findall(raw):
            base = os.path.basename(inc)
            if mod != "hsm" and PKCS11_HEADER.search(inc):
                breaches.append(f"{rel}: includes the PKCS#11 header {inc} (only hsm/ may)")
            if mod == "oidc" and re.match(r'openssl/x509', inc):
                breaches.append(f"{rel}: includes {inc} (oidc/ knows no X.509)")
            owner = header_owner(root, inc)
            if owner is None or owner == mod:
                continue
            if base.endswith("_int.h"):
                breaches.append(f"{rel}: includes {owner}/{base}, the private header of "
                                f"another module")
            if owner == "ca" and mod != "cmd":
                breaches.append(f"{rel}: includes ca/{base} (only cmd/ sits above ca/)")
            graph.setdefault(mod, set()).add(owner)
        if mod != "hsm":
            for m in CK_NAME.finditer(code):
                line = code.count("\n", 0, m.start()) + 1
                breaches.append(f"{rel}:{line}: names the PKCS#11 identifier {m.group(0)} "
                                f"(only hsm/ may)")
                break
        if path.endswith(".c"):
            breaches.extend(long_functions(rel, raw))
    breaches.extend(cycles(graph))
    return breaches


def long_functions(rel, text):
    """Functions over MAX_FUNCTION_LINES: a body opens with '{' alone in
    column 0 and ends at the next '}' alone in column 0."""
    found, start = [], None
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line == "{":
            start = i
        elif line == "}" and start is not None:
            n = i - start + 1
            if n > MAX_FUNCTION_LINES:
                found.append(f"{rel}:{start}: a function of {n} lines (at most "
                             f"{MAX_FUNCTION_LINES})")
            start = None
    return found


def cycles(graph):
    """Every folder cycle, as 'a -> b -> a' lines (depth-first search)."""
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                found.append(" -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return [f"folder cycle: {c}" for c in found]


def self_test(root):
    """Break each rule once on a scratch copy; every breach must be caught."""
    mutations = [
        ("ca/api.c", '#include "pkcs11_int.h"\n', "private header"),
        ("ca/api.c", '#include <p11-kit/pkcs11.h>\n', "PKCS#11 header"),
        ("ca/api.c", "static const unsigned long x_ = CKR_OK;\n", "PKCS#11 identifier"),
        ("oidc/jws.c", "#include <openssl/x509.h>\n", "knows no X.509"),
        ("common/buf.c", '#include "ca.h"\n', "only cmd/"),
        ("hsm/hsm.c", '#include "oidc.h"\n', None),  # hsm -> oidc: no cycle alone
        ("common/buf.c", '#include "config.h"\n', "folder cycle"),
        ("common/buf.c", "static void long_(void)\n{\n" + "\t;\n" * 100 + "}\n",
         "a function of"),
    ]
    failures = 0
    for path, line, expect in mutations:
        with tempfile.TemporaryDirectory() as tmp:
            for mod in modules(root):
                if os.path.isdir(os.path.join(root, mod)):
                    shutil.copytree(os.path.join(root, mod), os.path.join(tmp, mod))
            target = os.path.join(tmp, path)
            text = open(target).read()
            open(target, "w").write(line + text)
            got = check(tmp)
            caught = any(expect in b for b in got) if expect else not any(
                "folder cycle" in b for b in got)
            verdict = "caught" if expect and caught else "ok" if caught else "MISSED"
            print(f"self-test: {line.strip().splitlines()[0]} in {path}: {verdict}")
            failures += not caught
    return failures


def main():
    args = sys.argv[1:]
    selftest = bool(args) and args[0] == "--self-test"
    if selftest:
        args = args[1:]
    if len(args) != 1:
        print(__doc__)
        return 2
    root = args[0]
    breaches = check(root)
    for b in breaches:
        print(f"layout: {b}")
    n_files = sum(1 for _ in product_files(root))
    print(f"layout: {n_files} product files, {len(breaches)} breach(es)")
    bad = len(breaches) > 0
    if selftest:
        bad |= self_test(root) > 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
