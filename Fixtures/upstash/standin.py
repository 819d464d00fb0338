#!/usr/bin/env python3
"""A local stand-in for Upstash Redis's REST API, in front of a real redis-server.

It answers as Upstash's REST API does (the project's Upstash notes, section 1, and the official
SDKs' code), and passes every command to a real `redis-server` over RESP2:

- POST /            a JSON array ["SET","k","v"] -> {"result": ...} (200) or {"error": "..."} (400)
- POST /pipeline    [[...],[...]] -> [{"result"}|{"error"}, ...] (200), in order, not atomic
- POST /multi-exec  the same body, run as MULTI ... EXEC on one connection; a transaction
                    discarded as a whole (a refused command, EXECABORT) is a single
                    {"error": "..."} with 400, as Upstash answers it
- GET  /            a welcome text (no auth, like Upstash's root)
- Auth: "Authorization: Bearer <token>" or the "_token" query parameter; anything else is
  401 {"error":"WRONGPASS invalid or missing auth token"}.
- "Upstash-Encoding: base64": every string in the result is base64, except the status reply
  "OK"; integers and null are untouched, arrays element by element, errors never encoded.
  Without it, invalid UTF-8 becomes U+FFFD.
- Every response carries an "upstash-sync-token" header (a counter, opaque to clients).
- Refused as Upstash refuses them over REST (400): blocking commands (BLPOP, BRPOP, BRPOPLPUSH,
  BLMOVE, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, XREAD/XREADGROUP with BLOCK), WATCH, UNWATCH,
  DISCARD, MULTI, EXEC, pub/sub subscriptions, MONITOR and connection commands other than PING
  and ECHO.
- Lua: the Upstash-only shebang flag "allow-key-locking" (the Python ratelimit scripts carry it)
  is removed before the script reaches redis-server, which refuses it; EVALSHA by the original
  script's SHA-1 is mapped to the rewritten script's.
- JSON arguments: strings and numbers as their text, booleans as "true"/"false", null as
  "null"; an object or a nested array is a 400.

Control endpoints (no authentication; loopback only):
  GET  /_standin/stats   -> (POST too) {"requests": N, "by_status": {"200": n, ...}, "commands": n,
                             "dropped": n, "sync_tokens_received": [...last 50],
                             "with_authorization": n, "paths": {"/": n, ...},
                             "in_flight": n (commands being handled, a delayed one included)}
  POST /_standin/fault   -> queue a fault for the next requests (optionally only on "path"):
       {"mode":"status","status":503,"count":2}                 (answer it, run nothing)
       {"mode":"status","status":429,"retry_after":"1","count":1}
       {"mode":"status","status":502,"body":"<html>bad gateway</html>","count":1}
       {"mode":"delay","ms":1500,"count":1}                     (wait, then run it normally)
       {"mode":"drop","count":1}                                (close the connection; run nothing)
       {"mode":"drop_after","count":1}                          (run it, then close without answering)
  POST /_standin/reset   -> forget stats and faults
  POST /_standin/flush   -> FLUSHALL and SCRIPT FLUSH on redis-server

Usage: standin.py [--host 127.0.0.1] [--port 0] [--token TOKEN | env UPSTASH_REDIS_REST_TOKEN]
                  [--redis-server PATH] [--redis-port N (an already running redis)]
                  [--exit-on-stdin-eof]
The first line on stdout is "LISTENING <port> <redis port>". It starts its own redis-server on
a free loopback port (no persistence) and stops it when it exits; with --exit-on-stdin-eof it
also exits when its standard input closes, so it cannot outlive a test process that dies.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import hashlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

WRONGPASS = "WRONGPASS invalid or missing auth token"

BLOCKING = {"BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"}
UNSUPPORTED = {"WATCH", "UNWATCH", "DISCARD", "MULTI", "EXEC", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE",
               "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "AUTH", "SELECT", "QUIT", "HELLO",
               "CLIENT", "RESET", "SWAPDB", "SYNC", "PSYNC", "SHUTDOWN", "REPLICAOF", "SLAVEOF", "WAIT"}


class RedisError(Exception):
    """An error reply from redis-server (-ERR ...)."""


class Status(str):
    """A status reply (+OK, +PONG, +QUEUED)."""


class RespConnection:
    """A minimal RESP2 client: one socket, commands written as arrays of bulk strings."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode("utf-8")
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    def send(self, commands):
        self.sock.sendall(b"".join(self.encode(c) for c in commands))

    def read(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("redis-server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return Status(rest.decode("utf-8", "replace"))
        if kind == b"-":
            return RedisError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise ConnectionError("unexpected RESP reply %r" % line)

    def execute(self, commands):
        self.send(commands)
        return [self.read() for _ in commands]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class State:
    def __init__(self):
        self.lock = threading.RLock()
        self.sync = 0
        self.scripts = {}  # sha1 of the original text -> sha1 of the rewritten text
        self.in_flight = 0  # not reset: a request being handled still ends
        self.reset()

    def reset(self):
        self.requests = 0
        self.by_status = {}
        self.commands = 0
        self.dropped = 0
        self.with_authorization = 0
        self.sync_received = []
        self.paths = {}
        self.faults = []

    def next_fault(self, path):
        for i, (fault, remaining) in enumerate(self.faults):
            if fault.get("path") not in (None, path):
                continue
            if remaining <= 1:
                self.faults.pop(i)
            else:
                self.faults[i][1] = remaining - 1
            return fault
        return None

    def next_sync_token(self):
        self.sync += 1
        return "standin-%d" % self.sync


STATE = State()
REDIS_PORT = None
TOKEN = None
LOCAL = threading.local()


def connection():
    c = getattr(LOCAL, "conn", None)
    if c is None:
        c = RespConnection(REDIS_PORT)
        LOCAL.conn = c
    return c


def drop_connection():
    c = getattr(LOCAL, "conn", None)
    if c is not None:
        c.close()
        LOCAL.conn = None


SHEBANG = re.compile(r"^#!lua([^\n]*)\n?")


def rewrite_script(text):
    """Removes the Upstash-only allow-key-locking flag from a script's shebang."""
    m = SHEBANG.match(text)
    if not m or "allow-key-locking" not in m.group(1):
        return text
    params = m.group(1).strip()
    kept = []
    for part in params.split():
        if part.startswith("flags="):
            flags = [f for f in part[len("flags="):].split(",") if f and f != "allow-key-locking"]
            if flags:
                kept.append("flags=" + ",".join(flags))
        else:
            kept.append(part)
    rest = text[m.end():]
    if not kept:
        return rest
    return "#!lua " + " ".join(kept) + "\n" + rest


def sha1(text):
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def to_arg(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float, str)):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)
    raise ValueError("ERR arguments must be strings or numbers")


