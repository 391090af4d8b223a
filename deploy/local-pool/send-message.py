#!/usr/bin/python3
"""send-message.py -- send one SIP MESSAGE to the local pool as a federated
partner (mutual TLS with the partner's certificate, e.g. the demo's
fabrikam-edge) and print the final answer; the demo client of
deploy/local-run.sh. Only the standard library.

    send-message.py --to 127.0.1.10:5061 --pki run/pki [--src 127.0.1.20]
                    [--cert fabrikam-edge] [--from sip:bob@fabrikam.test]
                    [--uri sip:alice@contoso.test] [--text hello] [--timeout 5]

--to is the VIP or a node's federation listener; the server must present a
certificate for sip.contoso.test chaining to PKI/ca.crt. --src picks the
source address (the VIP pins each source to one node). Prints the request's
first line and every response line "<<< SIP/2.0 200 OK"; exit 0 when the
final answer is 2xx, 1 otherwise (or on a TLS/connect error, said on stderr)."""
import argparse
import os
import random
import socket
import ssl
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--to", required=True, help="host:port of the VIP or a node (TLS)")
    ap.add_argument("--pki", required=True, help="folder with ca.crt and CERT.crt/.key")
    ap.add_argument("--cert", default="fabrikam-edge", help="certificate name in --pki")
    ap.add_argument("--src", default=None, help="source address")
    ap.add_argument("--server-name", default="sip.contoso.test")
    ap.add_argument("--from", dest="frm", default="sip:bob@fabrikam.test")
    ap.add_argument("--uri", default="sip:alice@contoso.test")
    ap.add_argument("--text", default="hello from fabrikam.test")
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()

    host, port = a.to.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(a.pki, "ca.crt"))
    ctx.load_cert_chain(os.path.join(a.pki, a.cert + ".crt"), os.path.join(a.pki, a.cert + ".key"))
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if a.src:
            s.bind((a.src, 0))
        s.settimeout(a.timeout)
        s.connect((host, int(port)))
        s = ctx.wrap_socket(s, server_hostname=a.server_name)
    except (OSError, ssl.SSLError) as e:
        print("send-message: %s: %s" % (a.to, e), file=sys.stderr)
        return 1
    lhost, lport = s.getsockname()[:2]
    tag = "%08x" % random.getrandbits(32)
    body = a.text.encode("utf-8")
    req = ("MESSAGE %s SIP/2.0\r\n"
           "Via: SIP/2.0/TLS %s:%d;branch=z9hG4bK%08x\r\n"
           "Max-Forwards: 70\r\n"
           "From: <%s>;tag=%s\r\n"
           "To: <%s>\r\n"
           "Call-ID: %s-%d@%s\r\n"
           "CSeq: 1 MESSAGE\r\n"
           "Content-Type: text/plain\r\n"
           "Content-Length: %d\r\n\r\n" % (a.uri, lhost, lport, random.getrandbits(32), a.frm, tag,
                                           a.uri, tag, os.getpid(), lhost, len(body)))
    print(">>> MESSAGE %s from %s via %s (source %s, as %s)" % (a.uri, a.frm, a.to, lhost, a.cert))
    s.sendall(req.encode("utf-8") + body)
    buf = b""
    deadline = time.monotonic() + a.timeout
    while True:
        msg, buf = frame(buf)
        if msg is None:
            left = deadline - time.monotonic()
            if left <= 0:
                print("send-message: no final answer within %.1f s" % a.timeout, file=sys.stderr)
                return 1
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            except (OSError, ssl.SSLError) as e:
                print("send-message: %s" % e, file=sys.stderr)
                return 1
            if not d:
                print("send-message: connection closed before a final answer", file=sys.stderr)
                return 1
            buf += d
            continue
        print("<<< " + msg)
        p = msg.split(" ")
        if msg.startswith("SIP/2.0 ") and len(p) > 1 and p[1].isdigit() and int(p[1]) >= 200:
            s.close()
            return 0 if int(p[1]) < 300 else 1


def frame(buf):
    """(first line of the next whole message, the bytes after it), or
    (None, buf) while it is incomplete. Leading CRLFs (keepalives) skipped."""
    b = buf.lstrip(b"\r\n")
    end = b.find(b"\r\n\r\n")
    if end < 0:
        return None, buf
    lines = b[:end].decode("latin-1").split("\r\n")
    cl = 0
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        if k.strip().lower() in ("content-length", "l") and v.strip().isdigit():
            cl = int(v.strip())
    if len(b) < end + 4 + cl:
        return None, buf
    return lines[0], b[end + 4 + cl:]

if __name__ == "__main__":
    sys.exit(main())
