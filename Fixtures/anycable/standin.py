#!/usr/bin/env python3
"""A local stand-in for AnyCable's HTTP broadcast endpoint (POST /_broadcast).

It enforces the broadcast contract the way the AnyCable server (anycable/anycable, Go,
broadcast/http.go and node/node.go, 1.6.x) does, as summarised in the project's AnyCable notes:

- The Authorization header must be exactly "Bearer <key>", else 401 (no auth when no key).
- Any method other than POST gets 422.
- The body is parsed as the server parses it: a JSON array is a batch when its element 0 is an
  object with a non-empty "stream"; otherwise a single publication object. "stream" must be a
  non-empty string and "data" must be a string. As on the real server, a body that does not
  parse is *still answered with 201* and nothing is broadcast ("silent success"); the stand-in
  records it under stats "malformed" so tests can see it.
- Accepted publications are recorded in arrival order.

Control endpoints (no authentication, loopback only):
  GET  /_standin/received  -> JSON list of accepted publications {"stream","data"} in order
  GET  /_standin/stats     -> {"requests": N, "by_status": {"201": n, ...}, "dropped": n,
                               "malformed": n, "publications": n, "with_authorization": n}
                              ("with_authorization": requests to any non-control path that
                               carried an Authorization header, whatever its value)
  POST /_standin/fault     -> queue a fault for the next broadcast requests, e.g.
       {"mode":"status","status":503,"count":2}
       {"mode":"status","status":429,"retry_after":"2","count":1}
       {"mode":"delay","ms":1500,"count":1}   (then handled normally)
       {"mode":"drop","count":1}              (close the connection without a response)
       {"mode":"redirect","status":307,"location":"http://127.0.0.1:9/_broadcast","count":1}
                                              (answer a redirect; status defaults to 307)
  POST /_standin/reset     -> forget received publications, stats and faults

Usage: standin.py [--host 127.0.0.1] [--port 0] [--key KEY | env ANYCABLE_BROADCAST_KEY]
                  [--path /_broadcast] [--exit-on-stdin-eof]
The first line on stdout is "LISTENING <port>". With --exit-on-stdin-eof it also exits when its
standard input closes, so it cannot outlive a test process that dies.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.received = []
        self.requests = 0
        self.by_status = {}
        self.dropped = 0
        self.malformed = 0
        self.with_authorization = 0
        self.faults = []  # list of [fault dict, remaining count]

    def next_fault(self):
        """Takes one use of the first queued fault, or None."""
        while self.faults:
            fault, remaining = self.faults[0]
            if remaining <= 0:
                self.faults.pop(0)
                continue
            self.faults[0][1] = remaining - 1
            if remaining - 1 <= 0:
                self.faults.pop(0)
            return fault
        return None


def parse_publications(body):
    """Publications as the AnyCable server would take them from `body`, or None when it would
    log a parse failure and drop the body (while still answering 201)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None

    def valid(p):
        return (isinstance(p, dict) and isinstance(p.get("stream"), str) and p["stream"] != ""
                and isinstance(p.get("data"), str))

    if isinstance(doc, list):
        # node.HandleBroadcast: a batch when element 0 has a non-empty stream.
        if not doc or not isinstance(doc[0], dict) or not doc[0].get("stream"):
            return None
        # Go unmarshals the whole array into []*StreamMessage: any element of the wrong shape
        # (e.g. "data" not a string) fails the whole batch.
        if not all(valid(p) for p in doc):
            return None
        return [{"stream": p["stream"], "data": p["data"]} for p in doc]
    if valid(doc):
        return [{"stream": doc["stream"], "data": doc["data"]}]
    return None


