"""Contract tests for the Vercel Blob stand-in.

The official Python SDK (`vercel-blob` on PyPI, pinned in requirements.txt) is run against the
stand-in for put, head, list, delete, copy and a multipart upload, so the stand-in answers in the
real wire format and the SDK's strict response parsing holds it to it. The rules the SDK cannot
express (required headers, the multipart part-size rule, the fault modes, delivery) are checked
with plain http.client.

Run (the CI script makes the virtual environment):
  "$(bash Fixtures/setup-venv.sh | tail -n 1)" -m unittest discover -s Fixtures/vercel-blob -p 'test_*.py'
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import unittest
from urllib.parse import quote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin  # noqa: E402

# The SDK must not find credentials of its own (OIDC, a developer's token) in the environment.
for _name in ("VERCEL_OIDC_TOKEN", "BLOB_STORE_ID", "BLOB_READ_WRITE_TOKEN", "VERCEL_BLOB_READ_WRITE_TOKEN",
              "VERCEL_BLOB_API_URL", "NEXT_PUBLIC_VERCEL_BLOB_API_URL"):
    os.environ.pop(_name, None)

from vercel.api import session  # noqa: E402
from vercel.blob import sync as blob  # noqa: E402
from vercel.blob import BlobCredentials  # noqa: E402

STORE = "st0rein1test2abc"
TOKEN = "vercel_blob_rw_%s_S3cretSecretSecret0123456789" % STORE
MIB = 1024 * 1024


class StandInCase(unittest.TestCase):
    access = "public"

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="vercel-blob-standin-test-")
        self.server, self.state, self.store = standin.serve(TOKEN, port=0, access=self.access, folder=self.folder)
        self.port = self.server.server_address[1]
        self.base = "http://127.0.0.1:%d/api/blob" % self.port
        self.sdk = self.session(TOKEN)
        self.sdk.__enter__()

    def tearDown(self):
        self.sdk.__exit__(None, None, None)
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def session(self, token):
        options = blob.SyncBlobServiceOptions(
            base_url=self.base, credentials_factory=lambda: BlobCredentials(token=token, store_id=STORE))
        return session(service_options=[options])

    # --- plain HTTP helpers -----------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, host=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            h = dict(headers or {})
            if host:
                conn.putrequest(method, path, skip_host=True)
                conn.putheader("Host", host)
                for k, v in h.items():
                    conn.putheader(k, v)
                data = body or b""
                conn.putheader("Content-Length", str(len(data)))
                conn.endheaders(data)
            else:
                conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def api(self, method, path, body=None, headers=None, token=TOKEN, version="12"):
        h = {"authorization": "Bearer " + token} if token else {}
        if version is not None:
            h["x-api-version"] = version
        h.update(headers or {})
        status, hdrs, data = self.request(method, "/api/blob" + path, body, h)
        return status, hdrs, (json.loads(data) if data and hdrs.get("content-type") == "application/json" else data)

    def control(self, method, path, body=None):
        status, _, data = self.request(method, "/_standin/" + path, json.dumps(body).encode() if body is not None else None)
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def fault(self, **f):
        self.control("POST", "fault", f)

    def fetch(self, url, headers=None):
        """A stored blob from its public URL, through the stand-in (Host header)."""
        u = urlsplit(url)
        return self.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers, host=u.hostname)

    def requests(self, op=None):
        return [r for r in self.control("GET", "requests") if op is None or r["op"] == op]


class OfficialSdkContractTest(StandInCase):
    """The official SDK against the stand-in: every call it makes must parse."""

    def test_put_answers_what_the_sdk_parses_and_the_blob_is_served_at_its_url(self):
        r = blob.put_blob("jobs/j1/final-abc.png", b"\x89PNG fake", access="public", content_type="image/png",
                          allow_overwrite=True, cache_control_max_age=3600)
        self.assertEqual(r.url, "https://%s.public.blob.vercel-storage.com/jobs/j1/final-abc.png" % STORE)
        self.assertEqual(r.download_url, r.url + "?download=1")
        self.assertEqual(r.pathname, "jobs/j1/final-abc.png")
        self.assertEqual(r.content_type, "image/png")
        self.assertEqual(r.content_disposition, 'inline; filename="final-abc.png"')
        self.assertRegex(r.etag, r'^"[0-9a-f]{32}"$')
        status, headers, body = self.fetch(r.url)
        self.assertEqual((status, body), (200, b"\x89PNG fake"))
        self.assertEqual(headers["content-type"], "image/png")
        self.assertEqual(headers["cache-control"], "public, max-age=3600")
        self.assertEqual(headers["etag"], r.etag)
        status, headers, _ = self.fetch(r.download_url)
        self.assertTrue(headers["content-disposition"].startswith("attachment;"))
        # What the SDK sent: the API version, access, no suffix, overwrite, content type, max-age.
        sent = self.requests("put")[-1]["headers"]
        self.assertEqual(sent["x-api-version"], "12")
        self.assertEqual(sent["authorization"], "<present>")
        self.assertEqual((sent["x-vercel-blob-access"], sent["x-add-random-suffix"], sent["x-allow-overwrite"]), ("public", "0", "1"))
        self.assertEqual((sent["x-content-type"], sent["x-cache-control-max-age"]), ("image/png", "3600"))

    def test_the_sdk_download_reads_a_stored_blob_by_pathname(self):
        # The SDK builds the production URL itself and fetches it: here it cannot reach it, so
        # only the URL it builds is checked against the stand-in's.
        r = blob.put_blob("a b/c?d#e%.txt", b"odd name", access="public")
        self.assertEqual(r.url, "https://%s.public.blob.vercel-storage.com/%s" % (STORE, quote("a b/c?d#e%.txt", safe="/")))
        self.assertEqual(blob.head_blob("a b/c?d#e%.txt").url, r.url)
        self.assertEqual(self.fetch(r.url)[2], b"odd name")

    def test_overwrite_is_refused_without_allow_overwrite_as_400_bad_request(self):
        first = blob.put_blob("same.txt", b"one", access="public")
        with self.assertRaises(blob.BlobError) as e:
            blob.put_blob("same.txt", b"two", access="public")
        self.assertEqual((e.exception.status_code, e.exception.code), (400, "bad_request"))
        self.assertIn("already exists", str(e.exception))
        again = blob.put_blob("same.txt", b"two", access="public", allow_overwrite=True)
        self.assertEqual(again.url, first.url)
        self.assertNotEqual(again.etag, first.etag)
        self.assertEqual(self.fetch(first.url)[2], b"two")

    def test_random_suffix_goes_before_the_extension(self):
        r = blob.put_blob("photos/cat.png", b"x", access="public", add_random_suffix=True)
        self.assertRegex(r.pathname, r"^photos/cat-[A-Za-z0-9]{30}\.png$")
        self.assertTrue(r.url.endswith("/" + r.pathname))

    def test_head_by_pathname_and_by_url(self):
        put = blob.put_blob("h/one.json", b'{"a":1}', access="public", cache_control_max_age=120)
        for target in ("h/one.json", put.url):
            h = blob.head_blob(target)
            self.assertEqual((h.pathname, h.size, h.content_type, h.etag), ("h/one.json", 7, "application/json", put.etag))
            self.assertEqual(h.cache_control, "public, max-age=120")
            self.assertIsNotNone(h.uploaded_at.tzinfo)
        self.assertEqual(self.requests("head")[-1]["pathname"], put.url)

    def test_head_of_a_missing_blob_is_not_found(self):
        with self.assertRaises(blob.BlobNotFoundError):
            blob.head_blob("nothing/here.png")
        with self.assertRaises(blob.BlobNotFoundError):
            blob.head_blob("https://%s.public.blob.vercel-storage.com/nothing.png" % STORE)

    def test_list_pages_in_pathname_order_with_a_cursor(self):
        names = ["p/%d.txt" % i for i in (4, 0, 3, 1, 2)] + ["q/other.txt"]
        for n in names:
            blob.put_blob(n, n.encode(), access="public")
        got = list(blob.query_blobs(prefix="p/", page_size=2))
        self.assertEqual([b.pathname for b in got], ["p/%d.txt" % i for i in range(5)])
        self.assertEqual([b.size for b in got], [7] * 5)
        self.assertTrue(all(b.url.endswith(b.pathname) and b.download_url == b.url + "?download=1" for b in got))
        lists = self.requests("list")
        self.assertEqual(len(lists), 3)  # 2 + 2 + 1, following the cursor
        self.assertEqual(len(list(blob.query_blobs())), 6)

    def test_folded_listing_groups_folders(self):
        for n in ("top.txt", "a/1.txt", "a/2.txt", "b/c/3.txt"):
            blob.put_blob(n, b"x", access="public")
        entries = list(blob.query_blob_entries(page_size=2))
        self.assertEqual(sorted(e.prefix if isinstance(e, blob.BlobPrefix) else e.pathname for e in entries), ["a/", "b/", "top.txt"])
        inner = list(blob.query_blob_entries(prefix="b/"))
        self.assertEqual([e.prefix for e in inner], ["b/c/"])

    def test_copy_makes_a_new_blob_and_checks_the_source_etag(self):
        src = blob.put_blob("src/a.png", b"image", access="public", content_type="image/png")
        c = blob.copy_blob("src/a.png", "dst/b.png", access="public", allow_overwrite=True, if_match=src.etag)
        self.assertEqual((c.pathname, c.content_type), ("dst/b.png", "image/png"))
        self.assertEqual(self.fetch(c.url)[2], b"image")
        self.assertEqual(self.fetch(src.url)[2], b"image")
        with self.assertRaises(blob.BlobPreconditionFailedError):
            blob.copy_blob(src.url, "dst/c.png", access="public", if_match='"not-the-etag"')
        with self.assertRaises(blob.BlobError) as e:
            blob.copy_blob("src/a.png", "dst/b.png", access="public")  # exists, no overwrite
        self.assertEqual(e.exception.code, "bad_request")
        with self.assertRaises(blob.BlobNotFoundError):
            blob.copy_blob("src/missing.png", "dst/d.png", access="public")

    def test_delete_one_many_and_missing(self):
        urls = [blob.put_blob("d/%d.txt" % i, b"x", access="public").url for i in range(4)]
        blob.delete_blob(urls[0])
        blob.delete_blob(["d/1.txt", urls[2], "d/never-was.txt"])
        self.assertEqual([b.pathname for b in blob.query_blobs(prefix="d/")], ["d/3.txt"])
        self.assertTrue(self.requests("delete")[-1]["headers"]["content-type"].startswith("application/json"))
        with self.assertRaises(blob.BlobPreconditionFailedError):
            blob.delete_blob("d/3.txt", if_match='"nope"')
        self.assertEqual(len(list(blob.query_blobs(prefix="d/"))), 1)

    def test_multipart_upload_of_two_parts(self):
        first = bytes(range(256)) * (5 * MIB // 256)
        with blob.multipart_upload_blob("big/file.bin", access="public", content_type="application/octet-stream",
                                        allow_overwrite=True) as upload:
            upload.upload_part(first)
            upload.upload_part(b"tail")
        r = upload.result
        self.assertEqual(r.pathname, "big/file.bin")
        status, _, body = self.fetch(r.url)
        self.assertEqual(status, 200)
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(first + b"tail").hexdigest())
        ops = [x["op"] for x in self.requests() if x["op"].startswith("mpu")]
        self.assertEqual(ops, ["mpu-create", "mpu-upload", "mpu-upload", "mpu-complete"])
        part = self.requests("mpu-upload")[0]["headers"]
        self.assertEqual(part["x-mpu-part-number"], "1")
        self.assertEqual(part["x-mpu-key"], quote("%s/big/file.bin" % STORE, safe="~()*!.'-"))
        self.assertEqual(part["x-vercel-blob-access"], "public")
        self.assertEqual(blob.head_blob("big/file.bin").size, len(first) + 4)

    def test_a_wrong_token_is_an_access_error(self):
        with self.session("vercel_blob_rw_%s_NotTheSecret000" % STORE):
            with self.assertRaises(blob.BlobAccessError) as e:
                blob.put_blob("x.txt", b"x", access="public")
        self.assertEqual((e.exception.status_code, e.exception.code), (403, "forbidden"))
        self.assertEqual(self.store.get("x.txt"), None)

    def test_service_errors_map_to_the_sdk_error_classes(self):
        self.fault(mode="status", status=503, count=1)
        with self.assertRaises(blob.BlobServiceNotAvailable):
            blob.put_blob("e.txt", b"x", access="public")
        self.fault(mode="status", status=429, retry_after="2", count=1)
        with self.assertRaises(blob.BlobServiceRateLimited) as e:
            blob.put_blob("e.txt", b"x", access="public")
        self.assertEqual(e.exception.retry_after, 2)
        self.fault(mode="status", status=400, code="store_suspended", count=1)
        with self.assertRaises(blob.BlobStoreSuspendedError):
            blob.head_blob("e.txt")
        self.fault(mode="status", status=400, code="file_too_large", count=1)
        with self.assertRaises(blob.BlobFileTooLargeError):
            blob.put_blob("e.txt", b"x", access="public")
        self.fault(mode="status", status=500, plain=True, count=1)
        with self.assertRaises(blob.BlobUnknownError):
            blob.put_blob("e.txt", b"x", access="public")
        blob.put_blob("e.txt", b"x", access="public")  # and then it works

    def test_access_must_match_the_store(self):
        with self.assertRaises(blob.BlobError) as e:
            blob.put_blob("p.txt", b"x", access="private")
        self.assertEqual(e.exception.status_code, 400)


class WireRulesTest(StandInCase):
    """What the SDK cannot show: the stand-in's own checks and its fault modes."""

    def test_auth_is_required_and_must_be_the_store_token(self):
        for token in (None, "vercel_blob_rw_%s_wrong" % STORE, "vercel_blob_rw_otherstore_" + TOKEN.split("_", 4)[4]):
            status, _, body = self.api("PUT", "/?pathname=a.txt", b"x", {"x-vercel-blob-access": "public"}, token=token)
            self.assertEqual(status, 403, token)
            self.assertEqual(body, {"error": {"code": "forbidden", "message": "Invalid token"}})

    def test_api_version_and_access_headers_are_required(self):
        status, _, body = self.api("PUT", "/?pathname=a.txt", b"x", {"x-vercel-blob-access": "public"}, version=None)
        self.assertEqual((status, body["error"]["code"]), (400, "bad_request"))
        status, _, body = self.api("PUT", "/?pathname=a.txt", b"x")
        self.assertEqual((status, body["error"]["code"]), (400, "bad_request"))
        self.assertIn("x-vercel-blob-access", body["error"]["message"])

    def test_put_with_and_without_the_slash_before_the_query(self):
        for path in ("?pathname=one.txt", "/?pathname=two.txt"):
            status, _, body = self.api("PUT", path, b"x", {"x-vercel-blob-access": "public"})
            self.assertEqual(status, 200, body)
        self.assertEqual(sorted(self.store.index), ["one.txt", "two.txt"])

    def test_bad_pathnames_are_refused(self):
        for bad in ("a//b.txt", "a/../b.txt", "./x", "x" * 951):
            status, _, body = self.api("PUT", "/?pathname=" + quote(bad), b"x", {"x-vercel-blob-access": "public"})
            self.assertEqual((status, body["error"]["code"]), (400, "bad_request"), bad)

    def test_multipart_parts_must_be_5_mib_and_equal_but_the_last(self):
        h = {"x-vercel-blob-access": "public"}
        _, _, created = self.api("POST", "/mpu?pathname=m.bin", None, dict(h, **{"x-mpu-action": "create"}))
        mpu = dict(h, **{"x-mpu-key": quote(created["key"], safe=""), "x-mpu-upload-id": created["uploadId"]})
        etags = []
        for n, size in ((1, MIB), (2, MIB)):
            status, _, r = self.api("POST", "/mpu?pathname=m.bin", b"x" * size,
                                    dict(mpu, **{"x-mpu-action": "upload", "x-mpu-part-number": str(n)}))
            self.assertEqual(status, 200, r)
            etags.append(r["etag"])
        parts = json.dumps([{"partNumber": 2, "etag": etags[1]}, {"partNumber": 1, "etag": etags[0]}]).encode()
        status, _, r = self.api("POST", "/mpu?pathname=m.bin", parts, dict(mpu, **{"x-mpu-action": "complete"}))
        self.assertEqual((status, r["error"]["code"]), (400, "bad_request"))
        self.assertIn("5 MiB", r["error"]["message"])
        # A wrong key or an unknown upload id is refused too.
        status, _, r = self.api("POST", "/mpu?pathname=m.bin", b"x", dict(mpu, **{"x-mpu-action": "upload", "x-mpu-part-number": "3",
                                                                                  "x-mpu-key": "other"}))
        self.assertEqual(status, 400)
        status, _, r = self.api("POST", "/mpu?pathname=m.bin", b"x", dict(mpu, **{"x-mpu-action": "upload", "x-mpu-part-number": "3",
                                                                                  "x-mpu-upload-id": "nope"}))
        self.assertEqual(status, 400)

    def test_list_checks_its_limit_and_cursor(self):
        self.assertEqual(self.api("GET", "?limit=0")[0], 400)
        self.assertEqual(self.api("GET", "?limit=1001")[0], 400)
        self.assertEqual(self.api("GET", "?cursor=%%%")[0], 400)
        status, _, body = self.api("GET", "?")
        self.assertEqual((status, body), (200, {"blobs": [], "hasMore": False}))

    def test_a_dropped_connection_stores_nothing(self):
        self.fault(mode="drop", count=1)
        with self.assertRaises((http.client.HTTPException, ConnectionError, socket.timeout, OSError)):
            self.api("PUT", "/?pathname=dropped.txt", b"y" * 100_000, {"x-vercel-blob-access": "public"})
        self.assertIsNone(self.store.get("dropped.txt"))
        self.assertEqual(self.control("GET", "stats")["dropped"], 1)

    def test_a_lost_response_still_stores_the_blob(self):
        self.fault(mode="lose_response", op="put", count=1)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            self.api("PUT", "/?pathname=lost.txt", b"z", {"x-vercel-blob-access": "public", "x-allow-overwrite": "1"})
        self.assertIsNotNone(self.store.get("lost.txt"))
        status, _, body = self.api("PUT", "/?pathname=lost.txt", b"z", {"x-vercel-blob-access": "public", "x-allow-overwrite": "1"})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.control("GET", "stats")["writes"], {"lost.txt": 2})

    def test_faults_can_target_one_operation_and_part(self):
        self.fault(mode="status", status=500, op="mpu-upload", part=2, count=1)
        status, _, _ = self.api("GET", "?")
        self.assertEqual(status, 200)  # not a multipart upload: the fault waits
        self.assertEqual(len(self.state.faults), 1)

    def test_delivery_serves_304_for_a_matching_etag_and_404_for_other_stores(self):
        _, _, r = self.api("PUT", "/?pathname=f.png", b"png", {"x-vercel-blob-access": "public", "x-content-type": "image/png"})
        status, _, _ = self.fetch(r["url"], headers={"If-None-Match": r["etag"]})
        self.assertEqual(status, 304)
        other = r["url"].replace(STORE.lower(), "someoneelse")
        self.assertEqual(self.fetch(other)[0], 404)

    def test_blobs_survive_a_restart_in_the_same_folder(self):
        self.api("PUT", "/?pathname=keep.txt", b"kept", {"x-vercel-blob-access": "public"})
        server, _, store = standin.serve(TOKEN, folder=self.folder)
        try:
            self.assertEqual(store.read("keep.txt"), b"kept")
        finally:
            server.shutdown()
            server.server_close()

    def test_the_script_prints_its_port_and_exits_when_stdin_closes(self):
        import subprocess
        p = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "standin.py"), "--token", TOKEN,
                              "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            self.assertRegex(line, r"^LISTENING \d+\n$")
        finally:
            p.stdin.close()
            self.assertEqual(p.wait(timeout=30), 0)
            p.stdout.close()


class PrivateStoreTest(StandInCase):
    access = "private"

    def test_private_blobs_need_the_token_to_be_read(self):
        r = blob.put_blob("secret.txt", b"s", access="private")
        self.assertTrue(r.url.startswith("https://%s.private.blob.vercel-storage.com/" % STORE))
        self.assertEqual(self.fetch(r.url)[0], 404)
        self.assertEqual(self.fetch(r.url, headers={"authorization": "Bearer " + TOKEN})[2], b"s")


if __name__ == "__main__":
    unittest.main()
