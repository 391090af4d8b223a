#!/usr/bin/python3
"""tls_idle.py -- hold COUNT idle mutual-TLS connections to a SIP/TLS listener.

  tls_idle.py HOST PORT SRC_IP COUNT CERT KEY CA SERVER_NAME STOP_FILE [HOLD_S]

Opens COUNT connections from SRC_IP (one after the other, each with a full
handshake presenting CERT/KEY and verifying the server against CA and
SERVER_NAME), prints "opened N" (flushed), then holds them without sending a
byte until STOP_FILE exists or HOLD_S seconds (default 60) pass, and closes
them. Exit 0 when all COUNT were opened, 1 otherwise (the error is printed).
Used by tests/bench/run.sh for the memory per idle federated connection.
"""
import os
import socket
import ssl
import sys
import time


def main():
    host, port, src, count, cert, key, ca, name, stop = sys.argv[1:10]
    port, count = int(port), int(count)
    hold = float(sys.argv[10]) if len(sys.argv) > 10 else 60.0
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    conns = []
    rc = 0
    try:
        for _ in range(count):
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.settimeout(10)
            raw.bind((src, 0))
            raw.connect((host, port))
            conns.append(ctx.wrap_socket(raw, server_hostname=name))
    except (OSError, ssl.SSLError) as e:
        print("error after %d connections: %s" % (len(conns), e), flush=True)
        rc = 1
    print("opened %d" % len(conns), flush=True)
    end = time.monotonic() + hold
    while not os.path.exists(stop) and time.monotonic() < end:
        time.sleep(0.05)
    for c in conns:
        try:
            c.close()
        except OSError:
            pass
    return rc


if __name__ == "__main__":
    sys.exit(main())