def make_handler(state, key, path):
    auth = None if key is None else "Bearer " + key

    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a dropped connection is never a reused one
        # (libcurl silently retries a request whose *reused* connection died).
        protocol_version = "HTTP/1.0"
        server_version = "AnyCableStandIn/1"

        def log_message(self, fmt, *args):  # quiet
            pass

        def _body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n > 0 else b""

        def _reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            if body:
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _json(self, value):
            self._reply(200, json.dumps(value).encode("utf-8"))

        def _count(self, status):
            with state.lock:
                state.by_status[str(status)] = state.by_status.get(str(status), 0) + 1

        # --- control ---------------------------------------------------------------------

        def _control(self, method):
            route = self.path.split("?", 1)[0]
            if method == "GET" and route == "/_standin/received":
                with state.lock:
                    return self._json(list(state.received))
            if method == "GET" and route == "/_standin/stats":
                with state.lock:
                    return self._json({"requests": state.requests, "by_status": dict(state.by_status),
                                       "dropped": state.dropped, "malformed": state.malformed,
                                       "publications": len(state.received),
                                       "with_authorization": state.with_authorization})
            if method == "POST" and route == "/_standin/reset":
                self._body()
                with state.lock:
                    state.reset()
                return self._json({"ok": True})
            if method == "POST" and route == "/_standin/fault":
                try:
                    fault = json.loads(self._body() or b"{}")
                    mode = fault["mode"]
                    if mode not in ("status", "delay", "drop", "redirect"):
                        raise ValueError("mode")
                    if mode == "status":
                        int(fault["status"])
                    if mode == "redirect":
                        if not isinstance(fault["location"], str) or not 300 <= int(fault.get("status", 307)) < 400:
                            raise ValueError("redirect")
                    if mode == "delay":
                        float(fault["ms"])
                    count = int(fault.get("count", 1))
                except (ValueError, KeyError, TypeError):
                    return self._reply(400, b'{"error":"bad fault"}')
                with state.lock:
                    state.faults.append([fault, count])
                return self._json({"ok": True})
            return self._reply(404)

        # --- broadcast -------------------------------------------------------------------

        def _broadcast(self, method):
            body = self._body()
            with state.lock:
                state.requests += 1
                fault = state.next_fault()
            if fault is not None:
                mode = fault["mode"]
                if mode == "drop":
                    with state.lock:
                        state.dropped += 1
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if mode == "status":
                    status = int(fault["status"])
                    headers = []
                    if fault.get("retry_after") is not None:
                        headers.append(("Retry-After", str(fault["retry_after"])))
                    self._count(status)
                    return self._reply(status, headers=headers)
                if mode == "redirect":
                    status = int(fault.get("status", 307))
                    self._count(status)
                    return self._reply(status, headers=[("Location", fault["location"])])
                if mode == "delay":
                    time.sleep(float(fault["ms"]) / 1000.0)
            # broadcast/http.go: method first, then the exact Authorization match.
            if method != "POST":
                self._count(422)
                return self._reply(422)
            if auth is not None and self.headers.get("Authorization") != auth:
                self._count(401)
                return self._reply(401)
            pubs = parse_publications(body)
            with state.lock:
                if pubs is None:
                    state.malformed += 1
                else:
                    state.received.extend(pubs)
            self._count(201)
            return self._reply(201)

        def _dispatch(self, method):
            route = self.path.split("?", 1)[0]
            if route.startswith("/_standin/"):
                return self._control(method)
            if self.headers.get("Authorization") is not None:
                with state.lock:
                    state.with_authorization += 1
            if route == path:
                return self._broadcast(method)
            self._body()
            return self._reply(404)

        def do_POST(self):
            self._dispatch("POST")

        def do_GET(self):
            self._dispatch("GET")

        def do_PUT(self):
            self._dispatch("PUT")

        def do_DELETE(self):
            self._dispatch("DELETE")

        def do_PATCH(self):
            self._dispatch("PATCH")

    return Handler


def serve(host="127.0.0.1", port=0, key=None, path="/_broadcast"):
    """Starts the stand-in in a background thread; returns (server, state)."""
    state = State()
    server = ThreadingHTTPServer((host, port), make_handler(state, key, path))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, state


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default=os.environ.get("ANYCABLE_BROADCAST_KEY"))
    ap.add_argument("--path", default="/_broadcast")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args(argv)
    # A parent may have started us with signals blocked (threads of Swift's and libdispatch's
    # pools block them, and a spawned child inherits the mask): make SIGTERM/SIGINT work.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    key = None if args.key in (None, "", "none") else args.key
    server, _ = serve(args.host, args.port, key, args.path)
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        if args.exit_on_stdin_eof:
            while sys.stdin.buffer.read(4096):
                pass
        else:
            # Runs until killed (SIGTERM ends it; Ctrl-C too).
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
