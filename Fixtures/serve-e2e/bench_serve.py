"""The `serve` benchmark (issue 15), against a running binary on loopback; bounded in time.

1. wrk: `GET /healthz` and `POST /api/design` with valid JWTs (100 users, the limiter on with a
   limit none of them reaches, so every request is authenticated, counted and appended), on the
   same server in the same run: requests/s and p99, and the ratio.
2. SSE fan-out: N subscribers (default 1000) to one job's stream, all receiving every message;
   for each message, the time from its append (the event's recorded_at) to each subscriber's
   receipt, and to the last subscriber's (p50, p99).

    JOBLEDGER_BIN=.build/release/jobledger python3 Fixtures/serve-e2e/bench_serve.py [--subscribers 1000] [--seconds 10] [--only wrk|fanout]
"""
import argparse
import json
import os
import re
import resource
import selectors
import socket
import subprocess
import tempfile
import time
import urllib.request
from datetime import datetime

from serve_process import Server, token


def wrk(url, seconds, connections, script=None):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"] + (["-s", script] if script else []) + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, float(p99.group(1)) * scale, int(non2xx.group(1)) if non2xx else 0, out


def submit_script(tokens):
    lua = "tokens = {" + ",".join(f'"{t}"' for t in tokens) + "}\n" + """
-- One request per user, formatted once per wrk thread (as wrk's docs advise): formatting it again
-- for every request cost wrk more CPU than the server's own /healthz handling, on the cores the
-- server shares with it.
counter = 0
requests = {}
init = function(args)
  for i, t in ipairs(tokens) do
    requests[i] = wrk.format("POST", "/api/design", {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"},
                             '{"input":{"prompt":"a red bicycle"}}')
  end
end
request = function()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end
"""
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    f.write(lua)
    f.close()
    return f.name


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


TERMINAL = re.compile(rb'"state":"(completed|failed|canceled)"')
EVENT_ID = re.compile(rb"(?m)^id: (\d+)$")


