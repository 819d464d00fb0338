"""Starts the real `jobledger serve` on a free loopback port for the end-to-end suites, and mints
HS256 tokens for it (standard library only). The binary is $JOBLEDGER_BIN."""
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

SECRET = "e2e-secret-0123456789abcdef0123456789abcdef"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(sub="user_e2e", role=None, ttl=3600, secret=SECRET):
    """An HS256 JWT for `sub`, valid for `ttl` seconds."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": sub, "exp": int(time.time()) + ttl}
    if role:
        claims["role"] = role
    payload = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


class Server:
    """`jobledger serve` in a fresh folder; `.url` once it listens. Use as a context manager."""

    def __init__(self, *args, auth=True, env=None, preexec_fn=None):
        self.dir = tempfile.mkdtemp(prefix="jobledger-e2e-")
        self.db = os.path.join(self.dir, "e2e.sqlite")
        self.args = list(args)
        self.auth = auth
        self.extra_env = env or {}
        self.preexec_fn = preexec_fn
        self.lines = []
        self.url = None

    def __enter__(self):
        binary = os.environ.get("JOBLEDGER_BIN") or "jobledger"
        env = dict(os.environ)
        env.pop("JOBLEDGER_AUTH_JWKS", None)
        env.pop("UPSTASH_REDIS_REST_URL", None)
        if self.auth:
            env["JOBLEDGER_AUTH_HS256_SECRET"] = SECRET
        else:
            env.pop("JOBLEDGER_AUTH_HS256_SECRET", None)
        env.update(self.extra_env)
        cmd = [binary, "serve", "--db", self.db, "--port", "0"] + ([] if self.auth else ["--insecure-no-auth"]) + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=self.preexec_fn)
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = re.search(r"serving (http://[^ /]+:\d+)/", line)
                if m:
                    self.url = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or self.url is None:
            self.proc.kill()
            raise RuntimeError("jobledger serve did not start:\n" + "\n".join(self.lines))
        return self

    def stop(self, timeout=30):
        """SIGTERM, then the exit status (graceful shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
