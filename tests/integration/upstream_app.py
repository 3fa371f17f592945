#!/usr/bin/env python3
"""A small Exchange-like application for the integration tests and the demo.

Every answer carries `X-Upstream: app`, so a test can tell the application's answer from the front
server's. OWA pages are HTML with the application's own Content-Security-Policy; OWA service calls
are JSON; /echo-body answers with the request body it received. Listens on 127.0.0.1 only; stops when its parent closes stdin or on SIGTERM.
"""
import http.server
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        received = self.rfile.read(length) if length else b""
        path = self.path.lower()
        body = ("app: %s %s\n" % (self.command, self.path)).encode()
        if path.startswith("/echo-body"):  # what the front server passed on, for body tests
            body = received
        self.send_response(200)
        self.send_header("X-Upstream", "app")
        if path.startswith("/owa/service.svc"):
            self.send_header("Content-Type", "application/json")
        elif path.startswith("/owa"):
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", "default-src 'self'")
        else:
            self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = do_OPTIONS = do_DELETE = answer


def main():
    port = int(sys.argv[1])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    if len(sys.argv) > 2 and sys.argv[2] == "--watch-stdin":
        def watch():
            sys.stdin.read()
            server.shutdown()
        threading.Thread(target=watch, daemon=True).start()
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
