#!/usr/bin/env python3
"""A local stand-in for Vercel Blob: its HTTP API (https://vercel.com/api/blob) and the hosts
that serve stored blobs (https://<store>.<access>.blob.vercel-storage.com/<pathname>), backed by
a folder.

It speaks the API as the official SDKs do (`@vercel/blob` 2.x, API version 12; `vercel-blob`
0.5 on PyPI), as summarised in the project's Vercel Blob notes, and enforces the contract:

- Auth: "authorization: Bearer <token>" must be the store's read-write token
  (vercel_blob_rw_<store id>_<secret>), else 403 {"error":{"code":"forbidden",...}}.
- Required headers: x-api-version (a number) on every API call; x-vercel-blob-access
  (public|private, and it must match the store) on put, copy and every multipart step.
- Routes, under any API prefix (default /api/blob; with or without a "/" before "?"):
    PUT  {p}?pathname=P              put (raw body); with &fromUrl=F: copy F to P
    GET  {p}?url=U                   head (U a pathname or a delivery URL of this store)
    GET  {p}?limit=&prefix=&cursor=&mode=expanded|folded   list, in pathname order
    POST {p}/delete {"urls":[...]}   delete 1..1000 (missing ones are harmless)
    POST {p}/mpu?pathname=P  x-mpu-action: create | upload | complete   multipart
    POST {p}/rename?pathname=P&fromUrl=F   copy, then delete F
- The overwrite rule: a put, copy or multipart completion onto an existing pathname without
  x-allow-overwrite: 1 is 400 bad_request "This blob already exists, ...". x-add-random-suffix: 1
  inserts "-<30 letters and digits>" before the extension. x-if-match must match the ETag (412).
- Multipart: create answers {"uploadId","key"}; upload needs x-mpu-key (URL-encoded key),
  x-mpu-upload-id and x-mpu-part-number 1..10000 and answers {"etag"}; complete takes
  [{"partNumber","etag"}, ...] (any order), and every part but the last must be at least 5 MiB
  and all of one size. Unknown upload ids are 400 bad_request.
- Errors are {"error": {"code", "message"}}; list pagination has an opaque cursor and hasMore.
- Stored blobs are served at their URLs: a GET (or HEAD) whose Host is
  <store>.<access>.blob.vercel-storage.com (e.g. curl -H 'Host: ...' http://127.0.0.1:PORT/P).

Control endpoints (no authentication, loopback only):
  GET  /_standin/stats     {"requests","by_status","by_op","writes","dropped","lost_responses",
                            "with_authorization","stray","stray_with_authorization",
                            "api_versions","last_headers"}
                           ("writes": pathname -> how many times its bytes were stored;
                            "stray": requests to paths outside the API, e.g. a followed redirect)
  GET  /_standin/requests  every API request: {"op","method","pathname","part","status",
                           "headers"} (the authorization header shown as "<present>")
  GET  /_standin/blobs     every stored blob with its url, size, sha256, contentType, ...
  POST /_standin/fault     queue a fault for the next matching API requests; optional filters
                           "op" (put, copy, head, list, delete, mpu-create, mpu-upload,
                           mpu-complete, rename), "part" (a part number), "pathname_contains":
       {"mode":"status","status":503,"count":2}         (JSON error body; "code" to choose it,
                                                          "plain": true for a text body)
       {"mode":"status","status":429,"retry_after":"2","count":1}
       {"mode":"status","status":307,"location":"http://127.0.0.1:PORT/elsewhere"}   (a redirect)
       {"mode":"delay","ms":1500,"count":1}             (then handled normally)
       {"mode":"drop","count":1}                        (half the body read, connection closed)
       {"mode":"lose_response","count":1}               (handled, then closed without answer)
       {"mode":"huge","bytes":67108864,"count":1}       (200 with a body of that many bytes, streamed;
                                                         "declared": false leaves out Content-Length)
  POST /_standin/reset     forget stats, requests and faults; {"blobs": true} also the blobs

Usage: standin.py [--host 127.0.0.1] [--port 0] [--token TOKEN | env BLOB_READ_WRITE_TOKEN]
                  [--access public|private] [--dir FOLDER] [--prefix /api/blob]
                  [--exit-on-stdin-eof]
The first line on stdout is "LISTENING <port>". With --exit-on-stdin-eof it also exits when its
standard input closes, so it cannot outlive a test process that dies. Without --dir the blobs
live in a temporary folder removed at exit.
"""

