"""The `serve` benchmark (issue 15), against a running binary on loopback; bounded in time.

1. wrk: `GET /healthz` and `POST /api/design` with valid JWTs (100 users, the limiter on with a
   limit none of them reaches, so every request is authenticated, counted and appended), on the
   same server in the same run: requests/s and p99, and the ratio.
2. SSE fan-out: N subscribers (default 1000) to one job's stream, all receiving every message;
   for each message, the time from its append (the event's recorded_at) to each subscriber's
   receipt, and to the last subscriber's (p50, p99).

    JOBLEDGER_BIN=.build/release/jobledger python3 Fixtures/serve-e2e/bench_serve.py [--subscribers 1000] [--seconds 10]
"""
import argparse
import asyncio
import json
import os
import re
import resource
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
counter = 0
request = function()
  counter = counter + 1
  local t = tokens[(counter % #tokens) + 1]
  return wrk.format("POST", "/api/design", {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"},
                    '{"input":{"prompt":"a red bicycle"}}')
end
"""
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    f.write(lua)
    f.close()
    return f.name


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


async def subscriber(host, port, path, auth, received, ready):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {auth}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    ready.release()
    got = []
    while True:
        line = await reader.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            m = json.loads(line[6:])
            got.append((m["seq"], time.time()))
            if m["state"] in ("completed", "failed", "canceled"):
                break
    writer.close()
    received.append(got)


async def fanout_now(url, n, auth):
    host, port = re.match(r"http://([^:]+):(\d+)", url).groups()
    # The job is delayed by a few seconds so all subscribers are connected before it starts.
    run_at = datetime.utcfromtimestamp(time.time() + 3 + n / 400).strftime("%Y-%m-%dT%H:%M:%SZ")
    req = urllib.request.Request(url + "/api/design", method="POST", headers={"Authorization": f"Bearer {auth}"},
                                 data=json.dumps({"input": {"prompt": "fan-out"}, "run_at": run_at}).encode())
    job = json.loads(urllib.request.urlopen(req).read())["id"]
    received, ready = [], asyncio.Semaphore(0)
    tasks = [asyncio.create_task(subscriber(host, int(port), f"/api/jobs/{job}/stream", auth, received, ready)) for _ in range(n)]
    for _ in range(n):
        await ready.acquire()
    connected = time.time()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    events = json.loads(urllib.request.urlopen(urllib.request.Request(url + f"/api/jobs/{job}/events",
                                                                      headers={"Authorization": f"Bearer {auth}"})).read())["events"]
    appended = {e["seq"]: datetime.strptime(e["recorded_at"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() + 0 for e in events}
    return job, received, appended, connected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    tokens = [token(f"user_{i}") for i in range(100)]
    with Server("--workers", "0", env={"JOBLEDGER_RATE_LIMIT": "1000000/60s"}) as s:
        h_rps, h_p99, h_bad, _ = wrk(s.url + "/healthz", a.seconds, a.connections)
        p_rps, p_p99, p_bad, out = wrk(s.url + "/api/design", a.seconds, a.connections, submit_script(tokens))
        print(f"GET /healthz:      {h_rps:10.0f} req/s  p99 {h_p99:7.2f} ms  non-2xx {h_bad}")
        print(f"POST /api/design:  {p_rps:10.0f} req/s  p99 {p_p99:7.2f} ms  non-2xx {p_bad}  (JWT + limiter + append)")
        print(f"ratio submit/healthz: {p_rps / h_rps:.2f}")
        s.stop()
    with Server("--workers", "1", "--step-ms", "100", "--fail-rate", "0", env={"JOBLEDGER_RATE_LIMIT": "1000000/60s"}) as s:
        job, received, appended, _ = asyncio.run(fanout_now(s.url, a.subscribers, tokens[0]))
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
