#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""promcheck.py - a strict checker of the Prometheus text exposition format 0.0.4.

  promcheck.py [FILE]                         check FILE (default: stdin)
  promcheck.py [FILE] --get 'NAME{a="x"}'     check, then print that sample's value
  promcheck.py [FILE] --get NAME --default 0  ... or 0 if there is no such sample

Checks: metric and label name syntax (no label name starting with "__"),
label value escaping (only \\\\, \\" and \\n), HELP escaping (only \\\\ and
\\n), at most one HELP and one TYPE per family and both before its first
sample, a known TYPE, each family's lines in one group, no duplicate series
(label order does not matter) and no label named twice, sample values
(a float, NaN, +Inf or -Inf; counters not negative), optional integer
timestamps, a final newline; for histograms: a numeric le on every
_bucket, buckets not decreasing as le grows, an le="+Inf" bucket equal to
_count, and _sum and _count present; for summaries: _sum and _count.

Exit status: 0 valid, 1 a violation (one message naming the line),
2 usage or unreadable input, 3 --get found no sample and no --default.
Stdlib only: tests/integration/*.sh run it on the daemon's metrics file.
"""
import math
import re
import sys

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Go's strconv.ParseFloat in decimal form, plus the specials the format names.
FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
SPECIALS = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf, "Inf": math.inf}
TIMESTAMP = re.compile(r"-?[0-9]+")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Violation(Exception):
    def __init__(self, lineno, msg):
        super().__init__(msg)
        self.lineno = lineno
        self.msg = msg


def parse_value(text, lineno, what="value"):
    if text in SPECIALS:
        return SPECIALS[text]
    if not FLOAT.fullmatch(text):
        raise Violation(lineno, f"invalid sample {what} {text!r}")
    return float(text)


def unescape_help(text, lineno):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in "\\n":
                raise Violation(lineno, "invalid escape in HELP text (only \\\\ and \\n)")
            out.append("\\" if text[i + 1] == "\\" else "\n")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_labels(text, pos, lineno):
    """Parse '{a="x",b="y"}' starting at text[pos] == '{'; return (labels tuple, new pos)."""
    assert text[pos] == "{"
    pos += 1
    labels = []
    seen = set()
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return tuple(labels), pos + 1
        m = LABEL_NAME.match(text, pos)
        if not m:
            raise Violation(lineno, f"invalid label name at column {pos + 1}")
        name = m.group(0)
        if name.startswith("__"):
            raise Violation(lineno, f"label name {name!r} is reserved (starts with __)")
        if name in seen:
            raise Violation(lineno, f"label {name!r} given twice")
        seen.add(name)
        pos = m.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if text[pos:pos + 2] != '="':
            raise Violation(lineno, f'expected =" after label name {name!r}')
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                raise Violation(lineno, f"unterminated value of label {name!r}")
            c = text[pos]
            if c == '"':
                pos += 1
                break
            if c == "\\":
                nxt = text[pos + 1] if pos + 1 < len(text) else ""
                if nxt not in ('\\', '"', "n"):
                    raise Violation(
                        lineno, f"invalid escape in value of label {name!r} "
                        '(only \\\\, \\" and \\n)')
                value.append("\n" if nxt == "n" else nxt)
                pos += 2
                continue
            value.append(c)
            pos += 1
        labels.append((name, "".join(value)))
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "}":
            return tuple(labels), pos + 1
        raise Violation(lineno, f"expected , or }} after value of label {name!r}")


def parse_series(text, lineno):
    """NAME or NAME{labels} (the --get argument); return (name, frozenset of labels)."""
    m = METRIC_NAME.match(text)
    if not m:
        raise Violation(lineno, f"invalid metric name in {text!r}")
    pos, labels = m.end(), ()
    if pos < len(text) and text[pos] == "{":
        labels, pos = parse_labels(text, pos, lineno)
    if pos != len(text):
        raise Violation(lineno, f"trailing characters in {text!r}")
    return m.group(0), frozenset(labels)


class Family:
    def __init__(self, name, lineno):
        self.name = name
        self.type = None
        self.help = None
        self.first_line = lineno
        self.has_samples = False
        self.hist = {}  # labels without le -> {"buckets": [(le, v, lineno)], "sum", "count"}


def family_of(sample, families, current):
    """The family a sample name belongs to: the current histogram or summary, else its own."""
    if current is not None and current.type in ("histogram", "summary"):
        base = current.name
        suffixes = ("_bucket", "_sum", "_count") if current.type == "histogram" else (
            "", "_sum", "_count")
        for s in suffixes:
            if sample == base + s:
                return base
    for t, suffixes in (("histogram", ("_bucket", "_sum", "_count")),
                        ("summary", ("_sum", "_count"))):
        for s in suffixes:
            if sample.endswith(s):
                base = sample[: -len(s)]
                f = families.get(base)
                if f is not None and f.type == t:
                    return base
    return sample


def check(text):
    """Validate text; return {(name, frozenset(labels)): value text}. Raises Violation."""
    lines = text.split("\n")
    if text and not text.endswith("\n"):
        raise Violation(len(lines), "the last line does not end with a newline")
    if text.endswith("\n"):
        lines.pop()
    families = {}
    done = set()  # families whose group has ended
    current = None
    samples = {}

    def enter(name, lineno):
        nonlocal current
        if current is not None and current.name == name:
            return current
        if name in done or (name in families and current is not families[name]):
            raise Violation(
                lineno, f"family {name!r} continues here after other lines "
                f"(its group began at line {families[name].first_line})")
        if current is not None:
            done.add(current.name)
        current = families[name] = Family(name, lineno)
        return current

    for lineno, line in enumerate(lines, 1):
        if "\r" in line:
            raise Violation(lineno, "carriage return in line")
        if line.strip() == "":
            continue
        if line.startswith("#"):
            # as the reference parser: blanks after '#' are skipped, then HELP or TYPE
            parts = re.split(r"[ \t]+", line[1:].lstrip(" \t"), maxsplit=2)
            if parts[0] not in ("HELP", "TYPE"):
                continue  # an ordinary comment
            if len(parts) < 2 or parts[1] == "":
                raise Violation(lineno, f"# {parts[0]} without a metric name")
            kw, name = parts[0], parts[1]
            rest = parts[2] if len(parts) > 2 else ""
            if not METRIC_NAME.fullmatch(name):
                raise Violation(lineno, f"invalid metric name {name!r} in # {kw}")
            fam = enter(name, lineno)
            if fam.has_samples:
                raise Violation(lineno, f"# {kw} {name} after samples of {name}")
            if kw == "HELP":
                if fam.help is not None:
                    raise Violation(lineno, f"second # HELP for {name}")
                fam.help = unescape_help(rest, lineno)
            else:
                if fam.type is not None:
                    raise Violation(lineno, f"second # TYPE for {name}")
                if rest.strip(" \t") not in TYPES:
                    raise Violation(lineno, f"unknown type {rest!r} for {name}")
                fam.type = rest.strip(" \t")
            continue
        m = METRIC_NAME.match(line)
        if not m:
            raise Violation(lineno, "a sample line must start with a metric name")
        name, pos, labels = m.group(0), m.end(), ()
        if pos < len(line) and line[pos] == "{":
            labels, pos = parse_labels(line, pos, lineno)
        rest = line[pos:]
        if not rest or rest[0] not in " \t":
            raise Violation(lineno, f"expected a blank and a value after {name}")
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise Violation(lineno, "expected a value and an optional timestamp")
        value = parse_value(fields[0], lineno)
        if len(fields) == 2 and not TIMESTAMP.fullmatch(fields[1]):
            raise Violation(lineno, f"invalid timestamp {fields[1]!r}")
        fam = enter(family_of(name, families, current), lineno)
        fam.has_samples = True
        key = (name, frozenset(labels))
        if key in samples:
            raise Violation(lineno, f"duplicate series {line.split()[0]}")
        samples[key] = fields[0]
        if fam.type == "counter" and (math.isnan(value) or value < 0):
            raise Violation(lineno, f"counter {name} has value {fields[0]} (must be >= 0)")
        if fam.type in ("histogram", "summary"):
            suffix = name[len(fam.name):]
            rest_labels = frozenset(lv for lv in labels if lv[0] != "le")
            if fam.type == "summary":
                rest_labels = frozenset(lv for lv in labels if lv[0] != "quantile")
            h = fam.hist.setdefault(rest_labels, {"buckets": [], "sum": None, "count": None,
                                                  "line": lineno})
            if suffix == "_bucket":
                le = dict(labels).get("le")
                if le is None:
                    raise Violation(lineno, f"{name} without an le label")
                lev = parse_value(le, lineno, "le")
                if math.isnan(lev):
                    raise Violation(lineno, f"{name} has le=\"NaN\"")
                if any(b[0] == lev for b in h["buckets"]):
                    raise Violation(lineno, f"{name}: a second bucket with le={le}")
                if math.isnan(value) or value < 0:
                    raise Violation(lineno, f"{name} has value {fields[0]}")
                h["buckets"].append((lev, value, lineno))
            elif suffix == "_sum":
                h["sum"] = value
            elif suffix == "_count":
                if math.isnan(value) or value < 0:
                    raise Violation(lineno, f"{name} has value {fields[0]}")
                h["count"] = (value, lineno)
            elif fam.type == "summary" and suffix == "":
                if "quantile" not in dict(labels):
                    raise Violation(lineno, f"summary sample {name} without a quantile label")
    # whole-family checks
    for fam in families.values():
        for lab, h in fam.hist.items():
            where = h["line"]
            if h["count"] is None:
                raise Violation(where, f"{fam.type} {fam.name}{fmt(lab)} has no _count")
            if h["sum"] is None:
                raise Violation(where, f"{fam.type} {fam.name}{fmt(lab)} has no _sum")
            if fam.type != "histogram":
                continue
            buckets = sorted(h["buckets"])
            if not buckets or buckets[-1][0] != math.inf:
                raise Violation(where, f"histogram {fam.name}{fmt(lab)} has no le=\"+Inf\" bucket")
            for (le0, v0, _), (le1, v1, ln1) in zip(buckets, buckets[1:]):
                if v1 < v0:
                    raise Violation(
                        ln1, f"histogram {fam.name}{fmt(lab)}: bucket le={le1:g} holds {v1:g}, "
                        f"fewer than {v0:g} in le={le0:g} (buckets are cumulative)")
            inf_v, inf_line = buckets[-1][1], buckets[-1][2]
            if inf_v != h["count"][0]:
                raise Violation(
                    inf_line, f"histogram {fam.name}{fmt(lab)}: le=\"+Inf\" bucket {inf_v:g} "
                    f"!= _count {h['count'][0]:g}")
    return samples


def fmt(labels):
    if not labels:
        return ""
    esc = lambda v: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels)) + "}"


def main(argv):
    path, get, default = None, None, None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("--get", "--default"):
            if not args:
                print(f"promcheck: {a} needs an argument", file=sys.stderr)
                return 2
            if a == "--get":
                get = args.pop(0)
            else:
                default = args.pop(0)
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif path is None:
            path = a
        else:
            print(f"promcheck: unexpected argument {a!r}", file=sys.stderr)
            return 2
    name = path or "<stdin>"
    try:
        if path and path != "-":
            with open(path, "rb") as f:
                raw = f.read()
        else:
            raw = sys.stdin.buffer.read()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        print(f"promcheck: {name}: not UTF-8 ({e})", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"promcheck: {name}: {e.strerror}", file=sys.stderr)
        return 2
    lines = text.split("\n")
    try:
        samples = check(text)
    except Violation as v:
        shown = lines[v.lineno - 1] if 0 < v.lineno <= len(lines) else ""
        print(f"promcheck: {name}:{v.lineno}: {v.msg}\n  {shown}", file=sys.stderr)
        return 1
    if get is None:
        return 0
    try:
        key = parse_series(get, 0)
    except Violation as v:
        print(f"promcheck: --get: {v.msg}", file=sys.stderr)
        return 2
    if key in samples:
        print(samples[key])
        return 0
    if default is not None:
        print(default)
        return 0
    print(f"promcheck: {name}: no sample {get}", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