import argparse
import base64
import datetime
import hashlib
import json
import mimetypes
import os
import re
import secrets
import shutil
import signal
import socket
import string
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

DELIVERY_SUFFIX = ".blob.vercel-storage.com"
MIN_PART = 5 * 1024 * 1024
MAX_PATHNAME = 950
ALREADY_EXISTS = ("This blob already exists, use `allowOverwrite: true` if you want to overwrite it. "
                  "Or `addRandomSuffix: true` to generate a unique filename.")
INLINE_TYPES = ("text/plain", "text/xml", "application/json", "application/pdf")
DEFAULT_MAX_AGE = 2592000
RW_PREFIX = "vercel_blob_rw_"
DEFAULT_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 412: "precondition_failed",
                 429: "rate_limited", 500: "internal_server_error", 502: "service_unavailable",
                 503: "service_unavailable"}


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def store_from_token(token):
    """The store id, as the SDKs take it: the 4th "_"-separated field."""
    if not token.startswith(RW_PREFIX):
        raise ValueError("not a read-write token")
    store, sep, secret = token[len(RW_PREFIX):].partition("_")
    if not sep or not store or not secret or not re.match(r"^[a-zA-Z0-9-]+$", store):
        raise ValueError("not a read-write token")
    return store


def now_iso():
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def check_pathname(pathname):
    if not pathname:
        raise ApiError(400, "bad_request", "pathname is required")
    if any(ord(c) < 32 or ord(c) == 127 for c in pathname):
        raise ApiError(400, "bad_request", "pathname cannot contain control characters")
    if "//" in pathname:
        raise ApiError(400, "bad_request", 'pathname cannot contain "//"')
    p = pathname[1:] if pathname.startswith("/") else pathname
    if not p or any(seg in (".", "..") for seg in p.split("/")):
        raise ApiError(400, "bad_request", "pathname cannot contain dot segments")
    if len(p.encode("utf-16-le")) // 2 > MAX_PATHNAME:
        raise ApiError(400, "bad_request", "pathname is too long, maximum length is %d" % MAX_PATHNAME)
    return p


