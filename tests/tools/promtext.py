#!/usr/bin/env python3
"""Reads Prometheus' text exposition format (version 0.0.4) for the metrics
tests, twice: with the Prometheus project's own Python parser
(prometheus_client.parser.text_string_to_metric_families, installed in the
test venv by tests/tools/install-interop.sh), whose reading is what the
tests see, and with a strict reader below for what that parser lets pass
but a scraper relies on: HELP and TYPE lines before their samples, one TYPE
per family, a family's samples together, sample names that belong to their
family (a histogram's _bucket, _sum and _count), valid escapes, no duplicate
series, and for histograms an le label on every bucket, cumulative counts
that never go down, a +Inf bucket equal to _count. The two readings must
agree sample for sample (prometheus_client names a counter's family without
_total and its samples with it; that difference aside).

Usage (with the venv's python):
  promtext.py summary FILE        the families as JSON, by the name of their
                                  TYPE line: {name: {"type": T, "help": H,
                                  "labels": [names, sorted], "series":
                                  [{label: value}, ...]}}; exit 1 and the
                                  problem on stderr if the text is not valid
  promtext.py value FILE NAME [LABEL=VALUE...]
                                  the value of one sample (a counter's with or
                                  without _total); exit 1 if absent
"""
import json
import math
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ParseError(Exception):
    pass


def parse_value(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise ParseError("%s: bad number %r" % (where, s))
    return float(s)


def parse_labels(text, where):
    """The labels of '{a="x",b="y"}' body text, unescaped; in order."""
    labels = []
    i = 0
    while i < len(text):
        m = re.compile(r"\s*(" + LABEL + r")\s*=\s*\"").match(text, i)
        if not m:
            raise ParseError("%s: bad label at %r" % (where, text[i:]))
        name = m.group(1)
        i = m.end()
        val = []
        while True:
            if i >= len(text):
                raise ParseError("%s: unterminated label value" % where)
            c = text[i]
            if c == "\\":
                if i + 1 >= len(text) or text[i + 1] not in '\\"n':
                    raise ParseError("%s: bad escape in label %s" % (where, name))
                val.append({"\\": "\\", '"': '"', "n": "\n"}[text[i + 1]])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ParseError("%s: newline in label value" % where)
            else:
                val.append(c)
                i += 1
        if any(n == name for n, _ in labels):
            raise ParseError("%s: label %s given twice" % (where, name))
        labels.append((name, "".join(val)))
        m = re.compile(r"\s*(,|$)").match(text, i)
        if not m:
            raise ParseError("%s: expected , after label %s" % (where, name))
        i = m.end()
    return labels


def split_sample(line, where):
    """(metric name, [(label, value)], value) of a sample line."""
    m = re.match(r"(" + NAME + r")", line)
    if not m:
        raise ParseError("%s: bad metric name" % where)
    name = m.group(1)
    rest = line[m.end():]
    labels = []
    if rest.startswith("{"):
        # the closing brace: the first } outside a quoted value
        i, quoted = 1, False
        while i < len(rest):
            c = rest[i]
            if quoted and c == "\\":
                i += 2
                continue
            if c == '"':
                quoted = not quoted
            elif c == "}" and not quoted:
                break
            i += 1
        if i >= len(rest):
            raise ParseError("%s: unterminated label set" % where)
        labels = parse_labels(rest[1:i], where)
        rest = rest[i + 1:]
    parts = rest.split()
    if len(parts) not in (1, 2) or not rest[:1].isspace():
        raise ParseError("%s: expected a value (and a timestamp)" % where)
    if len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1]):
        raise ParseError("%s: bad timestamp %r" % (where, parts[1]))
    return name, labels, parse_value(parts[0], where)


def family_of(sample, families, current):
    """The family a sample name belongs to (its own, or a histogram's or
    summary's through a suffix)."""
    if sample in families:
        return sample
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample[: -len(suffix)] if sample.endswith(suffix) else None
        if base and base in families and families[base]["type"] in ("histogram", "summary"):
            if suffix == "_bucket" and families[base]["type"] != "histogram":
                continue
            return base
    return None