def refusal(args):
    """Why Upstash would refuse this command over REST, or None."""
    name = args[0].upper()
    if name in BLOCKING:
        return "ERR blocking command %s is not supported over the REST API" % name
    if name in ("XREAD", "XREADGROUP") and any(a.upper() == "BLOCK" for a in args[1:]):
        return "ERR blocking %s (BLOCK) is not supported over the REST API" % name
    if name in UNSUPPORTED:
        return "ERR command %s is not supported over the REST API" % name
    return None


def prepare(args):
    """The command as redis-server should get it (scripts rewritten, EVALSHA mapped)."""
    name = args[0].upper()
    if name in ("EVAL", "EVAL_RO") and len(args) > 1:
        original = args[1]
        rewritten = rewrite_script(original)
        if rewritten != original:
            with STATE.lock:
                STATE.scripts[sha1(original)] = sha1(rewritten)
        return [args[0], rewritten] + args[2:]
    if name == "SCRIPT" and len(args) > 2 and args[1].upper() == "LOAD":
        original = args[2]
        rewritten = rewrite_script(original)
        if rewritten != original:
            with STATE.lock:
                STATE.scripts[sha1(original)] = sha1(rewritten)
        return args[:2] + [rewritten]
    if name in ("EVALSHA", "EVALSHA_RO") and len(args) > 1:
        with STATE.lock:
            mapped = STATE.scripts.get(args[1].lower())
        if mapped:
            return [args[0], mapped] + args[2:]
    return args


