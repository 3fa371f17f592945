#!/usr/bin/env python3
"""Sends N requests over one keep-alive connection, one at a time (for instruction counts of the
server under callgrind, where the client's speed does not matter).
Usage: send_requests.py PORT N METHOD TARGET [BODY_FILE] [Name: value]..."""
import http.client
import sys


def main():
    port, n, method, target = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    rest = sys.argv[5:]
    body = None
    if rest and ":" not in rest[0]:
        with open(rest[0], "rb") as f:
            body = f.read()
        rest = rest[1:]
    headers = dict(h.split(": ", 1) for h in rest)
    if body is not None:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    bad = 0
    for _ in range(n):
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        bad += resp.status >= 300
    print(bad)


if __name__ == "__main__":
    main()
