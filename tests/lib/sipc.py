"""sipc.py -- a scriptable SIP peer for the integration tests: raw bytes or
whole requests over TCP or mutual TLS, from a chosen loopback source address,
and the responses read back framed by Content-Length, with timeouts.

Used through ep_py (tests/lib/sipc.sh), which runs a Python snippet with
`from sipc import *` done; a failed check calls fail(), which exits 1 with
"FAIL: why" as the last line. Only the standard library (Debian's
/usr/bin/python3). The pieces:

  c = tcp("127.0.7.1:5060", src="127.0.7.21")          # plain TCP
  c = tls("127.0.7.1:5061", src="127.0.7.22", cert="fabrikam-edge")
                                                       # mutual TLS, $EP_CERTS/NAME.crt/.key
  c.send(bytes_or_str)       c.shutdown_write()       c.close()
  m = c.recv(timeout)        # next message (Msg), None on timeout; EOF -> Closed
  m = c.expect(code, timeout, what)   # next message must be a response with that code
  c.expect_nothing(secs)     # no bytes at all for secs (connection may stay open)
  t = c.wait_closed(timeout) # seconds until the node closed it (fail on timeout)
  c.read_raw(timeout)        # bytes as they come (keepalive pongs)
  r = Req("MESSAGE", "sip:bob@contoso.test", c, frm="sip:alice@fabrikam.test")
  r.text() / str(r)          # the request; r.cancel(), r.ack(resp) for INVITE
  r.hdr("X-Foo", "1"), r.drop("Call-ID"), r.set("CSeq", "1 INVITE"), r.body = "..."
  m.status, m.method, m.reason, m.get("Via"), m.all("Via"), m.body, m.raw
"""
import os
import random
import socket
import ssl
import sys
import time

CERTS = os.environ.get("EP_CERTS", "tests/out/certs")
# the node under test, when the test exports them: "ip:port" of its internal
# (TCP) and federation (TLS) listeners
NODE_INT = os.environ.get("NODE_INT", "127.0.0.1:5060")
NODE_EXT = os.environ.get("NODE_EXT", "127.0.0.1:5061")


class Closed(Exception):
    """The peer closed the connection."""


def fail(msg):
    sys.stdout.flush()
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def note(msg):
    print("# " + msg, flush=True)


def ok(msg):
    print("ok: " + msg, flush=True)


def _addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


class Msg:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.start = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            n, _, v = line.partition(":")
            self.headers.append((n.strip(), v.strip()))
        p = self.start.split(" ", 2)
        if self.start.startswith("SIP/2.0 "):
            self.status = int(p[1])
            self.reason = p[2] if len(p) > 2 else ""
            self.method = None
        else:
            self.status = None
            self.method = p[0]
            self.reason = None

    _compact = {"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length",
                "m": "contact", "c": "content-type"}

    def all(self, name):
        name = name.lower()
        out = []
        for n, v in self.headers:
            n = self._compact.get(n.lower(), n.lower())
            if n == name:
                out.append(v)
        return out

    def values(self, name):
        """Every comma-separated value of every header name (commas inside
        <> and quotes do not split): Record-Route, Via, Route."""
        out = []
        for v in self.all(name):
            cur, depth, quote = "", 0, False
            for ch in v:
                if ch == '"':
                    quote = not quote
                elif not quote and ch == "<":
                    depth += 1
                elif not quote and ch == ">":
                    depth -= 1
                if ch == "," and depth == 0 and not quote:
                    out.append(cur.strip())
                    cur = ""
                else:
                    cur += ch
            if cur.strip():
                out.append(cur.strip())
        return out

    def get(self, name, default=None):
        a = self.all(name)
        return a[0] if a else default

    def __str__(self):
        return self.raw.decode("latin-1")


