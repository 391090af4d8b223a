#!/usr/bin/python3
"""xmpp_user.py JID PASSWORD HOST:PORT CMDFILE -- a long-lived XMPP user for
the gateway tests (python3-slixmpp, Debian's /usr/bin/python3), driven by
lines appended to CMDFILE while it runs (tests/lib/xmppc.py is the one-shot
sender). It logs in at HOST:PORT (c2s, the server's certificate unchecked),
answers message receipts (XEP-0184), approves nothing by itself, and prints
one line per event:

  SESSION JID
  MESSAGE TYPE FROM TO 'BODY' [CONDITION]
  PRESENCE available|unavailable FROM [SHOW] 'STATUS'
  SUBSCRIBE|SUBSCRIBED|UNSUBSCRIBE|UNSUBSCRIBED FROM
  PRESENCE-ERROR FROM CONDITION
  DONE

Commands (one per line; "#" starts a comment):
  send TO BODY...               a chat message
  sendtype TYPE TO BODY...      a message of another type (groupchat, normal)
  subscribe TO / unsubscribe TO presence subscription requests
  approve FROM / deny FROM      answer a subscription request
  presence [SHOW|-] [STATUS...] broadcast availability (- : no <show/>)
  offline                       unavailable presence, then log out
  quit                          log out
"""
import asyncio
import logging
import os
import ssl
import sys

import slixmpp


class User(slixmpp.ClientXMPP):
    def __init__(self, jid, pw, cmdfile):
        super().__init__(jid, pw)
        self.cmdfile = cmdfile
        self.ssl_context = ssl.create_default_context()
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.roster.auto_authorize = None  # approvals are the test's
        self.roster.auto_subscribe = False
        self.register_plugin("xep_0184")  # answers receipt requests
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_message)
        for t in ("subscribe", "subscribed", "unsubscribe", "unsubscribed"):
            self.add_event_handler("presence_" + t, self.on_sub(t.upper()))
        # every presence: slixmpp names available ones by their <show/>
        self.add_event_handler("presence", self.on_avail)
        self.add_event_handler("presence_error", self.on_perror)
        self.add_event_handler("connection_failed",
                               lambda e: (out("CONNECTION FAILED", e), self.disconnect()))

    def on_sub(self, what):
        return lambda p: out(what, p["from"].bare)

    def on_avail(self, p):
        if p["from"].bare == self.boundjid.bare or p["type"] not in (
                "available", "away", "chat", "dnd", "xa", "unavailable"):
            return  # our own resources; subscriptions, probes, errors
        kind = "unavailable" if p["type"] == "unavailable" else "available"
        show = p["show"] if kind == "available" and p["show"] in ("away", "chat", "dnd", "xa") else ""
        out("PRESENCE", kind, p["from"].bare, show, repr(p["status"]))

    def on_perror(self, p):
        out("PRESENCE-ERROR", p["from"].bare, p["error"]["condition"])

    def on_message(self, msg):
        if msg["type"] != "error" and not msg["body"]:
            return  # receipts, chat states
        out("MESSAGE", msg["type"], msg["from"], msg["to"], repr(msg["body"]),
            msg["error"]["condition"] if msg["type"] == "error" else "")

    async def start(self, ev):
        await self.get_roster()
        self.send_presence()
        out("SESSION", self.boundjid)
        pos = 0
        while True:
            try:
                with open(self.cmdfile) as f:
                    f.seek(pos)
                    lines = f.readlines()
                    pos = f.tell()
            except FileNotFoundError:
                lines = []
            for line in lines:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if not self.run(line.split()):
                    return
            await asyncio.sleep(0.05)

    def run(self, a):
        out("CMD", " ".join(a))
        if a[0] == "send":
            self.send_message(mto=a[1], mbody=" ".join(a[2:]), mtype="chat")
        elif a[0] == "sendtype":
            self.send_message(mto=a[2], mbody=" ".join(a[3:]), mtype=a[1])
        elif a[0] in ("subscribe", "unsubscribe"):
            self.send_presence(pto=a[1], ptype=a[0])
        elif a[0] == "approve":
            self.send_presence(pto=a[1], ptype="subscribed")
        elif a[0] == "deny":
            self.send_presence(pto=a[1], ptype="unsubscribed")
        elif a[0] == "presence":
            show = a[1] if len(a) > 1 and a[1] != "-" else None
            self.send_presence(pshow=show, pstatus=" ".join(a[2:]) or None)
        elif a[0] == "offline":
            self.send_presence(ptype="unavailable")
            self.disconnect(wait=1.0)
            return False
        elif a[0] == "quit":
            self.disconnect()
            return False
        else:
            out("BAD COMMAND", " ".join(a))
        return True


def out(*a):
    print(*a, flush=True)


jid, pw, hostport, cmdfile = sys.argv[1:5]
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
u = User(jid, pw, cmdfile)
h, p = hostport.rsplit(":", 1)
u.connect((h, int(p)))
u.loop.run_until_complete(u.disconnected)
out("DONE")
