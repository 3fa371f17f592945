"""Tricky variants for the richer inputs (issue 15), for an offline-vs-live comparison: every
request expects "blocked"; the test compares the offline verdict (the rule core) with nginx's,
request by request. usage: variants.py OUT"""
import base64
import json
import sys

reqs = []
def add(method="GET", target="/owa/", headers=None):
    r = {"method": method, "target": target}
    if headers is not None:
        r["headers"] = headers
    reqs.append({"request": r, "expect": "blocked"})

# Repeated and oddly spelt headers.
for ua in ["${jndi:x}", "%24%7Bjndi:x%7D", "${JNDI:x}", "$%7bjndi:x}", "${jnd i:x}", "x${jndi:", "${jndi", "%2524%257Bjndi:"]:
    add(headers=[["User-Agent", ua]])
    add(headers=[["User-Agent", "Mozilla/5.0"], ["User-Agent", ua]])
    add(headers=[["user-agent", "a"], ["USER-AGENT", ua], ["User-Agent", "b"]])
# Argument names and values: encodings, separators, empty pieces, repeats.
for q in ["id=../x", "id=%2e%2e/x", "ID=../x", "%49%44=../x", "i%64=..%2fx", "id=..%2f", "x=1&&id=../", "id", "id=&id=../",
          "id=..;/", "id%00=../", "id+=../", "a=1;id=../", "id=%252e%252e/", "id[]=../", "__proto__=1", "%5F_proto__=1",
          "__PROTO__=1", "__proto__", "a&__proto__", "__proto__%00=1"]:
    add(target="/ecp/?" + q)
# Base64 in arguments: padding, URL alphabet, whitespace, case.
for raw in [b"${jndi:ldap://x}", b"${JNDI:ldap://x}", b"xx${jndi:", b"${jnd", b"\x00${jndi:"]:
    enc = base64.b64encode(raw).decode()
    for form in [enc, enc.rstrip("="), base64.urlsafe_b64encode(raw).decode(), enc.replace("=", "%3D"), enc[:4] + "%0A" + enc[4:]]:
        add(target="/owa/?q=" + form)
# Header names.
for name in ["X-Middleware-Subrequest", "x-middleware-subrequest", "X-Middleware-Subrequest-X", "X-Middleware"]:
    add(headers={name: "1"})
# The raw path, decoded once and not normalised.
for p in ["/owa/..;/ecp/", "/owa/%2e%2e;/ecp/", "/owa/%2E%2E%3B/ecp/", "/owa/..%3b/", "/owa/.%2e;/", "/owa/%252e%252e;/",
          "//owa/..;/", "/owa/..;x/", "/owa/../;/"]:
    add(target=p)
# Methods nginx accepts.
for m in ["DEBUG", "DEBUGX", "GET", "DEBU"]:
    add(method=m)
json.dump({"requests": reqs}, open(sys.argv[1], "w"), indent=1)
