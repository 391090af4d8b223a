"""sipua.py -- an internal SIP endpoint for the pool tests: it listens on the
nodes' internal next hop and takes requests from whichever node brings them,
on any connection (after a node dies, the next in-dialog request comes from
another node over a new connection, which SIPp's UAS and UAC do not follow:
they abort a call whose connection closed).

    ep = Endpoint("127.0.11.11", 5070)
    c, m = ep.request(10, "INVITE")       # next request (of that method)
    ep.reply(c, m, 200, to_tag="abc", contact="sip:alice@127.0.11.11:5070",
             record_route=True, body=sdp)
    ep.peer(c)                            # "127.0.11.2:41234": who brought it

Used from ep_py snippets: `from sipua import *` after sipc's import."""
import select
import socket
import time

from sipc import Closed, Conn, fail, note


class Endpoint:
    def __init__(self, addr, port):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((addr, port))
        self.ls.listen(16)
        self.conns = []
        note("endpoint listening on %s:%d" % (addr, port))

    def peer(self, c):
        return "%s:%d" % c.sock.getpeername()

    def request(self, timeout, method=None):
        """(conn, msg) of the next request (of method, others are skipped);
        fails after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for c in list(self.conns):
                m = c._frame()
                if m is not None:
                    print("<<< %s got: %s" % (c.name, m.start), flush=True)
                    if m.method and (method is None or m.method == method):
                        return c, m
            left = deadline - time.monotonic()
            if left <= 0:
                fail("no %s request within %.0f s" % (method or "", timeout))
            rd, _, _ = select.select([self.ls] + [c.sock for c in self.conns], [], [], left)
            for s in rd:
                if s is self.ls:
                    a, _ = self.ls.accept()
                    c = Conn(a, "conn from %s:%d" % a.getpeername())
                    self.conns.append(c)
                    note("accepted %s" % c.name)
                    continue
                c = [x for x in self.conns if x.sock is s][0]
                try:
                    c._fill(time.monotonic() + 0.01)
                except Closed:
                    note("%s closed" % c.name)
                    self.conns.remove(c)

    def reply(self, c, m, code, reason="OK", to_tag=None, contact=None, record_route=False,
              body="", extra=()):
        lines = ["SIP/2.0 %d %s" % (code, reason)]
        lines += ["Via: " + v for v in m.all("Via")]
        if record_route:
            lines += ["Record-Route: " + v for v in m.all("Record-Route")]
        lines.append("From: " + m.get("From"))
        to = m.get("To")
        if to_tag and ";tag=" not in to:
            to += ";tag=" + to_tag
        lines += ["To: " + to, "Call-ID: " + m.get("Call-ID"), "CSeq: " + m.get("CSeq")]
        if contact:
            lines.append("Contact: <%s>" % contact)
        lines += list(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body))
        c.send("\r\n".join(lines) + "\r\n\r\n" + body)
