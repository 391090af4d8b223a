"""sip_responder.py -- an internal SIP user agent for the failover tests: it
listens on a TCP address, takes requests on any connection from whichever
proxy brings them (SIPp's UAS aborts a call whose connection closed, so it
cannot take a dialog's BYE from another node), and answers at once:

    MESSAGE, OPTIONS, anything else   200
    INVITE                            200 with SDP, its Record-Route copied
                                      back, Contact = this address
    ACK                               nothing
    BYE                               200

Every request is one line on stdout, for the tests to count and time:

    REQ <epoch seconds.micro> <METHOD> <peer ip>:<port> <From host> <Call-ID>

Usage: /usr/bin/python3 sip_responder.py ADDR PORT SECONDS
(exits after SECONDS, or at SIGTERM; only the standard library)."""
import selectors
import signal
import socket
import sys
import time


def header(lines, *names):
    for ln in lines:
        k, _, v = ln.partition(":")
        if k.strip().lower() in names:
            return v.strip()
    return ""


def headers_all(lines, *names):
    out = []
    for ln in lines:
        k, _, v = ln.partition(":")
        if k.strip().lower() in names:
            out.append(v.strip())
    return out


class Responder:
    def __init__(self, addr, port):
        self.addr, self.port = addr, port
        self.sel = selectors.DefaultSelector()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((addr, port))
        self.ls.listen(128)
        self.ls.setblocking(False)
        self.sel.register(self.ls, selectors.EVENT_READ, None)
        self.bufs = {}
        self.tag = 0

    def accept(self):
        try:
            s, _ = self.ls.accept()
        except OSError:
            return
        s.setblocking(False)
        self.bufs[s] = b""
        self.sel.register(s, selectors.EVENT_READ, s.getpeername())

    def close(self, s):
        self.sel.unregister(s)
        self.bufs.pop(s, None)
        s.close()

    def send(self, s, data):
        try:
            s.setblocking(True)
            s.settimeout(2.0)
            s.sendall(data)
            s.setblocking(False)
        except OSError:
            pass

    def handle(self, s, peer, head, body):
        lines = head.decode("utf-8", "replace").split("\r\n")
        start = lines[0].split(" ")
        if lines[0].startswith("SIP/2.0"):
            return  # a response: nothing of ours asked
        method = start[0]
        hdrs = lines[1:]
        frm = header(hdrs, "from", "f")
        host = frm.split("@", 1)[1] if "@" in frm else "-"
        for sep in (">", ";", " "):
            host = host.split(sep, 1)[0]
        callid = header(hdrs, "call-id", "i")
        print("REQ %.6f %s %s:%d %s %s" % (time.time(), method, peer[0], peer[1], host, callid),
              flush=True)
        if method == "ACK":
            return
        out = ["SIP/2.0 200 OK"]
        out += ["Via: " + v for v in headers_all(hdrs, "via", "v")]
        to = header(hdrs, "to", "t")
        sdp = ""
        if method == "INVITE":
            out += ["Record-Route: " + v for v in headers_all(hdrs, "record-route")]
            if ";tag=" not in to:
                self.tag += 1
                to += ";tag=resp%d" % self.tag
            out.append("Contact: <sip:uas@%s:%d;transport=tcp>" % (self.addr, self.port))
            sdp = ("v=0\r\no=uas 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                   "m=audio 4000 RTP/AVP 0\r\n" % (self.addr, self.addr))
            out.append("Content-Type: application/sdp")
        elif ";tag=" not in to:
            self.tag += 1
            to += ";tag=resp%d" % self.tag
        out += ["From: " + frm, "To: " + to, "Call-ID: " + callid,
                "CSeq: " + header(hdrs, "cseq"), "Content-Length: %d" % len(sdp)]
        self.send(s, ("\r\n".join(out) + "\r\n\r\n" + sdp).encode())

    def readable(self, s, peer):
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.close(s)
            return
        buf = self.bufs[s] + data
        while True:
            buf = buf.lstrip(b"\r\n")  # keepalives
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            cl = 0
            for ln in head.split(b"\r\n")[1:]:
                k, _, v = ln.partition(b":")
                if k.strip().lower() in (b"content-length", b"l"):
                    try:
                        cl = int(v.strip())
                    except ValueError:
                        cl = 0
            if len(buf) < end + 4 + cl:
                break
            body = buf[end + 4:end + 4 + cl]
            buf = buf[end + 4 + cl:]
            self.handle(s, peer, head, body)
        if s in self.bufs:
            self.bufs[s] = buf

    def run(self, secs):
        deadline = time.monotonic() + secs
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for key, _ in self.sel.select(min(left, 0.5)):
                if key.data is None:
                    self.accept()
                else:
                    self.readable(key.fileobj, key.data)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: sip_responder.py ADDR PORT SECONDS")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    r = Responder(sys.argv[1], int(sys.argv[2]))
    print("listening on %s:%s" % (sys.argv[1], sys.argv[2]), flush=True)
    r.run(float(sys.argv[3]))


if __name__ == "__main__":
    main()
