#!/usr/bin/env python3
"""Requests with bodies for BODY1 (tests/integration/body_rules_test.sh): exploits and benign
look-alikes with their expected verdicts, then generated variants (encodings, chunked framing,
multipart boundaries and line endings, repeated headers, bodies past each cap) whose verdicts the
differential test compares between the offline tester and live nginx. Usage: body_requests.py OUT.json VARIANTS.json"""
import json
import sys

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def req(method, target, body="", headers=None, expect=None):
    r = {"request": {"method": method, "target": target, "headers": headers or [], "body": body}}
    r["expect"] = expect or "passed"
    return r


def form(body, expect, target="/owa/x", extra=None):
    return req("POST", target, body, [["Content-Type", FORM]] + (extra or []), expect)


def multipart(fields, boundary="mitigdB0undary", eol="\r\n", quoted=False):
    out = ""
    for name, filename, content in fields:
        disp = f'Content-Disposition: form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}{eol}{disp}{eol}" + ("Content-Type: application/octet-stream" + eol if filename else "")
        out += f"{eol}{content}{eol}"
    out += f"--{boundary}--{eol}"
    ctype = f'multipart/form-data; boundary={chr(34) + boundary + chr(34) if quoted else boundary}'
    return out, ctype


def upload(target, filename, expect, size=10, **kw):
    body, ctype = multipart([("note", None, "hello"), ("file", filename, "A" * size)], **kw)
    return req("POST", target, body, [["Content-Type", ctype]], expect)


def chunked(body, expect, ctype=FORM):
    framed = "".join(f"{len(body[i:i + 7]):x}\r\n{body[i:i + 7]}\r\n" for i in range(0, len(body), 7)) + "0\r\n\r\n"
    return req("POST", "/owa/x", framed, [["Content-Type", ctype], ["Transfer-Encoding", "chunked"]], expect)


def expected():
    pad = "a" * 300
    return [
        form("a=1&cmd=;id", "blocked"),
        form("a=1&cmd=identity", "passed"),
        form("a=1&%63md=|uname", "blocked"),
        form("CMD=%60cat%20/etc/passwd", "blocked"),
        form("cmd=ls&note=;id", "passed"),
        form("a=1&cmd=;id", "blocked", extra=[["Expect", "100-continue"]]),
        chunked("a=1&cmd=;uname+-a", "blocked"),
        chunked("a=1&cmd=uname", "passed"),
        req("GET", "/owa/x?cmd=;id", "", [], "passed"),
        req("POST", "/owa/x", "cmd=;id", [["Content-Type", "text/plain"]], "passed"),
        upload("/upload/a", "shell.jsp", "blocked"),
        upload("/upload/a", "SHELL.JSP", "blocked"),
        upload("/upload/a", "notes.txt", "passed"),
        upload("/other/a", "shell.jsp", "passed"),
        upload("/upload/a", "shell.jsp", "blocked", eol="\n"),
        upload("/upload/a", "shell.jsp", "blocked", quoted=True),
        upload("/upload/a", "notes.txt", "blocked", size=5000),
        form("class.module.classLoader.x=1", "blocked"),
        form("class%2Emodule%2EclassLoader=1", "blocked"),
        req("POST", "/owa/x?class.module.x=1", "a=1", [["Content-Type", FORM]], "passed"),
        req("POST", "/owa/x", '{"x":"%40java.lang.Runtime%40getRuntime()"}', [["Content-Type", "application/json"]], "blocked"),
        req("POST", "/owa/x", "z" * 20000 + "@java.lang.Runtime@", [["Content-Type", "application/octet-stream"]], "blocked"),
        req("POST", "/owa/x", "z" * 70000 + "@java.lang.Runtime@", [["Content-Type", "application/octet-stream"]], "passed"),
        req("POST", "/owa/x", '{"u":"${jndi:ldap://e/a}"}', [["Content-Type", "application/json"]], "blocked"),
        req("POST", "/owa/x", '{"pad":"' + pad + '","u":"${jndi:ldap://e/a}"}', [["Content-Type", "application/json"]], "passed"),
        req("POST", "/owa/x", '{"u":"${jndi:ldap://e/a}"}', [["Content-Type", "text/plain"]], "passed"),
        req("POST", "/owa/x", '{"u":"${jndi:x}"}', [["Content-Type", "text/plain"], ["Content-Type", "application/json"]], "blocked"),
        req("POST", "/owa/x", "", [["Content-Type", FORM]], "passed"),
        # JSON bodies: each scalar a field named by its member, at any depth; strings decoded
        req("POST", "/owa/x", '{"a":{"cmd":";id"}}', [["Content-Type", JSON]], "blocked"),
        req("POST", "/owa/x", '{"cmd":"\\u003bid"}', [["Content-Type", JSON]], "blocked"),
        req("POST", "/owa/x", '{"cmd":"ls","x":";id"}', [["Content-Type", JSON]], "passed"),
        req("POST", "/owa/x", '{"class.module.classLoader":{"x":1}}', [["Content-Type", "application/vnd.api+json"]], "blocked"),
        chunked('{"cmd":["ls","|uname"]}', "blocked", ctype=JSON),
    ]


def variants():
    out = []
    for cmd in [";id", "%3Bid", "%3bid", "|uname", "%7Cuname", "`cat", "%60cat", "; id", ";%20id", ";idx", "id", "+;id", "%253Bid"]:
        for name in ["cmd", "CMD", "%63md", "c%6Dd", "cmd%00", "cmdx"]:
            out.append(form(f"x=1&{name}={cmd}&y=2", None))
    for fn in ["a.jsp", "a.JsP", "a.jsp ", "a.jsp.txt", "a.jspx", "a.js", ".jsp"]:
        for eol in ["\r\n", "\n"]:
            for boundary in ["b", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "x y"]:
                out.append(upload("/upload/", fn, None, eol=eol, boundary=boundary, quoted=" " in boundary))
    for size in [4000, 4096, 4097, 9000]:
        out.append(upload("/upload/a", "a.txt", None, size=size))
    for pad in [180, 200, 215, 230, 256, 300]:
        body = '{"p":"' + "a" * pad + '","u":"${jndi:ldap://e/a}"}'
        out.append(req("POST", "/owa/x", body, [["Content-Type", "application/json"]], None))
    for body in ["a=1&cmd=;id", "cmd=ls", "class.module.x=1"]:
        out.append(chunked(body, None))
    for value in [";id", "\\u003bid", "\\u003Bid", "%3Bid", "\\\\;id", ";\\u0069d", "\\;id", "ls"]:
        for shape in ['{"cmd":"%s"}', '{"a":[{"cmd":"%s"}]}', '{"c\\u006dd":"%s"}', '["%s"]', '{"cmd":"%s', '{"cmd" "%s"}']:
            out.append(req("POST", "/owa/x", shape % value, [["Content-Type", JSON]], None))
    for v in out:
        v["expect"] = "passed"  # not asserted: offline and live are compared
    return out


if __name__ == "__main__":
    json.dump({"requests": expected()}, open(sys.argv[1], "w"), indent=1)
    json.dump({"requests": variants()}, open(sys.argv[2], "w"), indent=1)
