#!/usr/bin/python3
"""xmpp_chat_user.py JID PASSWORD HOST:PORT CMDFILE -- an XMPP user for the
gateway's IM-session tests (python3-slixmpp, Debian's /usr/bin/python3):
like xmpp_user.py, but every <message/> is printed, chat states (XEP-0085)
and <thread/> included, so a test sees typing notifications and the order
of messages. Driven by lines appended to CMDFILE while it runs. Prints:

  SESSION JID
  MESSAGE TYPE FROM 'BODY' THREAD STATE [CONDITION]    (BODY '' and STATE - when absent)
  DONE

Commands (one per line):
  send TO BODY...               a chat message (with <active/>)
  state TO composing|paused|gone   a chat state alone
  quit                          log out
"""
import asyncio
import logging
import ssl
import sys

import slixmpp
from slixmpp.xmlstream import ET

NS_CS = "http://jabber.org/protocol/chatstates"
STATES = ("active", "composing", "paused", "inactive", "gone")


class User(slixmpp.ClientXMPP):
    def __init__(self, jid, pw, cmdfile):
        super().__init__(jid, pw)
        self.cmdfile = cmdfile
        self.ssl_context = ssl.create_default_context()
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_message)
        # slixmpp's "message" event needs a <body/>: chat states alone come
        # through XEP-0085's event
        self.register_plugin("xep_0085")
        self.add_event_handler("chatstate", lambda m: None if m["body"] else self.on_message(m))

    def on_message(self, msg):
        state = "-"
        for s in STATES:
            if msg.xml.find("{%s}%s" % (NS_CS, s)) is not None:
                state = s
        cond = msg["error"]["condition"] if msg["type"] == "error" else ""
        out("MESSAGE", msg["type"], msg["from"], repr(msg["body"]), msg["thread"] or "-", state,
            cond)

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
                a = line.split()
                if not a or a[0].startswith("#"):
                    continue
                out("CMD", " ".join(a))
                if a[0] == "send":
                    m = self.make_message(mto=a[1], mbody=" ".join(a[2:]), mtype="chat")
                    m.append(ET.Element("{%s}active" % NS_CS))
                    m.send()
                elif a[0] == "state":
                    m = self.make_message(mto=a[1], mtype="chat")
                    m.append(ET.Element("{%s}%s" % (NS_CS, a[2])))
                    m.send()
                elif a[0] == "quit":
                    self.disconnect()
                    return
                else:
                    out("BAD COMMAND", " ".join(a))
            await asyncio.sleep(0.05)


def out(*a):
    print(*a, flush=True)


jid, pw, hostport, cmdfile = sys.argv[1:5]
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
u = User(jid, pw, cmdfile)
h, p = hostport.rsplit(":", 1)
u.connect((h, int(p)))
u.loop.run_until_complete(u.disconnected)
out("DONE")