def parse_strict(text):
    """The families of text by the strict reader: {name: {"type", "help",
    "samples": [(sample name, {labels}, value)]}}. Raises ParseError."""
    families = {}
    order = []
    closed = set()
    current = None
    if text and not text.endswith("\n"):
        raise ParseError("the text does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d" % n
        if line.strip() == "":
            continue
        if line.startswith("#"):
            m = re.match(r"#\s+(HELP|TYPE)\s+(" + NAME + r")(?:\s(.*))?$", line)
            if not m:
                continue  # a comment
            kind, name, arg = m.group(1), m.group(2), (m.group(3) or "")
            fam = families.get(name)
            if fam is None:
                if name in closed:
                    raise ParseError("%s: family %s continued after another one" % (where, name))
                fam = families[name] = {"type": None, "help": None, "samples": []}
                order.append(name)
            elif fam["samples"]:
                raise ParseError("%s: %s line of %s after its samples" % (where, kind, name))
            if kind == "HELP":
                if fam["help"] is not None:
                    raise ParseError("%s: second HELP for %s" % (where, name))
                fam["help"] = arg
            else:
                if fam["type"] is not None:
                    raise ParseError("%s: second TYPE for %s" % (where, name))
                if arg.strip() not in TYPES:
                    raise ParseError("%s: unknown type %r" % (where, arg))
                fam["type"] = arg.strip()
            if current is not None and current != name:
                closed.add(current)
            current = name
            continue
        sname, labels, value = split_sample(line, where)
        fname = family_of(sname, families, current)
        if fname is None:
            if sname in closed:
                raise ParseError("%s: family %s continued after another one" % (where, sname))
            fname = sname
            families[fname] = {"type": "untyped", "help": None, "samples": []}
            order.append(fname)
        if fname != current:
            if fname in closed:
                raise ParseError("%s: family %s continued after another one" % (where, fname))
            if current is not None:
                closed.add(current)
            current = fname
        fam = families[fname]
        if fam["type"] is None:
            fam["type"] = "untyped"
        key = (sname, tuple(sorted(labels)))
        if any((s, tuple(sorted(l.items()))) == key for s, l, _ in fam["samples"]):
            raise ParseError("%s: duplicate series %s%s" % (where, sname, dict(labels)))
        fam["samples"].append((sname, dict(labels), value))
    for name in order:
        if families[name]["type"] == "histogram":
            check_histogram(name, families[name])
    return families


def check_histogram(name, fam):
    series = {}
    for sname, labels, value in fam["samples"]:
        base = {k: v for k, v in labels.items() if k != "le"}
        key = tuple(sorted(base.items()))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sname == name + "_bucket":
            if "le" not in labels:
                raise ParseError("%s: a bucket without le" % name)
            s["buckets"].append((parse_value(labels["le"], name), value))
        elif sname == name + "_sum":
            s["sum"] = value
        elif sname == name + "_count":
            s["count"] = value
        else:
            raise ParseError("%s: sample %s in a histogram" % (name, sname))
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        if not les or les[-1] != math.inf or les != sorted(les):
            raise ParseError("%s%s: buckets not ascending to +Inf" % (name, dict(key)))
        counts = [c for _, c in s["buckets"]]
        if any(b < a for a, b in zip(counts, counts[1:])):
            raise ParseError("%s%s: bucket counts go down" % (name, dict(key)))
        if s["count"] is None or s["sum"] is None or s["count"] != counts[-1]:
            raise ParseError("%s%s: _count missing or not the +Inf bucket" % (name, dict(key)))


def read_client(text):
    """prometheus_client's reading: [(family name, type, help, [(sample name,
    {labels}, value)])]. Raises ParseError."""
    try:
        return [(f.name, f.type, f.documentation, [(x.name, dict(x.labels), x.value) for x in f.samples])
                for f in text_string_to_metric_families(text)]
    except Exception as e:  # the parser raises ValueError and others
        raise ParseError("prometheus_client: %s: %s" % (type(e).__name__, e))


def base_name(name, ftype):
    return name[:-len("_total")] if ftype == "counter" and name.endswith("_total") else name


def same_value(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def parse(text):
    """The families of text as prometheus_client reads them, by the name of
    their TYPE line: {name: {"type", "help", "samples": [(sample name as
    written, {labels}, value)]}}, once both readers accepted the text and
    agree on it. Raises ParseError."""
    # by name and type: a gauge x and a counter x_total are both "x" there
    client = {}
    for name, ftype, help_, samples in read_client(text):
        client.setdefault((name, ftype), []).append((help_, samples))
    strict = parse_strict(text)
    out = {}
    for name, fam in strict.items():
        ftype = fam["type"]
        ckey = (base_name(name, ftype), "unknown" if ftype == "untyped" else ftype)
        if not client.get(ckey):
            raise ParseError("%s: prometheus_client reads no %s of that name" % (name, ftype))
        chelp, csamples = client[ckey].pop(0)
        key = lambda s, l: (base_name(s, ftype), tuple(sorted(l.items())))
        mine = {key(s, l): (s, v) for s, l, v in fam["samples"]}
        theirs = {key(s, l): v for s, l, v in csamples}
        if len(theirs) != len(csamples) or set(mine) != set(theirs):
            raise ParseError("%s: samples %s, prometheus_client reads %s"
                             % (name, sorted(mine), [key(s, l) for s, l, _ in csamples]))
        for k, v in theirs.items():
            if not same_value(mine[k][1], v):
                raise ParseError("%s%s: %r, prometheus_client reads %r" % (k[0], dict(k[1]), mine[k][1], v))
        out[name] = {"type": ftype, "help": chelp if fam["help"] is not None else None,
                     "samples": [(mine[key(s, l)][0], l, v) for s, l, v in csamples]}
    left = sorted(k for k, v in client.items() if v)
    if left:
        raise ParseError("prometheus_client reads families the strict reader does not: %s" % left)
    return out


def summary(families):
    out = {}
    for name, fam in families.items():
        names, series = set(), []
        for sname, labels, _ in fam["samples"]:
            base = {k: v for k, v in labels.items()
                    if not (fam["type"] == "histogram" and k == "le")
                    and not (fam["type"] == "summary" and k == "quantile")}
            names.update(base)
            if base not in series:
                series.append(base)
        out[name] = {"type": fam["type"], "help": fam["help"], "labels": sorted(names),
                     "series": series}
    return out


def main(argv):
    if len(argv) < 3 or argv[1] not in ("summary", "value"):
        sys.stderr.write(__doc__)
        return 2
    text = open(argv[2], encoding="utf-8").read()
    try:
        families = parse(text)
    except ParseError as e:
        sys.stderr.write("invalid exposition text: %s\n" % e)
        return 1
    if argv[1] == "summary":
        json.dump(summary(families), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    want = dict(a.split("=", 1) for a in argv[4:])
    for fam in families.values():
        for sname, labels, value in fam["samples"]:
            if base_name(sname, fam["type"]) == base_name(argv[3], fam["type"]) and labels == want:
                integral = math.isfinite(value) and value == int(value)
                print(int(value) if integral else repr(value))
                return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
