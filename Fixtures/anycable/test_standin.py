"""Contract tests for the AnyCable stand-in: it must hold publishers to the same rules as the
real server's POST /_broadcast. Run: python3 -m unittest discover -s Fixtures/anycable

There is no official AnyCable SDK on PyPI to run against it (the project's AnyCable notes
checked the PyPI name list), so these rules are checked directly with http.client.
"""

import http.client
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin  # noqa: E402

KEY = "test-key-123"


class StandInTest(unittest.TestCase):
    def setUp(self):
        self.server, self.state = standin.serve(port=0, key=KEY)
        self.port = self.server.server_address[1]

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            conn.request(method, path, body=data, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def broadcast(self, body, key=KEY, method="POST"):
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = "Bearer " + key
        return self.request(method, "/_broadcast", body, headers)

    def received(self):
        return json.loads(self.request("GET", "/_standin/received")[2])

    def stats(self):
        return json.loads(self.request("GET", "/_standin/stats")[2])

    def fault(self, **f):
        status, _, _ = self.request("POST", "/_standin/fault", f)
        self.assertEqual(status, 200)

    # --- the broadcast contract ------------------------------------------------------------

    def test_single_publication_accepted_with_201(self):
        status, _, body = self.broadcast({"stream": "job:1", "data": '{"v":1}'})
        self.assertEqual(status, 201)
        self.assertEqual(body, b"")
        self.assertEqual(self.received(), [{"stream": "job:1", "data": '{"v":1}'}])

    def test_batch_recorded_in_array_order(self):
        pubs = [{"stream": "job:%d" % (i % 3), "data": str(i)} for i in range(10)]
        self.assertEqual(self.broadcast(pubs)[0], 201)
        self.assertEqual(self.received(), pubs)

    def test_wrong_key_is_401_and_nothing_recorded(self):
        self.assertEqual(self.broadcast({"stream": "s", "data": "x"}, key="wrong")[0], 401)
        self.assertEqual(self.received(), [])

    def test_missing_authorization_is_401(self):
        self.assertEqual(self.broadcast({"stream": "s", "data": "x"}, key=None)[0], 401)

    def test_authorization_must_match_exactly(self):
        for header in ["bearer " + KEY, "Bearer  " + KEY, "Bearer " + KEY + " ", KEY, "Token " + KEY]:
            status, _, _ = self.request("POST", "/_broadcast", {"stream": "s", "data": "x"},
                                        {"Authorization": header})
            self.assertEqual(status, 401, header)
        self.assertEqual(self.received(), [])

    def test_non_post_is_422(self):
        for method in ["GET", "PUT", "DELETE", "PATCH"]:
            self.assertEqual(self.broadcast(None, method=method)[0], 422, method)

    def test_object_data_is_silently_dropped_with_201(self):
        # The server's #1 trap: data must be a JSON *string*; an object fails to parse, is
        # logged and dropped, and the publisher still gets 201.
        self.assertEqual(self.broadcast({"stream": "s", "data": {"v": 1}})[0], 201)
        self.assertEqual(self.received(), [])
        self.assertEqual(self.stats()["malformed"], 1)

    def test_malformed_bodies_get_201_and_are_dropped(self):
        for body in [b"not json", {"stream": "", "data": "x"}, {"data": "x"}, {"stream": "s"},
                     [], [{"stream": "", "data": "x"}], [{"stream": "a", "data": "x"}, {"stream": "b", "data": 5}]]:
            self.assertEqual(self.broadcast(body)[0], 201, body)
        self.assertEqual(self.received(), [])
        self.assertEqual(self.stats()["malformed"], 7)

    def test_no_key_means_no_auth(self):
        server, _ = standin.serve(port=0, key=None)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
            conn.request("POST", "/_broadcast", body=b'{"stream":"s","data":"x"}')
            self.assertEqual(conn.getresponse().status, 201)
            conn.close()
        finally:
            server.shutdown()
            server.server_close()

    # --- faults and control ----------------------------------------------------------------

    def test_status_fault_for_n_requests_then_normal(self):
        self.fault(mode="status", status=503, count=2)
        pub = {"stream": "s", "data": "x"}
        self.assertEqual([self.broadcast(pub)[0] for _ in range(3)], [503, 503, 201])
        self.assertEqual(self.received(), [pub])
        stats = self.stats()
        self.assertEqual(stats["by_status"], {"503": 2, "201": 1})
        self.assertEqual(stats["requests"], 3)

    def test_429_with_retry_after(self):
        self.fault(mode="status", status=429, retry_after="2", count=1)
        status, headers, _ = self.broadcast({"stream": "s", "data": "x"})
        self.assertEqual(status, 429)
        self.assertEqual(headers.get("Retry-After"), "2")
        self.assertEqual(self.received(), [])

    def test_drop_closes_without_response(self):
        self.fault(mode="drop", count=1)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.broadcast({"stream": "s", "data": "x"})
        self.assertEqual(self.broadcast({"stream": "s", "data": "y"})[0], 201)
        self.assertEqual(self.received(), [{"stream": "s", "data": "y"}])
        self.assertEqual(self.stats()["dropped"], 1)

    def test_delay_then_normal_handling(self):
        self.fault(mode="delay", ms=50, count=1)
        self.assertEqual(self.broadcast({"stream": "s", "data": "x"})[0], 201)
        self.assertEqual(len(self.received()), 1)

    def test_redirect_fault_answers_3xx_with_location_and_records_nothing(self):
        self.fault(mode="redirect", location="http://localhost:9/_broadcast", count=1)
        self.fault(mode="redirect", status=308, location="/elsewhere", count=1)
        status, headers, _ = self.broadcast({"stream": "s", "data": "x"})
        self.assertEqual((status, headers.get("Location")), (307, "http://localhost:9/_broadcast"))
        status, headers, _ = self.broadcast({"stream": "s", "data": "x"})
        self.assertEqual((status, headers.get("Location")), (308, "/elsewhere"))
        self.assertEqual(self.broadcast({"stream": "s", "data": "y"})[0], 201)
        self.assertEqual(self.received(), [{"stream": "s", "data": "y"}])
        self.assertEqual(self.stats()["by_status"], {"307": 1, "308": 1, "201": 1})

    def test_requests_with_authorization_are_counted_on_any_path(self):
        self.broadcast({"stream": "s", "data": "x"})
        self.broadcast({"stream": "s", "data": "x"}, key=None)
        self.request("POST", "/other", b"{}", {"Authorization": "Bearer whatever"})
        self.request("GET", "/_standin/stats", headers={"Authorization": "Bearer control"})
        self.assertEqual(self.stats()["with_authorization"], 2)

    def test_bad_fault_is_400(self):
        status, _, _ = self.request("POST", "/_standin/fault", {"mode": "explode"})
        self.assertEqual(status, 400)
        for bad in ({"mode": "redirect"}, {"mode": "redirect", "location": "/x", "status": 200}):
            status, _, _ = self.request("POST", "/_standin/fault", bad)
            self.assertEqual(status, 400, bad)

    def test_reset(self):
        self.broadcast({"stream": "s", "data": "x"})
        self.fault(mode="status", status=500, count=5)
        self.request("POST", "/_standin/reset", {})
        self.assertEqual(self.received(), [])
        self.assertEqual(self.broadcast({"stream": "s", "data": "x"})[0], 201)
        self.assertEqual(self.stats()["requests"], 1)

    # --- the command line ------------------------------------------------------------------

    def test_cli_prints_port_first_and_reads_key_from_env(self):
        env = dict(os.environ, ANYCABLE_BROADCAST_KEY="env-key")
        p = subprocess.Popen([sys.executable, standin.__file__, "--port", "0"], stdout=subprocess.PIPE, env=env)
        try:
            line = p.stdout.readline().decode()
            self.assertTrue(line.startswith("LISTENING "), line)
            port = int(line.split()[1])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/_broadcast", body=b'{"stream":"s","data":"x"}',
                         headers={"Authorization": "Bearer env-key"})
            self.assertEqual(conn.getresponse().status, 201)
            conn.close()
        finally:
            p.terminate()
            p.wait(timeout=5)
            p.stdout.close()


if __name__ == "__main__":
    unittest.main()
