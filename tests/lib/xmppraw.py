#!/usr/bin/python3
"""xmppraw.py -- a deliberately plain XMPP s2s initiator for negative tests.

  xmppraw.py HOST:PORT FROM TO [--tls CERT KEY CA] [--sasl] [--version V]
             [--send XML]... [--big N] [--wait SECONDS] [--show]

Opens a stream from FROM to TO (header version V, default 1.0; "none" omits
it), optionally STARTTLS with a client certificate (verifying the server
against CA and the name TO) and SASL EXTERNAL, then writes each --send as is
(--big N: a <message/> from FROM whose body is N bytes), and reads until the
server closes or --wait passes (default 3). Prints one line per step:
"features ...", "tls", "sasl success|failure", "stream-error COND TEXT",
"closed"; with --show, "received XML" for what came after the --send ones. Only what a misbehaving partner needs; not a client library.
"""
import base64, re, socket, ssl, sys, time

args = sys.argv[1:]
if len(args) < 3:
    sys.exit(__doc__)
hostport, frm, to = args[:3]
args = args[3:]
tls = None; sasl = False; sends = []; wait = 3.0; version = "1.0"; show = False
while args:
    a = args.pop(0)
    if a == "--tls": tls = (args.pop(0), args.pop(0), args.pop(0))
    elif a == "--sasl": sasl = True
    elif a == "--send": sends.append(args.pop(0).encode())
    elif a == "--big":
        n = int(args.pop(0))
        sends.append(("<message from='x@%s' to='alice@%s' type='chat'><body>%s</body></message>"
                      % (frm, to, "a" * n)).encode())
    elif a == "--wait": wait = float(args.pop(0))
    elif a == "--version": version = args.pop(0)
    elif a == "--show": show = True
    else: sys.exit("unknown option " + a)

host, port = hostport.rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=5)
buf = b""

def header():
    v = "" if version == "none" else " version='%s'" % version
    sock.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                  "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
                  "from='%s' to='%s'%s>" % (frm, to, v)).encode())

def read_until(pattern, timeout=5.0):
    """Read until pattern (bytes regex) matches the buffer, a stream error, or close."""
    global buf
    end = time.time() + timeout
    while True:
        m = re.search(pattern, buf, re.S)
        if m:
            out = buf[:m.end()]
            buf = buf[m.end():]
            return out
        err = re.search(rb"<stream:error>(.*?)</stream:error>", buf, re.S)
        if err:
            report_error(err.group(1))
            finish()
        left = end - time.time()
        if left <= 0:
            print("timeout waiting for", pattern.decode(), "got", buf[-300:].decode(errors="replace"), flush=True)
            finish(1)
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionError, ssl.SSLError) as e:
            print("closed", e, flush=True)
            sys.exit(0)
        if not d:
            print("closed", flush=True)
            sys.exit(0)
        buf += d

def report_error(inner):
    cond = re.search(rb"<([a-z-]+) xmlns='urn:ietf:params:xml:ns:xmpp-streams'", inner)
    text = re.search(rb"<text[^>]*>(.*?)</text>", inner, re.S)
    print("stream-error", cond.group(1).decode() if cond else "?",
          text.group(1).decode(errors="replace") if text else "", flush=True)

def finish(rc=0):
    if show and buf:
        print("received", buf.decode(errors="replace"), flush=True)
    sock.close()
    print("closed", flush=True)
    sys.exit(rc)

header()
f = read_until(rb"</stream:features>|<stream:features/>")
print("features", " ".join(sorted(set(x.decode() for x in re.findall(rb"<(starttls|mechanisms|dialback|required)", f)))), flush=True)
if tls:
    sock.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    read_until(rb"<proceed[^>]*/>")
    ctx = ssl.create_default_context(cafile=tls[2])
    ctx.load_cert_chain(tls[0], tls[1])
    sock = ctx.wrap_socket(sock, server_hostname=to)
    print("tls", flush=True)
    buf = b""
    header()
    f = read_until(rb"</stream:features>|<stream:features/>")
    print("features", " ".join(sorted(set(x.decode() for x in re.findall(rb"<(starttls|mechanism>EXTERNAL|dialback)", f)))), flush=True)
if sasl:
    sock.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>%s</auth>"
                  % base64.b64encode(frm.encode()).decode()).encode())
    r = read_until(rb"<success[^>]*/>|</failure>")
    ok = b"success" in r
    print("sasl", "success" if ok else "failure", flush=True)
    if ok:
        buf = b""
        header()
        read_until(rb"</stream:features>|<stream:features/>")
for s in sends:
    try:
        sock.sendall(s)
    except (ConnectionError, ssl.SSLError):
        break
    time.sleep(0.05)
end = time.time() + wait
buf = b""
while time.time() < end:
    err = re.search(rb"<stream:error>(.*?)</stream:error>", buf, re.S)
    if err:
        report_error(err.group(1))
        break
    sock.settimeout(max(0.05, end - time.time()))
    try:
        d = sock.recv(65536)
    except socket.timeout:
        continue
    except (ConnectionError, ssl.SSLError):
        break
    if not d:
        break
    buf += d
finish()
