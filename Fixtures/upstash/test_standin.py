"""Contract tests: the official Upstash SDKs from PyPI (upstash-redis, upstash-ratelimit, pinned in
requirements.txt) run against the stand-in, so the stand-in answers as Upstash's REST API does.

Run in the virtual environment setup-venv.sh makes (Tests/StandInContractTests does):
    "$(bash Fixtures/setup-venv.sh | tail -n 1)" -m unittest discover -s Fixtures/upstash -p 'test_*.py'
"""

import base64
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

from upstash_redis import Redis
from upstash_redis.errors import UpstashError
from upstash_ratelimit import FixedWindow, Ratelimit, SlidingWindow, TokenBucket

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "contract-token-5d1e"


class StandIn:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "standin.py"), "--port", "0", "--token", TOKEN,
                                      "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().split()
        assert line and line[0] == "LISTENING", line
        self.port = int(line[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(10)

    def raw(self, path, body, token=TOKEN, headers=None):
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), headers=h, method="POST")
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read()), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), dict(e.headers)

    def control(self, path, body=None):
        req = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(), method="POST")
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())


class ContractTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.standin = StandIn()

    @classmethod
    def tearDownClass(cls):
        cls.standin.stop()

    def setUp(self):
        self.standin.control("/_standin/flush")
        self.standin.control("/_standin/reset")
        self.redis = Redis(url=self.standin.url, token=TOKEN)

    # --- commands ---------------------------------------------------------------------------

    def test_strings_round_trip_in_base64_including_emoji(self):
        self.assertTrue(self.redis.set("greeting", "héllo 🎉"))
        self.assertEqual(self.redis.get("greeting"), "héllo 🎉")
        self.assertIsNone(self.redis.get("missing"))
        self.assertEqual(self.redis.incr("n"), 1)
        self.assertEqual(self.redis.hset("h", values={"a": "1", "b": "two"}), 2)
        self.assertEqual(self.redis.hgetall("h"), {"a": "1", "b": "two"})

    def test_base64_leaves_ok_as_is_and_encodes_every_other_string(self):
        status, body, headers = self.standin.raw("/", ["SET", "k", "bar"], headers={"Upstash-Encoding": "base64"})
        self.assertEqual((status, body), (200, {"result": "OK"}))
        status, body, _ = self.standin.raw("/", ["GET", "k"], headers={"Upstash-Encoding": "base64"})
        self.assertEqual(body, {"result": base64.b64encode(b"bar").decode()})
        status, body, _ = self.standin.raw("/", ["GET", "k"])
        self.assertEqual(body, {"result": "bar"})
        status, body, _ = self.standin.raw("/", ["INCR", "k"], headers={"Upstash-Encoding": "base64"})
        self.assertEqual(status, 400)
        self.assertIn("not an integer", body["error"])  # errors are never encoded

    def test_every_response_carries_a_sync_token_and_the_sdk_sends_it_back(self):
        _, _, headers = self.standin.raw("/", ["PING"])
        token = {k.lower(): v for k, v in headers.items()}["upstash-sync-token"]
        self.assertTrue(token)
        self.redis.set("a", "1")
        self.redis.get("a")
        stats = json.loads(urllib.request.urlopen(self.standin.url + "/_standin/stats").read())
        self.assertTrue(any(t for t in stats["sync_tokens_received"]), stats)

    def test_wrong_token_is_401_wrongpass(self):
        status, body, _ = self.standin.raw("/", ["GET", "k"], token="wrong")
        self.assertEqual(status, 401)
        self.assertEqual(body, {"error": "WRONGPASS invalid or missing auth token"})
        status, body, _ = self.standin.raw("/", ["GET", "k"], token=None)
        self.assertEqual(status, 401)
        with self.assertRaises(UpstashError) as e:
            Redis(url=self.standin.url, token="wrong").get("k")
        self.assertIn("WRONGPASS", str(e.exception))

    def test_command_errors_are_400_with_the_redis_message(self):
        self.redis.set("s", "text")
        with self.assertRaises(UpstashError) as e:
            self.redis.hget("s", "f")
        self.assertIn("WRONGTYPE", str(e.exception))
        status, body, _ = self.standin.raw("/", ["NOSUCHCOMMAND"])
        self.assertEqual(status, 400)
        self.assertIn("unknown command", body["error"])

    def test_blocking_commands_are_refused_not_hung(self):
        start = time.time()
        for cmd in (["BLPOP", "q", "1"], ["BRPOP", "q", "1"], ["XREAD", "BLOCK", "1000", "STREAMS", "s", "$"],
                    ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "1000", "STREAMS", "s", ">"], ["WATCH", "k"]):
            status, body, _ = self.standin.raw("/", cmd)
            self.assertEqual(status, 400, cmd)
            self.assertIn("not supported", body["error"])
        self.assertLess(time.time() - start, 1.0)

    # --- pipeline and transaction -----------------------------------------------------------

    def test_pipeline_answers_each_command_in_order_and_an_error_does_not_stop_the_rest(self):
        p = self.redis.pipeline()
        p.set("a", "1")
        p.incr("a")
        p.get("a")
        self.assertEqual(p.exec(), [True, 2, "2"])
        status, body, _ = self.standin.raw("/pipeline", [["SET", "x", "v"], ["INCR", "x"], ["SET", "y", "w"], ["GET", "y"]])
        self.assertEqual(status, 200)
        self.assertEqual(body[0], {"result": "OK"})
        self.assertIn("error", body[1])
        self.assertEqual(body[2:], [{"result": "OK"}, {"result": "w"}])

    def test_transaction_is_atomic_and_a_discarded_one_is_a_single_error(self):
        t = self.redis.multi()
        t.set("b", "1")
        t.incr("b")
        self.assertEqual(t.exec(), [True, 2])
        status, body, _ = self.standin.raw("/multi-exec", [["SET", "c", "1"], ["NOSUCHCOMMAND"]])
        self.assertEqual(status, 400)
        self.assertIsInstance(body, dict)
        self.assertIn("error", body)
        self.assertIsNone(self.redis.get("c"))  # nothing of a discarded transaction ran
        status, body, _ = self.standin.raw("/multi-exec", [["SET", "d", "x"], ["INCR", "d"], ["GET", "d"]])
        self.assertEqual(status, 200)
        self.assertEqual(body[0], {"result": "OK"})
        self.assertIn("error", body[1])  # a run-time error does not undo the others
        self.assertEqual(body[2], {"result": "x"})

    # --- streams, as the intake uses them --------------------------------------------------

    def test_streams_consumer_group_pending_ack_and_autoclaim(self):
        first = self.redis.xadd("design:jobs", "*", {"input": '{"prompt":"a cat"}', "kind": "design"})
        second = self.redis.xadd("design:jobs", "*", {"input": "{}"})
        self.assertEqual(self.redis.xgroup_create("design:jobs", "g", "0", mkstream=True), "OK")
        with self.assertRaises(UpstashError) as e:
            self.redis.xgroup_create("design:jobs", "g", "0", mkstream=True)
        self.assertIn("BUSYGROUP", str(e.exception))
        got = self.redis.xreadgroup("g", "dead-worker", {"design:jobs": ">"}, count=10)
        self.assertEqual([i for i, _ in got[0][1]], [first, second])
        self.assertEqual(got[0][1][0][1], ["input", '{"prompt":"a cat"}', "kind", "design"])
        pending = self.redis.xpending("design:jobs", "g")
        self.assertEqual(pending[0], 2)
        self.assertEqual(self.redis.xack("design:jobs", "g", first), 1)
        claimed = self.redis.xautoclaim("design:jobs", "g", "new-worker", 0, "0-0", count=10)
        self.assertEqual([i for i, _ in claimed[1]], [second])
        self.assertEqual(self.redis.xlen("design:jobs"), 2)
        self.assertEqual(self.redis.xreadgroup("g", "new-worker", {"design:jobs": ">"}, count=10), [])
        self.assertEqual(self.redis.xgroup_create("fresh:jobs", "g", "$", mkstream=True), "OK")

    # --- the limiters ----------------------------------------------------------------------

    def limiter(self, algorithm, prefix):
        return Ratelimit(redis=self.redis, limiter=algorithm, prefix=prefix)

    def test_fixed_window_admits_the_limit_then_refuses(self):
        rl = self.limiter(FixedWindow(max_requests=3, window=60), "fw")
        got = [rl.limit("user-1") for _ in range(5)]
        self.assertEqual([r.allowed for r in got], [True, True, True, False, False])
        self.assertEqual([r.remaining for r in got], [2, 1, 0, 0, 0])
        keys = self.redis.keys("fw:user-1:*")
        self.assertEqual(len(keys), 1)
        self.assertGreater(self.redis.pttl(keys[0]), 0)

    def test_sliding_window_admits_the_limit_then_refuses(self):
        rl = self.limiter(SlidingWindow(max_requests=3, window=60), "sw")
        got = [rl.limit("user-1") for _ in range(5)]
        self.assertEqual(sum(r.allowed for r in got), 3)
        self.assertFalse(got[-1].allowed)

    def test_token_bucket_admits_the_bucket_then_refuses(self):
        rl = self.limiter(TokenBucket(max_tokens=3, refill_rate=1, interval=60), "tb")
        got = [rl.limit("user-1") for _ in range(5)]
        self.assertEqual([r.allowed for r in got], [True, True, True, False, False])
        self.assertEqual(self.redis.hget("tb:user-1", "tokens"), "0")

    # --- faults ----------------------------------------------------------------------------

    def test_faults_status_and_drop(self):
        self.standin.control("/_standin/fault", {"mode": "status", "status": 503, "count": 1})
        with self.assertRaises(UpstashError):
            self.redis.get("k")  # a JSON error body is raised, not retried
        self.assertIsNone(self.redis.get("k"))


if __name__ == "__main__":
    unittest.main()