class Conn:
    def __init__(self, sock, name):
        self.sock = sock
        self.name = name
        self.buf = b""
        self.closed = False
        self.local = sock.getsockname()

    # -- sending
    def send(self, data):
        if isinstance(data, Req):
            data = data.text()
        if isinstance(data, str):
            data = data.encode("latin-1")
        print(">>> %s sends %d bytes: %r" % (self.name, len(data), data[:300]), flush=True)
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- receiving
    def _fill(self, deadline):
        """Read more bytes into buf; False on timeout; raises Closed on EOF."""
        if self.closed:
            raise Closed()
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            left = 0.001
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except ssl.SSLWantReadError:
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, ssl.SSLEOFError):
            d = b""
        if not d:
            self.closed = True
            raise Closed()
        self.buf += d
        return True

    def _frame(self):
        """One message off buf, or None. Leading CRLFs (pongs) are skipped."""
        b = self.buf.lstrip(b"\r\n")
        end = b.find(b"\r\n\r\n")
        if end < 0:
            return None
        m = Msg(b[: end + 4])
        cl = int(m.get("content-length", "0") or 0)
        total = end + 4 + cl
        if len(b) < total:
            return None
        self.buf = b[total:]
        return Msg(b[:total])

    def recv(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            m = self._frame()
            if m:
                print("<<< %s got: %s" % (self.name, m.start), flush=True)
                return m
            if not self._fill(deadline):
                return None

    def expect(self, code, timeout=5.0, what=""):
        """The next message must be a response with status code."""
        what = what or "a %d" % code
        try:
            m = self.recv(timeout)
        except Closed:
            fail("%s: connection closed by the node, expected %s" % (self.name, what))
        if m is None:
            fail("%s: no answer within %.1fs, expected %s" % (self.name, timeout, what))
        if m.status != code:
            fail("%s: got '%s', expected %s" % (self.name, m.start, what))
        return m

    def expect_request(self, method, timeout=5.0):
        try:
            m = self.recv(timeout)
        except Closed:
            fail("%s: connection closed, expected a %s" % (self.name, method))
        if m is None or m.method != method:
            fail("%s: expected a %s request, got %s" % (self.name, method, m and m.start))
        return m

    def expect_nothing(self, secs, what="no answer"):
        deadline = time.monotonic() + secs
        try:
            while self._fill(deadline):
                pass
        except Closed:
            self.closed = True
        if self.buf.strip(b"\r\n"):
            fail("%s: expected %s, got %r" % (self.name, what, self.buf[:200]))

    def read_raw(self, timeout=2.0, want=1):
        """Bytes received within timeout (at least want of them, or what came)."""
        deadline = time.monotonic() + timeout
        try:
            while len(self.buf) < want and self._fill(deadline):
                pass
        except Closed:
            pass
        b, self.buf = self.buf, b""
        return b

    def wait_closed(self, timeout=5.0, what="the node to close the connection"):
        """Seconds until EOF (or a reset); fails after timeout."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        try:
            while True:
                if not self._fill(deadline):
                    fail("%s: still open after %.1fs, expected %s" % (self.name, timeout, what))
        except Closed:
            return time.monotonic() - t0

    def is_open(self, secs=0.3):
        """True when the connection does not close within secs."""
        try:
            deadline = time.monotonic() + secs
            while self._fill(deadline):
                pass
            return True
        except Closed:
            return False


def _sock(dst, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if src:
        s.bind((src, 0))
    s.settimeout(5)
    s.connect(_addr(dst))
    return s


def tcp(dst, src=None, name=None):
    s = _sock(dst, src)
    c = Conn(s, name or "tcp %s->%s" % (src or "", dst))
    note("connected %s from %s:%d" % (dst, c.local[0], c.local[1]))
    return c


def tls(dst, src=None, cert="fabrikam-edge", server_name="sip.contoso.test", name=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(CERTS, "ca.crt"))
    ctx.load_cert_chain(os.path.join(CERTS, cert + ".crt"), os.path.join(CERTS, cert + ".key"))
    ctx.check_hostname = True
    s = _sock(dst, src)
    ss = ctx.wrap_socket(s, server_hostname=server_name)
    c = Conn(ss, name or "tls %s->%s" % (src or "", dst))
    note("TLS to %s from %s:%d as %s, server %s" % (dst, c.local[0], c.local[1], cert,
                                                     ss.getpeercert().get("subject")))
    return c


def rand(n=10):
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


class Req:
    """A request sent from Conn c: its Via names c's local address."""

    def __init__(self, method, ruri, c, frm="sip:alice@fabrikam.test", to=None, body=None,
                 cseq=1, mf=70, call_id=None, branch=None, transport=None):
        self.method = method
        self.ruri = ruri
        host, port = c.local[0], c.local[1]
        transport = transport or ("TLS" if isinstance(c.sock, ssl.SSLSocket) else "TCP")
        self.branch = branch or "z9hG4bK" + rand()
        self.via = "SIP/2.0/%s %s:%d;branch=%s" % (transport, host, port, self.branch)
        self.from_tag = rand(8)
        self.call_id = call_id or rand(16) + "@" + host
        self.cseq = cseq
        to = to or ruri.split(";")[0]
        self.headers = [
            ["Via", self.via],
            ["Max-Forwards", str(mf)],
            ["From", "<%s>;tag=%s" % (frm, self.from_tag)],
            ["To", "<%s>" % to],
            ["Call-ID", self.call_id],
            ["CSeq", "%d %s" % (cseq, method)],
            ["Contact", "<sip:%s@%s:%d;transport=%s>" % (frm.split(":")[1].split("@")[0], host, port,
                                                         transport.lower())],
        ]
        if body is None and method in ("MESSAGE",):
            body = "edgepool test %s\r\n" % rand(6)
        self.body = body or ""
        if self.body and method == "MESSAGE":
            self.headers.append(["Content-Type", "text/plain"])
        if self.body and method == "INVITE":
            self.headers.append(["Content-Type", "application/sdp"])
        self.content_length = None  # None: the real length

    def hdr(self, name, value):
        self.headers.append([name, value])
        return self

    def set(self, name, value):
        for h in self.headers:
            if h[0].lower() == name.lower():
                h[1] = value
                return self
        return self.hdr(name, value)

    def drop(self, name):
        self.headers = [h for h in self.headers if h[0].lower() != name.lower()]
        return self

    def insert(self, i, name, value):
        self.headers.insert(i, [name, value])
        return self

    def text(self):
        body = self.body.encode("latin-1") if isinstance(self.body, str) else self.body
        cl = len(body) if self.content_length is None else self.content_length
        lines = ["%s %s SIP/2.0" % (self.method, self.ruri)]
        lines += ["%s: %s" % (n, v) for n, v in self.headers]
        if cl is not False:
            lines.append("Content-Length: %s" % cl)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def __str__(self):
        return self.text().decode("latin-1")

    def cancel(self):
        """The CANCEL for this INVITE (same Via branch, R-URI, From, To, Call-ID, CSeq number)."""
        c = Req.__new__(Req)
        c.method, c.ruri, c.branch, c.via = "CANCEL", self.ruri, self.branch, self.via
        c.call_id, c.cseq, c.from_tag = self.call_id, self.cseq, self.from_tag
        keep = ("via", "from", "to", "call-id", "route")
        c.headers = [list(h) for h in self.headers if h[0].lower() in keep]
        c.headers.insert(1, ["Max-Forwards", "70"])
        c.headers.append(["CSeq", "%d CANCEL" % self.cseq])
        c.body, c.content_length = "", None
        return c

    def ack(self, resp):
        """The ACK of a non-2xx final response resp (same branch, To from resp)."""
        a = self.cancel()
        a.method = "ACK"
        a.set("CSeq", "%d ACK" % self.cseq)
        a.set("To", resp.get("To"))
        return a


def in_dialog(method, c, invite, resp, cseq):
    """ACK (2xx) or BYE in the dialog invite created with 2xx resp: R-URI is the
    callee's Contact, Route the reversed Record-Route set."""
    contact = resp.get("Contact").strip()
    ruri = contact[contact.find("<") + 1: contact.find(">")] if "<" in contact else contact
    r = Req(method, ruri, c, call_id=invite.call_id, cseq=cseq)
    r.from_tag = invite.from_tag
    r.set("From", [v for n, v in invite.headers if n == "From"][0])
    r.set("To", resp.get("To"))
    r.drop("Contact")
    for route in reversed(resp.values("Record-Route")):
        r.insert(len(r.headers) - 1, "Route", route)
    return r


def log_mark(path):
    """The current size of a log file: wait_log(..., since=mark) looks after it."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def wait_log(path, regex, timeout=5.0, since=0):
    """The first line of path (after byte offset since) matching regex, within
    timeout; fails otherwise."""
    import re
    rx = re.compile(regex)
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as f:
            f.seek(since)
            for line in f.read().decode("latin-1").splitlines():
                if rx.search(line):
                    ok("log: " + line[:200])
                    return line
        if time.monotonic() > deadline:
            fail("no line matching /%s/ in %s within %.1fs" % (regex, path, timeout))
        time.sleep(0.05)


def final(c, what, timeout=10):
    """The first final response on c (provisional ones skipped); fails when
    none comes within timeout."""
    while True:
        m = c.recv(timeout)
        if m is None:
            fail("no final answer to %s" % what)
        if m.status and m.status >= 200:
            return m


def sipc_wait_file(folder, name, secs):
    """Wait until the shell test creates folder/name (its go-ahead)."""
    end = time.time() + secs
    while not os.path.exists(os.path.join(folder, name)):
        if time.time() > end:
            fail("no %s from the test" % name)
        time.sleep(0.01)


class Calls:
    """INVITE dialogs a driver holds across a failure: one TCP connection
    from src to each node; call() sets one up through node k (INVITE, 200,
    ACK) from alice@contoso.test to NAME@domain; bye() ends it through any
    node, optionally with the ep-peer stripped from its Route so that the node
    must route it from the pool's dialog record; save() writes the call ids
    for the shell test."""

    def __init__(self, nodes, src, domain="fabrikam.test"):
        import re
        self._re = re
        self.domain = domain
        self.sdp = ("v=0\r\no=a 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                    "m=audio 4000 RTP/AVP 0\r\n" % (src, src))
        self.conns = [tcp(n, src=src) for n in nodes]

    def call(self, name, k):
        c = self.conns[k]
        inv = Req("INVITE", "sip:%s@%s" % (name, self.domain), c, frm="sip:alice@contoso.test",
                  body=self.sdp)
        c.send(inv)
        m = final(c, "INVITE %s" % name)
        if m.status != 200:
            fail("INVITE %s through node%d answered %d" % (name, k + 1, m.status))
        c.send(in_dialog("ACK", c, inv, m, 1))
        return {"inv": inv, "ok": m, "node": k}

    def bye(self, d, k, strip=False):
        c = self.conns[k]
        b = in_dialog("BYE", c, d["inv"], d["ok"], 2)
        if strip:
            for h in b.headers:
                if h[0] == "Route":
                    h[1] = self._re.sub(r";ep-peer=[^;>]*", "", h[1])
        c.send(b)
        m = final(c, "BYE")
        if m.status != 200:
            fail("BYE of %s through node%d%s answered %d" % (d["inv"].call_id, k + 1,
                 " without ep-peer" if strip else "", m.status))

    @staticmethod
    def save(folder, name, ds):
        with open(os.path.join(folder, name), "w") as f:
            f.write("".join(d["inv"].call_id + "\n" for d in ds))
