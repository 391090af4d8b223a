#!/usr/bin/python3
"""xmppc.py JID PASSWORD HOST:PORT CAFILE [send TO BODY]... [wait SECONDS]...

An XMPP user for the tests (python3-slixmpp, Debian's /usr/bin/python3): logs
in at HOST:PORT (c2s; CAFILE verifies the server, "-" does not), runs the
actions in order (send a chat message; wait), then logs out. Prints
"SESSION JID", "SENT TO BODY", and "MESSAGE TYPE FROM TO 'BODY' [CONDITION]"
for every message it receives (errors included), then "DONE".
"""
import asyncio, logging, ssl, sys
import slixmpp

class C(slixmpp.ClientXMPP):
    def __init__(self, jid, pw, cafile, actions):
        super().__init__(jid, pw)
        self.actions = actions
        if cafile == "-":  # c2s to a test server whose certificate is not the point
            self.ssl_context = ssl.create_default_context()
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        else:
            self.ssl_context = ssl.create_default_context(cafile=cafile)
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_message)  # not among "message"
        self.add_event_handler("connection_failed", lambda e: (print("CONNECTION FAILED", e, flush=True), self.disconnect()))
    async def start(self, ev):
        self.send_presence()
        print("SESSION", self.boundjid, flush=True)
        for a in self.actions:
            if a[0] == "send":
                self.send_message(mto=a[1], mbody=a[2], mtype="chat")
                print("SENT", a[1], a[2], flush=True)
            elif a[0] == "wait":
                await asyncio.sleep(float(a[1]))
        self.disconnect()
    def on_message(self, msg):
        print("MESSAGE", msg["type"], msg["from"], msg["to"], repr(msg["body"]),
              msg["error"]["condition"] if msg["type"] == "error" else "", flush=True)

jid, pw, hostport, cafile = sys.argv[1:5]
acts, args = [], sys.argv[5:]
while args:
    if args[0] == "send":
        acts.append(("send", args[1], args[2])); args = args[3:]
    elif args[0] == "wait":
        acts.append(("wait", args[1])); args = args[2:]
    else:
        sys.exit("bad action " + args[0])
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
c = C(jid, pw, cafile, acts)
h, p = hostport.rsplit(":", 1)
c.connect((h, int(p)))
c.loop.run_until_complete(c.disconnected)
print("DONE", flush=True)
