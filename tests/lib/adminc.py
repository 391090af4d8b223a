"""adminc.py -- the admin endpoints' client for the integration tests: HTTP
requests from a chosen loopback source address (http.client, standard
library only), a checker of the Prometheus text exposition format, and
samples looked up by name and labels.

  r = get("127.0.17.1:8080", "/metrics", src="127.0.17.2")   # -> Resp
  r.status, r.headers (dict, lower-case names), r.text, r.json()
  r = post(addr, "/drain", src=..., token="t", body="level=debug")
  m = prom_parse(text)   # fails (ValueError with the line) unless every line
                         # follows the format and every family has HELP and TYPE
  m.value("edgepool_sip_requests_received_total", side="external", method="MESSAGE")
  m.families["edgepool_x_total"].type / .help / .samples

Used from ep_py snippets (`from adminc import *` next to sipc) and as a
command: python3 adminc.py check FILE (prints the families, exit 1 on a
format error)."""
import http.client
import json
import math
import re
import sys

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.text)

    def __str__(self):
        return "%d %s" % (self.status, self.text.strip()[:200])


def request(method, addr, path, src=None, token=None, body=None, headers=None, timeout=5.0):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout,
                                   source_address=(src, 0) if src else None)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if body is not None and "Content-Type" not in h:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        c.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=h)
        r = c.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        c.close()


def get(addr, path, **kw):
    return request("GET", addr, path, **kw)


def post(addr, path, **kw):
    return request("POST", addr, path, **kw)


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = []  # (name, labels dict, value)


class Metrics:
    def __init__(self):
        self.families = {}
        self.series = {}  # (name, frozenset(labels.items())) -> value

    def value(self, name, default=None, **labels):
        return self.series.get((name, frozenset(labels.items())), default)

    def find(self, name, **labels):
        """Every (labels, value) of name whose labels include the given ones."""
        out = []
        for (n, ls), v in self.series.items():
            d = dict(ls)
            if n == name and all(d.get(k) == v2 for k, v2 in labels.items()):
                out.append((d, v))
        return out

    def total(self, name, **labels):
        return sum(v for _, v in self.find(name, **labels))


def _label_value(s, i, lineno):
    """Parse a quoted label value at s[i] (the opening quote); returns (value, next index)."""
    if s[i] != '"':
        raise ValueError("line %d: label value must be quoted" % lineno)
    i += 1
    out = []
    while True:
        if i >= len(s):
            raise ValueError("line %d: unterminated label value" % lineno)
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                raise ValueError("line %d: bad escape in label value" % lineno)
            out.append({"\\": "\\", '"': '"', "n": "\n"}[s[i + 1]])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        elif c == "\n":
            raise ValueError("line %d: raw newline in label value" % lineno)
        else:
            out.append(c)
            i += 1


def _value(tok, lineno):
    if tok in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(tok.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.match(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", tok):
        raise ValueError("line %d: bad value %r" % (lineno, tok))
    return float(tok)


def prom_parse(text):
    """Parse and check text (format 0.0.4). Every sample belongs to a family
    that has one HELP and one TYPE line before its samples; a family's
    samples are contiguous; counters are >= 0; no series twice."""
    m = Metrics()
    if text and not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    current = None
    closed = set()
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("#"):
            p = line.split(" ", 3)
            if len(p) >= 3 and p[1] in ("HELP", "TYPE"):
                name = p[2]
                if not NAME_RE.match(name):
                    raise ValueError("line %d: bad metric name %r" % (lineno, name))
                f = m.families.get(name)
                if f is None:
                    f = m.families[name] = Family(name)
                elif name in closed or (f.samples and current is not f):
                    raise ValueError("line %d: %s %s after its samples or another family"
                                     % (lineno, p[1], name))
                if current is not None and current is not f:
                    closed.add(current.name)
                current = f
                rest = p[3] if len(p) > 3 else ""
                if p[1] == "HELP":
                    if f.help is not None:
                        raise ValueError("line %d: second HELP for %s" % (lineno, name))
                    if re.search(r"\\[^\\n]", rest) or rest.endswith("\\") and not rest.endswith("\\\\"):
                        raise ValueError("line %d: bad escape in HELP" % lineno)
                    f.help = rest
                else:
                    if f.type is not None:
                        raise ValueError("line %d: second TYPE for %s" % (lineno, name))
                    if rest not in TYPES:
                        raise ValueError("line %d: unknown TYPE %r" % (lineno, rest))
                    f.type = rest
            continue  # other comments are allowed
        # a sample: name[{labels}] value [timestamp]
        mt = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
        if not mt:
            raise ValueError("line %d: no metric name: %r" % (lineno, line))
        name = mt.group(1)
        i = mt.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            i += 1
            while True:
                while i < len(line) and line[i] == " ":
                    i += 1
                if line[i] == "}":
                    i += 1
                    break
                ml = re.match(r"[a-zA-Z_][a-zA-Z0-9_]*", line[i:])
                if not ml:
                    raise ValueError("line %d: bad label name" % lineno)
                ln = ml.group(0)
                i += ml.end()
                if line[i] != "=":
                    raise ValueError("line %d: '=' expected after label %s" % (lineno, ln))
                v, i = _label_value(line, i + 1, lineno)
                if ln in labels:
                    raise ValueError("line %d: label %s twice" % (lineno, ln))
                labels[ln] = v
                if line[i] == ",":
                    i += 1
                elif line[i] != "}":
                    raise ValueError("line %d: ',' or '}' expected" % lineno)
        if i >= len(line) or line[i] != " ":
            raise ValueError("line %d: a space must separate the value: %r" % (lineno, line))
        parts = line[i + 1:].split(" ")
        if len(parts) not in (1, 2):
            raise ValueError("line %d: value [timestamp] expected: %r" % (lineno, line))
        value = _value(parts[0], lineno)
        if len(parts) == 2 and not re.match(r"^-?\d+$", parts[1]):
            raise ValueError("line %d: bad timestamp" % lineno)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        f = m.families.get(name) or m.families.get(base)
        if f is None:
            raise ValueError("line %d: sample %s without HELP/TYPE" % (lineno, name))
        if f.help is None or f.type is None:
            raise ValueError("line %d: family %s lacks %s" % (lineno, f.name,
                                                            "HELP" if f.help is None else "TYPE"))
        if f is not current or f.name in closed:
            raise ValueError("line %d: sample of %s outside its family's block" % (lineno, name))
        if f.type == "counter" and (value < 0 or math.isnan(value)):
            raise ValueError("line %d: counter %s is %r" % (lineno, name, value))
        key = (name, frozenset(labels.items()))
        if key in m.series:
            raise ValueError("line %d: series %s%r twice" % (lineno, name, labels))
        m.series[key] = value
        f.samples.append((name, labels, value))
    for f in m.families.values():
        if f.help is None or f.type is None:
            raise ValueError("family %s lacks %s" % (f.name, "HELP" if f.help is None else "TYPE"))
    return m


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "check":
        sys.exit("usage: adminc.py check FILE")
    try:
        mm = prom_parse(open(sys.argv[2], encoding="utf-8").read())
    except ValueError as e:
        sys.exit("FAIL: %s" % e)
    for fam in mm.families.values():
        print("%-50s %-8s %d sample(s)" % (fam.name, fam.type, len(fam.samples)))