def fanout_now(url, n, auth):
    """N subscribers on raw non-blocking sockets, read by one epoll loop: each chunk is stamped
    as it arrives and only scanned for `id:` lines (no JSON parsing, no asyncio streams), so the
    client's own cost per message stays small beside the server's."""
    host, port = re.match(r"http://([^:]+):(\d+)", url).groups()
    # The job is delayed by a few seconds so all subscribers are connected before it starts.
    run_at = datetime.utcfromtimestamp(time.time() + 3 + n / 400).strftime("%Y-%m-%dT%H:%M:%SZ")
    req = urllib.request.Request(url + "/api/design", method="POST", headers={"Authorization": f"Bearer {auth}", "Content-Type": "application/json"},
                                 data=json.dumps({"input": {"prompt": "fan-out"}, "run_at": run_at}).encode())
    job = json.loads(urllib.request.urlopen(req).read())["id"]
    # Each subscriber is a different viewer (an admin, who may watch any job): the server holds
    # one caller to a few open streams (--max-streams-per-user).
    def request(i):
        viewer = token(sub=f"viewer_{i}", role="admin")
        return (f"GET /api/jobs/{job}/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {viewer}\r\n"
                "Accept: text/event-stream\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    state = {}
    for i in range(n):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(request(i))
        sock.setblocking(False)
        state[sock] = {"got": [], "tail": b"", "done": False}
        sel.register(sock, selectors.EVENT_READ)
    connected = time.time()
    open_ = n
    deadline = time.time() + 120
    while open_ and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            sock = key.fileobj
            data = sock.recv(65536)
            now = time.time()
            st = state[sock]
            if data:
                chunk = st["tail"] + data
                cut = chunk.rfind(b"\n\n")
                if cut < 0:
                    st["tail"] = chunk
                    continue
                whole, st["tail"] = chunk[:cut + 2], chunk[cut + 2:]
                for m in EVENT_ID.finditer(whole):
                    st["got"].append((int(m.group(1)), now))
                if TERMINAL.search(whole):
                    st["done"] = True
            if not data or st["done"]:
                sel.unregister(sock)
                sock.close()
                open_ -= 1
    received = [st["got"] for st in state.values()]
    events = json.loads(urllib.request.urlopen(urllib.request.Request(url + f"/api/jobs/{job}/events",
                                                                      headers={"Authorization": f"Bearer {auth}"})).read())["events"]
    appended = {e["seq"]: datetime.strptime(e["recorded_at"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() + 0 for e in events}
    return job, received, appended, connected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--only", choices=["wrk", "fanout"], help="run one part only")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    tokens = [token(f"user_{i}") for i in range(100)]
    if a.only != "fanout":
        wrk_part(a, tokens)
    if a.only != "wrk":
        fanout_part(a, tokens)


def wrk_part(a, tokens):
    with Server("--workers", "0", env={"JOBLEDGER_RATE_LIMIT": "1000000/60s"}) as s:
        h_rps, h_p99, h_bad, _ = wrk(s.url + "/healthz", a.seconds, a.connections)
        p_rps, p_p99, p_bad, out = wrk(s.url + "/api/design", a.seconds, a.connections, submit_script(tokens))
        print(f"GET /healthz:      {h_rps:10.0f} req/s  p99 {h_p99:7.2f} ms  non-2xx {h_bad}")
        print(f"POST /api/design:  {p_rps:10.0f} req/s  p99 {p_p99:7.2f} ms  non-2xx {p_bad}  (JWT + limiter + append)")
        print(f"ratio submit/healthz: {p_rps / h_rps:.2f}")
        s.stop()


def fanout_part(a, tokens):
    with Server("--workers", "1", "--step-ms", "100", "--fail-rate", "0", env={"JOBLEDGER_RATE_LIMIT": "1000000/60s"}) as s:
        job, received, appended, _ = fanout_now(s.url, a.subscribers, tokens[0])
        seqs = sorted({seq for got in received for seq, _ in got})
        complete = sum(1 for got in received if [q for q, _ in got] == seqs)
        lat = [(t - appended[seq]) * 1000 for got in received for seq, t in got if seq in appended and seq > min(seqs)]
        last = [max((t for got in received for q, t in got if q == seq)) - appended[seq] for seq in seqs[1:] if seq in appended]
        last = [x * 1000 for x in last]
        print(f"SSE fan-out: {a.subscribers} subscribers, {len(seqs)} messages each; {complete} received every message")
        print(f"  append → a subscriber:      p50 {percentile(lat, 50):6.1f} ms  p99 {percentile(lat, 99):6.1f} ms  ({len(lat)} deliveries)")
        print(f"  append → last subscriber:   p50 {percentile(last, 50):6.1f} ms  p99 {percentile(last, 99):6.1f} ms  ({len(last)} messages)")
        # Split at the hub: when the broadcast projection handed each message over (sent_at).
        import sqlite3
        db = sqlite3.connect(s.db)
        sent = {seq: at / 1000 for seq, at in db.execute("SELECT seq, sent_at FROM outbox WHERE projection = 'broadcast' AND job_id = ? AND sent_at IS NOT NULL", (job,))}
        proj = [(sent[q] - appended[q]) * 1000 for q in seqs[1:] if q in sent and q in appended]
        fan = [max(t for got in received for x, t in got if x == q) * 1000 - sent[q] * 1000 for q in seqs[1:] if q in sent]
        print(f"  append → handed to the hub: p50 {percentile(proj, 50):6.1f} ms  max {max(proj):6.1f} ms  (the projection)")
        print(f"  hub → last subscriber:      p50 {percentile(fan, 50):6.1f} ms  p99 {percentile(fan, 99):6.1f} ms  (the fan-out)")
        s.stop()


if __name__ == "__main__":
    main()
