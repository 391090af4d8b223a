#!/usr/bin/python3
"""dnsq.py -- raw DNS over UDP/TCP for the balancer tests, where kdig cannot
go: hand-made (malformed) packets, several queries on one TCP connection, a
burst from one source (rate limiting), an idle TCP connection.

  dnsq.py raw ADDR PORT HEX [tcp]        send HEX as is; print the answer's
                                         header ("rcode=N flags=0x.... qd an ns ar len")
                                         or "noanswer" (1 s)
  dnsq.py query ADDR PORT NAME TYPE      build a plain query; print as raw does
  dnsq.py multi ADDR PORT N NAME TYPE    N queries written at once on one TCP
                                         connection; print "answers K ids-ok B"
  dnsq.py blast ADDR PORT N NAME TYPE    N UDP queries as fast as possible from one
                                         socket; print "sent N answered A full F truncated T"
  dnsq.py idle ADDR PORT                 connect over TCP, send nothing; print the
                                         seconds until the server closes (30 s cap)
  dnsq.py split ADDR PORT NAME TYPE      one TCP query written a byte at a time
  dnsq.py junk ADDR PORT N SEED          N random or mutated packets over UDP and N/10
                                         over TCP, at once; print "sent N answers A tcp T"
Exit 0 unless the arguments are wrong or the connection fails.
"""
import socket
import struct
import sys
import time

TYPES = {"A": 1, "NS": 2, "SOA": 6, "TXT": 16, "AAAA": 28, "SRV": 33, "ANY": 255}


def build(name, qtype, qid=0x1234, flags=0x0100):
    q = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0)
    for label in name.strip(".").split("."):
        if label:
            q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", TYPES.get(qtype.upper(), 0) or int(qtype), 1)


def header(m):
    if m is None:
        return "noanswer"
    if len(m) < 12:
        return "short len=%d" % len(m)
    qid, fl, qd, an, ns, ar = struct.unpack(">HHHHHH", m[:12])
    return "rcode=%d flags=0x%04x qd=%d an=%d ns=%d ar=%d len=%d id=0x%04x" % (
        fl & 0xF, fl, qd, an, ns, ar, len(m), qid)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b


def ask(addr, port, pkt, tcp=False, timeout=1.0):
    if tcp:
        s = socket.create_connection((addr, port), timeout=timeout)
        s.sendall(struct.pack(">H", len(pkt)) + pkt)
        try:
            ln = recv_exact(s, 2)
            return recv_exact(s, struct.unpack(">H", ln)[0]) if ln else None
        except socket.timeout:
            return None
        finally:
            s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(pkt, (addr, port))
    try:
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def main(a):
    cmd, addr, port = a[0], a[1], int(a[2])
    if cmd == "raw":
        print(header(ask(addr, port, bytes.fromhex(a[3]), len(a) > 4 and a[4] == "tcp")))
    elif cmd == "query":
        print(header(ask(addr, port, build(a[3], a[4]))))
    elif cmd == "multi":
        n = int(a[3])
        s = socket.create_connection((addr, port), timeout=3)
        s.sendall(b"".join(struct.pack(">H", len(p)) + p
                           for p in (build(a[4], a[5], qid=i + 1) for i in range(n))))
        got, ids = 0, set()
        for _ in range(n):
            ln = recv_exact(s, 2)
            if not ln:
                break
            m = recv_exact(s, struct.unpack(">H", ln)[0])
            if not m:
                break
            got += 1
            ids.add(struct.unpack(">H", m[:2])[0])
        s.close()
        print("answers %d ids-ok %s" % (got, ids == set(range(1, n + 1))))
    elif cmd == "blast":
        n = int(a[3])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setblocking(False)
        ans = full = tc = 0
        sent = 0

        def drain():
            nonlocal ans, full, tc
            while True:
                try:
                    m = s.recv(65535)
                except BlockingIOError:
                    return
                ans += 1
                fl, an = struct.unpack(">H", m[2:4])[0], struct.unpack(">H", m[6:8])[0]
                if fl & 0x0200:
                    tc += 1
                elif an:
                    full += 1

        for i in range(n):
            try:
                s.sendto(build(a[4], a[5], qid=i & 0xFFFF), (addr, port))
                sent += 1
            except BlockingIOError:
                pass
            drain()
        end = time.time() + 1.0
        while time.time() < end:
            drain()
            time.sleep(0.01)
        print("sent %d answered %d full %d truncated %d" % (sent, ans, full, tc))
    elif cmd == "idle":
        s = socket.create_connection((addr, port), timeout=30)
        t0 = time.time()
        try:
            s.recv(10)
        except socket.timeout:
            pass
        print("%.1f" % (time.time() - t0))
    elif cmd == "split":
        p = build(a[3], a[4])
        p = struct.pack(">H", len(p)) + p
        s = socket.create_connection((addr, port), timeout=3)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(p)):
            s.send(p[i:i + 1])
            time.sleep(0.005)
        ln = recv_exact(s, 2)
        print(header(recv_exact(s, struct.unpack(">H", ln)[0]) if ln else None))
    elif cmd == "junk":
        import random
        n, rnd = int(a[3]), random.Random(int(a[4]))
        seeds = [build("sip.contoso.test", "A"), build("_sip._tls.contoso.test", "SRV"),
                 build("contoso.test", "SOA") + bytes.fromhex("0000290fa0000080000000")]
        seeds[2] = seeds[2][:11] + b"\x01" + seeds[2][12:]

        def packet():
            if rnd.random() < 0.3:
                return bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 80)))
            p = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randrange(1, 5)):
                k = rnd.randrange(4)
                if k == 0 and p:
                    p[rnd.randrange(len(p))] ^= 1 << rnd.randrange(8)
                elif k == 1 and p:
                    p[rnd.randrange(len(p))] = rnd.choice([0, 0x3F, 0x40, 0xC0, 0xFF])
                elif k == 2:
                    p = p[:rnd.randrange(len(p) + 1)]
                else:
                    p += bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 8)))
            p[2:3] = bytes([p[2] & 0x7F]) if len(p) > 2 else p[2:3]  # mostly queries
            return bytes(p)

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        got = 0
        for _ in range(n):
            s.sendto(packet(), (addr, port))
            time.sleep(0.0005)
            try:
                while True:
                    s.recv(65535)
                    got += 1
            except BlockingIOError:
                pass
        end = time.time() + 0.5
        while time.time() < end:
            try:
                s.recv(65535)
                got += 1
            except BlockingIOError:
                time.sleep(0.01)
        tcp = 0
        for _ in range(max(1, n // 10)):
            p = packet()
            t = socket.create_connection((addr, port), timeout=1)
            try:
                t.sendall(struct.pack(">H", len(p)) + p)
                t.shutdown(socket.SHUT_WR)
                while t.recv(65535):
                    pass
                tcp += 1
            except OSError:
                pass
            t.close()
        print("sent %d answers %d tcp %d" % (n, got, tcp))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
