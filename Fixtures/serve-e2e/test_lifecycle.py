"""`jobledger serve` as a process: refuses to start without auth, binds loopback only when
insecure, answers over real HTTP, ends open SSE streams and exits 0 on SIGTERM."""
import json
import os
import resource
import subprocess
import time
import unittest
import urllib.request

from serve_process import Server, token


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class LifecycleTests(unittest.TestCase):
    def run_cli(self, *args, env=None):
        e = dict(os.environ)
        for k in ("JOBLEDGER_AUTH_HS256_SECRET", "JOBLEDGER_AUTH_JWKS"):
            e.pop(k, None)
        e.update(env or {})
        return subprocess.run([os.environ.get("JOBLEDGER_BIN", "jobledger"), "serve", "--db", "/nonexistent/x.sqlite", *args],
                              capture_output=True, text=True, env=e, timeout=60)

    def test_refuses_to_start_without_auth_and_names_the_way_out(self):
        r = self.run_cli()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("JOBLEDGER_AUTH_HS256_SECRET", r.stderr)
        self.assertIn("--insecure-no-auth", r.stderr)

    def test_insecure_mode_is_loopback_only(self):
        r = self.run_cli("--insecure-no-auth", "--host", "0.0.0.0")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("loopback", r.stderr)

    def test_a_weak_secret_is_refused_without_echoing_it(self):
        r = self.run_cli(env={"JOBLEDGER_AUTH_HS256_SECRET": "hunter2-weak"})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertNotIn("hunter2-weak", r.stderr + r.stdout)

    def test_raises_its_open_file_limit_to_the_hard_limit(self):
        """Each connection (an SSE stream is one) takes a descriptor: started with a soft limit of
        256 under a higher hard one, as shells often start programs (1024), serve raises it."""
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard <= 256:
            self.skipTest(f"the hard limit here is {hard}")
        lower = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        with Server("--workers", "0", preexec_fn=lower) as s:
            soft = resource.prlimit(s.proc.pid, resource.RLIMIT_NOFILE)[0]
            expected = min(hard, 1 << 20) if hard != resource.RLIM_INFINITY else 1 << 20
            self.assertEqual(soft, expected)
            banner = next(l for l in s.lines if "serving http" in l)
            self.assertEqual("open-file limit" in banner, expected < 4096, banner)

    def test_serves_then_shuts_down_gracefully_with_a_stream_open(self):
        with Server("--workers", "0") as s:
            self.assertEqual(get(s.url + "/healthz")[0], 200)
            status, text = get(s.url + "/readyz")
            self.assertEqual((status, json.loads(text)["status"]), (200, "ready"))
            auth = {"Authorization": "Bearer " + token()}
            req = urllib.request.Request(s.url + "/api/design", data=b'{"input":{"prompt":"p"}}', headers={**auth, "Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                self.assertEqual(r.status, 202)
                job = json.loads(r.read())["id"]
            # An open stream of a job nobody works on (--workers 0): shutdown must still finish.
            stream = urllib.request.urlopen(urllib.request.Request(s.url + f"/api/jobs/{job}/stream", headers=auth), timeout=30)
            self.assertEqual(stream.headers["Content-Type"], "text/event-stream")
            self.assertTrue(stream.readline().startswith(b"retry:"))
            while b'"type":"queued"' not in stream.readline():
                pass
            # /metrics shows the projections' counters beside the log's. The stream replays the
            # job's messages from the outbox, so the queued message can reach it before the
            # broadcast counts it delivered: wait (bounded) for the counter, do not assume it.
            deadline = time.monotonic() + 20
            while True:
                status, metrics = get(s.url + "/metrics")
                self.assertEqual(status, 200)
                if 'jobledger_projection_delivered_total{projection="broadcast"}' in metrics or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertIn('jobledger_projection_delivered_total{projection="broadcast"}', metrics)
            self.assertIn('jobledger_projection_applied_total{projection="jobs"}', metrics)
            self.assertEqual(s.stop(), 0, "\n".join(s.lines))
            self.assertEqual(stream.read().strip(), b"")   # the server ended the stream
            self.assertFalse(any(token()[:20] in l for l in s.lines))


if __name__ == "__main__":
    unittest.main()