class Store:
    """The blobs, in a folder: <sha256(pathname)>.bin (bytes) and .json (metadata)."""

    def __init__(self, folder, store_id, access):
        self.folder = folder
        self.store_id = store_id
        self.access = access
        self.lock = threading.RLock()
        self.index = {}
        self.uploads = {}
        os.makedirs(os.path.join(folder, "mpu"), exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".json"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    meta = json.load(f)
                self.index[meta["pathname"]] = meta

    def _base(self, pathname):
        return os.path.join(self.folder, hashlib.sha256(pathname.encode("utf-8")).hexdigest())

    def url(self, pathname):
        return "https://%s.%s%s/%s" % (self.store_id.lower(), self.access, DELIVERY_SUFFIX, quote(pathname, safe="/"))

    def pathname_of(self, url_or_pathname):
        """A pathname, or the pathname of a delivery URL of this store (None for another store)."""
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url_or_pathname):
            parts = urlsplit(url_or_pathname)
            host = (parts.hostname or "").lower()
            if host != "%s.%s%s" % (self.store_id.lower(), self.access, DELIVERY_SUFFIX):
                return None
            return unquote(parts.path)[1:]
        return url_or_pathname[1:] if url_or_pathname.startswith("/") else url_or_pathname

    def get(self, pathname):
        with self.lock:
            return self.index.get(pathname)

    def read(self, pathname):
        with open(self._base(pathname) + ".bin", "rb") as f:
            return f.read()

    def write(self, pathname, data, content_type, max_age):
        base = self._base(pathname)
        tmp = base + ".tmp-%s" % secrets.token_hex(4)
        with open(tmp, "wb") as f:
            f.write(data)
        meta = {
            "pathname": pathname,
            "size": len(data),
            "contentType": content_type,
            "cacheControl": "public, max-age=%d" % max_age,
            "uploadedAt": now_iso(),
            "etag": '"%s"' % hashlib.md5(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        with self.lock:
            os.replace(tmp, base + ".bin")
            with open(base + ".json.tmp", "w", encoding="utf-8") as f:
                json.dump(meta, f)
            os.replace(base + ".json.tmp", base + ".json")
            self.index[pathname] = meta
        return meta

    def delete(self, pathname):
        with self.lock:
            if self.index.pop(pathname, None) is None:
                return False
            base = self._base(pathname)
            for ext in (".bin", ".json"):
                try:
                    os.remove(base + ext)
                except FileNotFoundError:
                    pass
            return True

    def clear(self):
        with self.lock:
            for p in list(self.index):
                self.delete(p)
            self.uploads.clear()
            shutil.rmtree(os.path.join(self.folder, "mpu"), ignore_errors=True)
            os.makedirs(os.path.join(self.folder, "mpu"), exist_ok=True)

    def disposition(self, meta, download=False):
        name = meta["pathname"].rsplit("/", 1)[-1]
        ct = (meta.get("contentType") or "").split(";")[0].strip().lower()
        inline = ct in INLINE_TYPES or ct.split("/")[0] in ("image", "audio", "video")
        return '%s; filename="%s"' % ("inline" if inline and not download else "attachment", name)

    def put_result(self, meta):
        url = self.url(meta["pathname"])
        return {"url": url, "downloadUrl": url + "?download=1", "pathname": meta["pathname"],
                "contentType": meta["contentType"], "contentDisposition": self.disposition(meta), "etag": meta["etag"]}

    def head_result(self, meta):
        r = self.put_result(meta)
        r.update({"size": meta["size"], "uploadedAt": meta["uploadedAt"], "cacheControl": meta["cacheControl"]})
        return r

    def list_entry(self, meta):
        url = self.url(meta["pathname"])
        return {"url": url, "downloadUrl": url + "?download=1", "pathname": meta["pathname"], "size": meta["size"],
                "uploadedAt": meta["uploadedAt"], "etag": meta["etag"]}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.by_status = {}
        self.by_op = {}
        self.writes = {}
        self.dropped = 0
        self.lost_responses = 0
        self.with_authorization = 0
        self.stray = 0
        self.stray_with_authorization = 0
        self.api_versions = {}
        self.last_headers = {}
        self.log = []
        self.faults = []  # [fault dict, remaining count]

    def take_fault(self, op, pathname, part):
        """One use of the first queued fault that matches this request, or None."""
        with self.lock:
            for entry in self.faults:
                fault, remaining = entry
                if remaining <= 0:
                    continue
                if fault.get("op") not in (None, op):
                    continue
                if fault.get("part") is not None and str(fault["part"]) != str(part):
                    continue
                if fault.get("pathname_contains") and fault["pathname_contains"] not in (pathname or ""):
                    continue
                entry[1] = remaining - 1
                self.faults = [e for e in self.faults if e[1] > 0]
                return fault
            return None


def random_suffix(pathname):
    alphabet = string.ascii_letters + string.digits
    suffix = "-" + "".join(secrets.choice(alphabet) for _ in range(30))
    head, slash, name = pathname.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    name = (stem + suffix + "." + ext) if dot and stem else (name + suffix)
    return head + slash + name


def encode_cursor(pathname):
    return base64.urlsafe_b64encode(pathname.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor):
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "Invalid cursor")


def make_handler(state, store, token, prefix):
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 so "Expect: 100-continue" is answered at once (libcurl sends it for large
        # bodies), but one request per connection: a dropped or lost response then never hits a
        # reused connection (which libcurl would silently retry).
        protocol_version = "HTTP/1.1"
        server_version = "VercelBlobStandIn/1"

        def log_message(self, fmt, *args):  # quiet
            pass

        # --- plumbing --------------------------------------------------------------------

        def _read_body(self, limit=None):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            if limit is not None:
                n = min(n, limit)
            return self.rfile.read(n) if n > 0 else b""

        def _send(self, status, body=b"", content_type=None, headers=()):
            self.close_connection = True
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status, value, headers=()):
            self._send(status, json.dumps(value).encode("utf-8"), "application/json", headers)

        def _close_without_answer(self):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        # --- control ---------------------------------------------------------------------

        def _control(self, route):
            m = self.command
            if m == "GET" and route == "/_standin/stats":
                with state.lock:
                    return self._json(200, {
                        "requests": state.requests, "by_status": dict(state.by_status), "by_op": dict(state.by_op),
                        "writes": dict(state.writes), "dropped": state.dropped, "lost_responses": state.lost_responses,
                        "with_authorization": state.with_authorization, "stray": state.stray,
                        "stray_with_authorization": state.stray_with_authorization, "api_versions": dict(state.api_versions),
                        "last_headers": dict(state.last_headers)})
            if m == "GET" and route == "/_standin/requests":
                with state.lock:
                    return self._json(200, list(state.log))
            if m == "GET" and route == "/_standin/blobs":
                with store.lock:
                    metas = sorted(store.index.values(), key=lambda x: x["pathname"])
                    return self._json(200, [dict(mm, url=store.url(mm["pathname"])) for mm in metas])
            if m == "POST" and route == "/_standin/reset":
                body = self._read_body()
                with state.lock:
                    state.reset()
                try:
                    if json.loads(body or b"{}").get("blobs"):
                        store.clear()
                except ValueError:
                    pass
                return self._json(200, {"ok": True})
            if m == "POST" and route == "/_standin/fault":
                try:
                    fault = json.loads(self._read_body() or b"{}")
                    if fault["mode"] not in ("status", "delay", "drop", "lose_response", "huge"):
                        raise ValueError("mode")
                    if fault["mode"] == "status":
                        int(fault["status"])
                    if fault["mode"] == "delay":
                        float(fault["ms"])
                    if fault["mode"] == "huge":
                        int(fault["bytes"])
                    count = int(fault.get("count", 1))
                except (ValueError, KeyError, TypeError):
                    return self._json(400, {"error": "bad fault"})
                with state.lock:
                    state.faults.append([fault, count])
                return self._json(200, {"ok": True})
            return self._json(404, {"error": "no such control endpoint"})

        # --- delivery (the blob hosts) ---------------------------------------------------

        def _deliver(self, host):
            want = "%s.%s%s" % (store.store_id.lower(), store.access, DELIVERY_SUFFIX)
            parts = urlsplit(self.path)
            meta = store.get(unquote(parts.path)[1:]) if host == want else None
            if meta is not None and store.access == "private" and self.headers.get("authorization") != "Bearer " + token:
                meta = None
            if meta is None or self.command not in ("GET", "HEAD"):
                return self._send(404, b"Not Found", "text/plain")
            if self.headers.get("If-None-Match") == meta["etag"]:
                return self._send(304, headers=[("ETag", meta["etag"])])
            download = ("download", "1") in parse_qsl(parts.query)
            body = store.read(meta["pathname"])
            uploaded = datetime.datetime.strptime(meta["uploadedAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
            return self._send(200, body, meta["contentType"], headers=[
                ("Cache-Control", meta["cacheControl"]), ("ETag", meta["etag"]),
                ("Last-Modified", formatdate(uploaded.timestamp(), usegmt=True)),
                ("Content-Disposition", store.disposition(meta, download))])

        # --- the API ---------------------------------------------------------------------

        def _op(self, rest, params):
            m = self.command
            if rest in ("", "/"):
                if m == "PUT":
                    return "copy" if "fromUrl" in params else "put"
                if m == "GET":
                    return "head" if "url" in params else "list"
            if rest == "/delete" and m == "POST":
                return "delete"
            if rest == "/rename" and m == "POST":
                return "rename"
            if rest == "/mpu" and m == "POST":
                return "mpu-" + (self.headers.get("x-mpu-action") or "?")
            return None

        def _api(self, rest, query):
            params = dict(parse_qsl(query, keep_blank_values=True))
            op = self._op(rest, params)
            pathname = params.get("pathname") or params.get("url")
            part = self.headers.get("x-mpu-part-number") if op == "mpu-upload" else None
            headers = {k.lower(): ("<present>" if k.lower() == "authorization" else v) for k, v in self.headers.items()}
            with state.lock:
                state.requests += 1
                state.by_op[op or "?"] = state.by_op.get(op or "?", 0) + 1
                state.last_headers[op or "?"] = headers
                if "authorization" in headers:
                    state.with_authorization += 1
                v = self.headers.get("x-api-version")
                if v is not None:
                    state.api_versions[v] = state.api_versions.get(v, 0) + 1
            entry = {"op": op, "method": self.command, "pathname": pathname, "part": part, "headers": headers}

            fault = state.take_fault(op, pathname, part)
            mode = fault["mode"] if fault else None
            if mode == "drop":
                self._read_body(limit=int(self.headers.get("Content-Length") or 0) // 2)
                with state.lock:
                    state.dropped += 1
                    state.log.append(dict(entry, status="dropped"))
                return self._close_without_answer()
            if mode == "delay":
                time.sleep(float(fault["ms"]) / 1000.0)
            body = self._read_body()
            if mode == "huge":
                # An endpoint that sends far more than any answer holds (a wrong URL, a broken
                # or hostile server): a client must stop reading, not hold it all.
                self._record(entry, 200)
                return self._send_huge(int(fault["bytes"]), fault.get("declared", True))
            if mode == "status":
                status = int(fault["status"])
                extra = [("Retry-After", str(fault["retry_after"]))] if fault.get("retry_after") is not None else []
                if fault.get("location"):
                    extra.append(("Location", str(fault["location"])))
                self._record(entry, status)
                if fault.get("plain"):
                    return self._send(status, b"Internal Server Error", "text/plain", extra)
                code = fault.get("code") or DEFAULT_CODES.get(status, "unknown_error")
                return self._json(status, {"error": {"code": code, "message": fault.get("message", "stand-in fault")}}, extra)
            try:
                status, value = self._handle(op, rest, params, body)
            except ApiError as e:
                self._record(entry, e.status)
                return self._json(e.status, {"error": {"code": e.code, "message": e.message}})
            if mode == "lose_response":
                with state.lock:
                    state.lost_responses += 1
                self._record(entry, "lost")
                return self._close_without_answer()
            self._record(entry, status)
            return self._json(status, value)

        def _send_huge(self, size, declared):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if declared:
                self.send_header("Content-Length", str(size))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            chunk = b" " * 65536
            try:
                while size > 0:
                    n = min(size, len(chunk))
                    self.wfile.write(chunk[:n])
                    size -= n
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _record(self, entry, status):
            with state.lock:
                state.by_status[str(status)] = state.by_status.get(str(status), 0) + 1
                state.log.append(dict(entry, status=status))

        def _wrote(self, pathname):
            with state.lock:
                state.writes[pathname] = state.writes.get(pathname, 0) + 1

        def _handle(self, op, rest, params, body):
            if self.headers.get("authorization") != "Bearer " + token:
                raise ApiError(403, "forbidden", "Invalid token")
            version = self.headers.get("x-api-version")
            if version is None or not version.isdigit():
                raise ApiError(400, "bad_request", "Missing or invalid x-api-version header")
            if op is None:
                raise ApiError(404, "not_found", "No such API route: %s %s" % (self.command, rest or "/"))
            if op in ("put", "copy", "rename") or op.startswith("mpu-"):
                self._check_access()
            if op == "put":
                return 200, self._put(params, body)
            if op == "copy":
                return 200, self._copy(params)
            if op == "rename":
                result = self._copy(params)
                source = store.pathname_of(params["fromUrl"])
                if source != result["pathname"]:
                    store.delete(source)
                return 200, result
            if op == "head":
                pathname = store.pathname_of(params["url"])
                meta = store.get(pathname) if pathname else None
                if meta is None:
                    raise ApiError(404, "not_found", "The requested blob does not exist")
                return 200, store.head_result(meta)
            if op == "list":
                return 200, self._list(params)
            if op == "delete":
                return 200, self._delete(body)
            if op == "mpu-create":
                return 200, self._mpu_create(params)
            if op == "mpu-upload":
                return 200, self._mpu_upload(body)
            if op == "mpu-complete":
                return 200, self._mpu_complete(body)
            raise ApiError(400, "bad_request", "Unknown x-mpu-action")

        def _check_access(self):
            access = self.headers.get("x-vercel-blob-access")
            if access not in ("public", "private"):
                raise ApiError(400, "bad_request", "x-vercel-blob-access must be public or private")
            if access != store.access:
                raise ApiError(400, "bad_request", "The access %s does not match the store's access (%s)" % (access, store.access))

        def _options(self, pathname):
            """(final pathname, content type, max-age) from the put headers; checks overwrite."""
            pathname = check_pathname(pathname)
            if self.headers.get("x-add-random-suffix") == "1":
                pathname = random_suffix(pathname)
            ct = self.headers.get("x-content-type") or mimetypes.guess_type(pathname)[0] or "application/octet-stream"
            age = self.headers.get("x-cache-control-max-age")
            try:
                max_age = int(age) if age is not None else DEFAULT_MAX_AGE
                if max_age < 0:
                    raise ValueError
            except ValueError:
                raise ApiError(400, "bad_request", "x-cache-control-max-age must be a whole number of seconds")
            return pathname, ct, max_age

        def _check_overwrite(self, pathname):
            existing = store.get(pathname)
            if existing is not None and self.headers.get("x-allow-overwrite") != "1":
                raise ApiError(400, "bad_request", ALREADY_EXISTS)
            match = self.headers.get("x-if-match")
            if match is not None and (existing is None or existing["etag"] != match):
                raise ApiError(412, "precondition_failed", "The ETag does not match")

        def _put(self, params, body):
            if "pathname" not in params:
                raise ApiError(400, "bad_request", "pathname is required")
            pathname, ct, max_age = self._options(params["pathname"])
            with store.lock:
                self._check_overwrite(pathname)
                meta = store.write(pathname, body, ct, max_age)
            self._wrote(pathname)
            return store.put_result(meta)

        def _copy(self, params):
            source = store.pathname_of(params.get("fromUrl", ""))
            src = store.get(source) if source else None
            if src is None:
                raise ApiError(404, "not_found", "The requested blob does not exist")
            match = self.headers.get("x-if-match")
            if match is not None and src["etag"] != match:
                raise ApiError(412, "precondition_failed", "The ETag does not match")
            pathname, ct, max_age = self._options(params.get("pathname", ""))
            if not self.headers.get("x-content-type"):
                ct = mimetypes.guess_type(pathname)[0] or "application/octet-stream"
            data = store.read(source)
            with store.lock:
                existing = store.get(pathname)
                if existing is not None and self.headers.get("x-allow-overwrite") != "1":
                    raise ApiError(400, "bad_request", ALREADY_EXISTS)
                meta = store.write(pathname, data, ct, max_age)
            self._wrote(pathname)
            return store.put_result(meta)

        def _list(self, params):
            try:
                limit = int(params.get("limit", "1000"))
            except ValueError:
                raise ApiError(400, "bad_request", "limit must be a number")
            if not 1 <= limit <= 1000:
                raise ApiError(400, "bad_request", "limit must be between 1 and 1000")
            prefix = params.get("prefix", "")
            mode = params.get("mode", "expanded")
            if mode not in ("expanded", "folded"):
                raise ApiError(400, "bad_request", "mode must be expanded or folded")
            after = decode_cursor(params["cursor"]) if params.get("cursor") else None
            with store.lock:
                metas = sorted((mm for p, mm in store.index.items() if p.startswith(prefix)), key=lambda x: x["pathname"])
            entries = []  # (sort key, blob meta or folder)
            seen = set()
            for mm in metas:
                rest_ = mm["pathname"][len(prefix):]
                if mode == "folded" and "/" in rest_:
                    folder = prefix + rest_.split("/", 1)[0] + "/"
                    if folder not in seen:
                        seen.add(folder)
                        entries.append((folder, None))
                else:
                    entries.append((mm["pathname"], mm))
            if after is not None:
                entries = [e for e in entries if e[0] > after]
            page, more = entries[:limit], len(entries) > limit
            result = {"blobs": [store.list_entry(mm) for _, mm in page if mm is not None], "hasMore": more}
            if more:
                result["cursor"] = encode_cursor(page[-1][0])
            if mode == "folded":
                result["folders"] = [k for k, mm in page if mm is None]
            return result

        def _delete(self, body):
            try:
                urls = json.loads(body or b"null")["urls"]
                if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "bad_request", 'The body must be {"urls": [...]}')
            if not 1 <= len(urls) <= 1000:
                raise ApiError(400, "bad_request", "Between 1 and 1000 urls per request")
            match = self.headers.get("x-if-match")
            if match is not None:
                if len(urls) != 1:
                    raise ApiError(400, "bad_request", "x-if-match works with one url only")
                meta = store.get(store.pathname_of(urls[0]) or "")
                if meta is None or meta["etag"] != match:
                    raise ApiError(412, "precondition_failed", "The ETag does not match")
            for u in urls:
                p = store.pathname_of(u)
                if p:
                    store.delete(p)
            return {}

        # --- multipart -------------------------------------------------------------------

        def _upload(self):
            upload_id = self.headers.get("x-mpu-upload-id")
            with store.lock:
                upload = store.uploads.get(upload_id)
            if upload is None:
                raise ApiError(400, "bad_request", "Unknown multipart upload id")
            key = self.headers.get("x-mpu-key")
            if key is None or unquote(key) != upload["key"]:
                raise ApiError(400, "bad_request", "x-mpu-key does not match the upload")
            return upload_id, upload

        def _mpu_create(self, params):
            if "pathname" not in params:
                raise ApiError(400, "bad_request", "pathname is required")
            pathname, ct, max_age = self._options(params["pathname"])
            with store.lock:
                self._check_overwrite(pathname)
                upload_id = secrets.token_urlsafe(24)
                # The key is the object's key in the bucket: the pathname, prefixed like a store's.
                key = "%s/%s" % (store.store_id, pathname)
                store.uploads[upload_id] = {"key": key, "pathname": pathname, "contentType": ct, "maxAge": max_age, "parts": {}}
                os.makedirs(os.path.join(store.folder, "mpu", upload_id), exist_ok=True)
            return {"uploadId": upload_id, "key": key}

        def _mpu_upload(self, body):
            upload_id, upload = self._upload()
            try:
                number = int(self.headers.get("x-mpu-part-number", ""))
            except ValueError:
                number = 0
            if not 1 <= number <= 10000:
                raise ApiError(400, "bad_request", "x-mpu-part-number must be 1..10000")
            if not body:
                raise ApiError(400, "bad_request", "A part cannot be empty")
            etag = '"%s"' % hashlib.md5(body).hexdigest()
            path = os.path.join(store.folder, "mpu", upload_id, str(number))
            with open(path + ".tmp", "wb") as f:
                f.write(body)
            os.replace(path + ".tmp", path)
            with store.lock:
                upload["parts"][number] = {"etag": etag, "size": len(body)}
            return {"etag": etag}

        def _mpu_complete(self, body):
            upload_id, upload = self._upload()
            try:
                parts = json.loads(body or b"null")
                if not isinstance(parts, list) or not parts:
                    raise ValueError
                listed = sorted(((int(p["partNumber"]), p["etag"]) for p in parts), key=lambda x: x[0])
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "bad_request", 'The body must be [{"partNumber": n, "etag": "..."}, ...]')
            if len({n for n, _ in listed}) != len(listed):
                raise ApiError(400, "bad_request", "A part number is listed twice")
            sizes = []
            for n, etag in listed:
                got = upload["parts"].get(n)
                if got is None or got["etag"] != etag:
                    raise ApiError(400, "bad_request", "Part %d was not uploaded, or its etag does not match" % n)
                sizes.append(got["size"])
            if any(s < MIN_PART for s in sizes[:-1]):
                raise ApiError(400, "bad_request", "Every part but the last must be at least 5 MiB")
            if len(set(sizes[:-1])) > 1:
                raise ApiError(400, "bad_request", "All parts must be the same size, except for the last part")
            data = bytearray()
            for n, _ in listed:
                with open(os.path.join(store.folder, "mpu", upload_id, str(n)), "rb") as f:
                    data += f.read()
            pathname = upload["pathname"]
            with store.lock:
                existing = store.get(pathname)
                if existing is not None and self.headers.get("x-allow-overwrite") != "1":
                    raise ApiError(400, "bad_request", ALREADY_EXISTS)
                meta = store.write(pathname, bytes(data), upload["contentType"], upload["maxAge"])
                store.uploads.pop(upload_id, None)
            shutil.rmtree(os.path.join(store.folder, "mpu", upload_id), ignore_errors=True)
            self._wrote(pathname)
            return store.put_result(meta)

        # --- dispatch --------------------------------------------------------------------

        def _dispatch(self):
            parts = urlsplit(self.path)
            route = parts.path
            if route.startswith("/_standin/"):
                return self._control(route)
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            if host.endswith(DELIVERY_SUFFIX):
                self._read_body()
                return self._deliver(host)
            if route == prefix or route.startswith(prefix + "/"):
                return self._api(route[len(prefix):], parts.query)
            self._read_body()
            with state.lock:
                state.stray += 1
                if self.headers.get("authorization") is not None:
                    state.stray_with_authorization += 1
            return self._json(404, {"error": {"code": "not_found", "message": "Not found"}})

        def do_GET(self):
            self._dispatch()

        def do_HEAD(self):
            self._dispatch()

        def do_PUT(self):
            self._dispatch()

        def do_POST(self):
            self._dispatch()

        def do_DELETE(self):
            self._dispatch()

    return Handler


def serve(token, host="127.0.0.1", port=0, access="public", folder=None, prefix="/api/blob"):
    """Starts the stand-in in a background thread; returns (server, state, store)."""
    store_id = store_from_token(token)
    state = State()
    store = Store(folder, store_id, access)
    prefix = "/" + prefix.strip("/")
    server = ThreadingHTTPServer((host, port), make_handler(state, store, token, prefix))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, state, store


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default=os.environ.get("BLOB_READ_WRITE_TOKEN"))
    ap.add_argument("--access", choices=("public", "private"), default="public")
    ap.add_argument("--dir")
    ap.add_argument("--prefix", default="/api/blob")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args(argv)
    if not args.token:
        ap.error("give --token or set BLOB_READ_WRITE_TOKEN (vercel_blob_rw_<store id>_<secret>)")
    try:
        store_from_token(args.token)
    except ValueError:
        ap.error("the token must look like vercel_blob_rw_<store id>_<secret>")
    # A parent may have started us with signals blocked (threads of Swift's and libdispatch's
    # pools block them, and a spawned child inherits the mask): make SIGTERM/SIGINT work.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    folder = args.dir or tempfile.mkdtemp(prefix="vercel-blob-standin-")
    os.makedirs(folder, exist_ok=True)
    server, _, _ = serve(args.token, args.host, args.port, args.access, folder, args.prefix)
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        if args.exit_on_stdin_eof:
            while sys.stdin.buffer.read(4096):
                pass
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
