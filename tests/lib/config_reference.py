#!/usr/bin/python3
"""config_reference.py -- the README's configuration reference, from a
daemon's --print-config output (every key, its default, what it does).

  edge-node --print-config | config_reference.py edge-node

prints a Markdown table, one row per key: `group.key`, its default (or
"unset"), its documentation line(s). tests/integration/deploy_files.sh
checks that README.md holds exactly this for both daemons, so the reference
cannot drift from the code.
"""
import re
import sys

name = sys.argv[1] if len(sys.argv) > 1 else "daemon"
path = []
doc = []
rows = []
for raw in sys.stdin:
    line = raw.rstrip("\n")
    s = line.strip()
    m = re.match(r"^([a-z_]+) = \{$", s)
    if m:
        path.append(m.group(1))
        doc = []
        continue
    if s in ("};", "}"):
        if path:
            path.pop()
        doc = []
        continue
    m = re.match(r"^(# )?([a-z_]+) = (.*?);( \(unset\))?\s+# (.*)$", s)
    if m:  # "key = value;  # what it does" (the policy's access_edge)
        val = "unset" if m.group(1) else m.group(3)
        rows.append((".".join(path + [m.group(2)]), val, m.group(5)))
        doc = []
        continue
    if s.startswith("# ") and " = " in s and not doc == [] and re.match(r"^# [a-z_]+ = ", s):
        # a commented (unset) key after its doc line(s)
        key, val = s[2:].split(" = ", 1)
        rows.append((".".join(path + [key]), "unset", " ".join(doc)))
        doc = []
        continue
    if s.startswith("#"):
        doc.append(s.lstrip("# ").strip())
        continue
    m = re.match(r"^([a-z_]+) = (.*);$", s)
    if m:
        val = m.group(2)
        rows.append((".".join(path + [m.group(1)]), val, " ".join(doc)))
        doc = []

try:
    sys.stdout.reconfigure(line_buffering=False)
except AttributeError:
    pass
print("| %s key | default | what it does |" % name)
print("|---|---|---|")
for key, val, d in rows:
    val = val.replace("|", "\\|")
    d = d.replace("|", "\\|")
    print("| `%s` | `%s` | %s |" % (key, val, d) if val != "unset" else "| `%s` | unset | %s |" % (key, d))
