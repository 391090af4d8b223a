#!/bin/bash
# local-run.sh start|stop|status -- the local node behind `make run` / `make stop`.
#
# Starts bin/edge-node on its embedded default (internal SIP/TCP 127.0.0.1:5060,
# federation SIP/TLS 127.0.0.1:5061, a generated certificate) in the
# background, logs and PID under run/, and returns once it answers. Running it
# twice does not start a second node; stop kills exactly the PID it started.
cd "$(dirname "$0")/.." || exit 1
RUN=$PWD/run
PIDF=$RUN/edge-node.pid
LOG=$RUN/edge-node.log

running() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

case "${1:-start}" in
start)
    if running; then
        echo "edge-node already running (PID $(cat "$PIDF")); logs: $LOG"
        exit 0
    fi
    mkdir -p "$RUN"
    bin/edge-node -f >"$LOG" 2>&1 &
    echo $! >"$PIDF"
    for _ in $(seq 50); do
        if (exec 3<>/dev/tcp/127.0.0.1/5060) 2>/dev/null; then
            cat <<MSG
edge-node is running (PID $(cat "$PIDF")), embedded default configuration:
  internal SIP over TCP   127.0.0.1:5060   (next hop: 127.0.0.1:5070)
  federation SIP over TLS 127.0.0.1:5061   (self-signed certificate: partners will refuse it)
  logs                    $LOG
Try it (an OPTIONS ping answered by the node itself):
  exec 3<>/dev/tcp/127.0.0.1/5060; printf 'OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK1\r\nFrom: <sip:me@contoso.test>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n' >&3; timeout 1 cat <&3
  bin/edge-node --print-config   # every setting and its default
Stop it with: make stop
MSG
            exit 0
        fi
        if ! running; then
            echo "edge-node exited at start; its log:"; cat "$LOG"; rm -f "$PIDF"; exit 1
        fi
        sleep 0.1
    done
    echo "edge-node did not answer on 127.0.0.1:5060 within 5 s; log: $LOG"
    exit 1
    ;;
stop)
    if running; then
        pid=$(cat "$PIDF")
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        echo "edge-node (PID $pid) stopped"
    else
        echo "edge-node is not running"
    fi
    rm -f "$PIDF"
    ;;
status)
    if running; then echo "edge-node running (PID $(cat "$PIDF"))"; else echo "edge-node not running"; exit 1; fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