def encode_reply(value, b64):
    """A RESP reply as the REST API's JSON result (errors are handled by the caller)."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, Status):
        if not b64 or value == "OK":
            return str(value)
        return base64.b64encode(value.encode("utf-8")).decode("ascii")
    if isinstance(value, bytes):
        if b64:
            return base64.b64encode(value).decode("ascii")
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [None if isinstance(v, RedisError) else encode_reply(v, b64) for v in value]
    raise ValueError("unexpected reply %r" % (value,))


def entry(value, b64):
    if isinstance(value, RedisError):
        return {"error": str(value)}
    return {"result": encode_reply(value, b64)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "upstash-standin"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm holds the body
        # back until the client's delayed ACK of the headers, ~40 ms per response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_json(self, status, value, extra=()):
        body = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        with STATE.lock:
            STATE.by_status[str(status)] = STATE.by_status.get(str(status), 0) + 1

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/_standin/stats":
            with STATE.lock:
                self.send_json(200, {"requests": STATE.requests, "by_status": STATE.by_status, "commands": STATE.commands,
                                     "dropped": STATE.dropped, "with_authorization": STATE.with_authorization,
                                     "in_flight": STATE.in_flight, "sync_tokens_received": STATE.sync_received[-50:], "paths": STATE.paths})
            return
        if path == "/":
            body = b"Welcome to the Upstash stand-in (a REST front to a local redis-server)"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_json(405, {"error": "ERR only POST is used for commands here"})

    def do_POST(self):
        split = urlsplit(self.path)
        path = split.path
        body = self.read_body()
        if path.startswith("/_standin/"):
            return self.control(path, body)
        with STATE.lock:
            STATE.in_flight += 1
        try:
            return self.handle_command(split, path, body)
        finally:
            with STATE.lock:
                STATE.in_flight -= 1

    def handle_command(self, split, path, body):
        with STATE.lock:
            STATE.requests += 1
            STATE.paths[path] = STATE.paths.get(path, 0) + 1
            if self.headers.get("Authorization") is not None:
                STATE.with_authorization += 1
            sync = self.headers.get("upstash-sync-token")
            if sync is not None:
                STATE.sync_received.append(sync)
            fault = STATE.next_fault(path)
        if fault:
            mode = fault.get("mode")
            if mode == "delay":
                time.sleep(fault.get("ms", 1000) / 1000.0)
            elif mode == "drop":
                return self.drop()
            elif mode == "status":
                extra = []
                if "retry_after" in fault:
                    extra.append(("Retry-After", str(fault["retry_after"])))
                status = int(fault.get("status", 503))
                if "body" in fault:
                    raw = fault["body"].encode("utf-8")
                    self.send_response(status)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(raw)))
                    for k, v in extra:
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(raw)
                    with STATE.lock:
                        STATE.by_status[str(status)] = STATE.by_status.get(str(status), 0) + 1
                    return
                return self.send_json(status, {"error": fault.get("error", "ERR service unavailable (stand-in fault)")}, extra)
        if not self.authorized(split):
            return self.send_json(401, {"error": WRONGPASS})
        b64 = (self.headers.get("Upstash-Encoding") or "").lower() == "base64"
        try:
            doc = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            return self.send_json(400, {"error": "ERR failed to parse command"})
        try:
            if path in ("/", ""):
                status, value = self.single(doc, b64)
            elif path == "/pipeline":
                status, value = self.pipeline(doc, b64)
            elif path == "/multi-exec":
                status, value = self.transaction(doc, b64)
            else:
                status, value = 404, {"error": "ERR the stand-in does not serve %s" % path}
        except (ConnectionError, OSError) as e:
            drop_connection()
            status, value = 500, {"error": "ERR redis-server unavailable: %s" % e}
        with STATE.lock:
            token = STATE.next_sync_token()
        if fault and fault.get("mode") == "drop_after":
            return self.drop()
        self.send_json(status, value, [("upstash-sync-token", token)])

    def drop(self):
        with STATE.lock:
            STATE.dropped += 1
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def authorized(self, split):
        header = self.headers.get("Authorization") or ""
        if header.startswith("Bearer ") and header[len("Bearer "):] == TOKEN:
            return True
        q = parse_qs(split.query).get("_token")
        return bool(q) and q[0] == TOKEN

    @staticmethod
    def parse_command(doc):
        if not isinstance(doc, list) or not doc:
            raise ValueError("ERR the body must be a non-empty JSON array of strings and numbers")
        return [to_arg(a) for a in doc]

    def single(self, doc, b64):
        try:
            args = self.parse_command(doc)
        except ValueError as e:
            return 400, {"error": str(e)}
        why = refusal(args)
        if why:
            return 400, {"error": why}
        reply = connection().execute([prepare(args)])[0]
        with STATE.lock:
            STATE.commands += 1
        if isinstance(reply, RedisError):
            return 400, {"error": str(reply)}
        return 200, {"result": encode_reply(reply, b64)}

    def pipeline(self, doc, b64):
        if not isinstance(doc, list) or not doc:
            return 400, {"error": "ERR the body must be a JSON array of commands"}
        out = [None] * len(doc)
        send = []
        for i, c in enumerate(doc):
            try:
                args = self.parse_command(c)
            except ValueError as e:
                out[i] = {"error": str(e)}
                continue
            why = refusal(args)
            if why:
                out[i] = {"error": why}
                continue
            send.append((i, prepare(args)))
        replies = connection().execute([a for _, a in send]) if send else []
        with STATE.lock:
            STATE.commands += len(send)
        for (i, _), r in zip(send, replies):
            out[i] = entry(r, b64)
        return 200, out

    def transaction(self, doc, b64):
        if not isinstance(doc, list) or not doc:
            return 400, {"error": "ERR the body must be a JSON array of commands"}
        commands = []
        for c in doc:
            try:
                args = self.parse_command(c)
            except ValueError as e:
                return 400, {"error": str(e)}
            why = refusal(args)
            if why:
                return 400, {"error": why}
            commands.append(prepare(args))
        replies = connection().execute([["MULTI"]] + commands + [["EXEC"]])
        with STATE.lock:
            STATE.commands += len(commands)
        result = replies[-1]
        if isinstance(result, RedisError):
            return 400, {"error": str(result)}
        if result is None:
            return 400, {"error": "ERR transaction aborted"}
        return 200, [entry(r, b64) for r in result]

    def control(self, path, body):
        if path == "/_standin/stats":
            return self.do_GET()
        if path == "/_standin/fault":
            fault = json.loads(body.decode("utf-8") or "{}")
            with STATE.lock:
                STATE.faults.append([fault, int(fault.get("count", 1))])
            return self.send_json(200, {"ok": True})
        if path == "/_standin/reset":
            with STATE.lock:
                STATE.reset()
            return self.send_json(200, {"ok": True})
        if path == "/_standin/flush":
            conn = connection()
            conn.execute([["FLUSHALL"], ["SCRIPT", "FLUSH"]])
            return self.send_json(200, {"ok": True})
        return self.send_json(404, {"error": "unknown control endpoint"})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def die_with_parent():
    """In the redis-server child: be sent SIGTERM when the stand-in dies, even by SIGKILL."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_redis(binary):
    """Starts redis-server on a free loopback port with no persistence; returns (process, port, dir)."""
    path = shutil.which(binary) or binary
    if not os.path.exists(path):
        sys.stderr.write("standin: redis-server not found (%s); install it: apt-get install redis-server\n" % binary)
        sys.exit(3)
    workdir = tempfile.mkdtemp(prefix="upstash-standin-")
    for _ in range(20):
        port = free_port()
        proc = subprocess.Popen(preexec_fn=die_with_parent, args=[path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", workdir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            try:
                c = RespConnection(port)
                if c.execute([["PING"]])[0] == "PONG":
                    c.close()
                    return proc, port, workdir
                c.close()
            except OSError:
                time.sleep(0.02)
        proc.kill()
        proc.wait()
    sys.stderr.write("standin: could not start redis-server\n")
    sys.exit(3)


def main():
    global REDIS_PORT, TOKEN
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default=os.environ.get("UPSTASH_REDIS_REST_TOKEN", "standin-token"))
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--redis-port", type=int, default=None)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    a = ap.parse_args()
    TOKEN = a.token
    redis_proc, workdir = None, None
    if a.redis_port:
        REDIS_PORT = a.redis_port
    else:
        redis_proc, REDIS_PORT, workdir = start_redis(a.redis_server)

    def stop(*_):
        if redis_proc is not None and redis_proc.poll() is None:
            # SHUTDOWN first: a signal may be blocked in a process started by a test runner.
            try:
                c = RespConnection(REDIS_PORT)
                c.send([["SHUTDOWN", "NOSAVE"]])
                c.close()
                redis_proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                redis_proc.kill()
                redis_proc.wait()
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = ThreadingHTTPServer((a.host, a.port), Handler)
    server.daemon_threads = True
    print("LISTENING %d %d" % (server.server_address[1], REDIS_PORT), flush=True)
    if a.exit_on_stdin_eof:
        def watch():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                stop()
        threading.Thread(target=watch, daemon=True).start()
    try:
        server.serve_forever()
    finally:
        stop()


if __name__ == "__main__":
    main()
