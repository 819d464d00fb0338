#!/usr/bin/env python3
"""huey's burn-down of a backlog of no-op tasks, beside JobLedger's engine burn-down, in one run.

huey side: a SqliteHuey on a fresh file in a temporary folder and a no-op task. One child process
enqueues N tasks by calling the task, one call per task (timed on its own). For each worker count
a copy of that file is burnt down in another child process by huey's own Consumer with thread
workers (huey_consumer's defaults otherwise, logging at WARNING as with --quiet); the clock runs
from just before the consumer starts until the last task's SIGNAL_COMPLETE.

JobLedger side: `jobledger bench --only engine --engine-jobs N --json` (Docs/Architecture.md
§ Benchmarks, "Engine burn-down"). Its jobs/s counts the submits and the burn-down together, so
the table shows huey both ways: the consumer alone, and enqueue plus consumer.

The two sides alternate for --rounds rounds and medians are reported. Every child has a timeout.
huey is not installed by this script: see Fixtures/peers/README.md.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def import_huey():
    try:
        import huey
    except ImportError:
        sys.exit("huey_burndown: huey is not installed. Install the pinned version with\n"
                 "  pip install -r Fixtures/peers/requirements.txt\n"
                 "or make the project's venv (bash Fixtures/setup-venv.sh) and run this script with its python.")
    return huey


def make_huey(path, synchronous):
    """synchronous "full" is huey's own setting (SQLite's default: huey sets none, unless given
    fsync); "normal" is JobLedger's, for the same durability on both sides: huey has no option
    for it, so a storage subclass sets it on each connection, as a user would have to."""
    from huey import SqliteHuey
    from huey.storage import SqliteStorage

    class NormalSyncStorage(SqliteStorage):
        def _create_connection(self):
            conn = super()._create_connection()
            conn.execute("pragma synchronous=NORMAL")
            return conn

    class NormalSyncHuey(SqliteHuey):
        storage_class = NormalSyncStorage

    h = (SqliteHuey if synchronous == "full" else NormalSyncHuey)("bench", filename=path)

    @h.task()
    def noop():
        pass
    return h, noop


def child_enqueue(path, n, synchronous):
    h, noop = make_huey(path, synchronous)
    t0 = time.perf_counter()
    for _ in range(n):
        noop()
    seconds = time.perf_counter() - t0
    queued = h.pending_count()
    h.storage.close()
    print(json.dumps({"seconds": seconds, "queued": queued}))


def child_consume(path, n, synchronous, workers, timeout):
    from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR
    h, _ = make_huey(path, synchronous)
    lock, done = threading.Lock(), threading.Event()
    state = {"completed": 0, "errors": 0, "end": None}

    @h.signal(SIGNAL_COMPLETE)
    def completed(signal_name, task):
        with lock:
            state["completed"] += 1
            if state["completed"] == n:
                state["end"] = time.perf_counter()
                done.set()

    @h.signal(SIGNAL_ERROR)
    def failed(signal_name, task, exc=None):
        with lock:
            state["errors"] += 1
        done.set()

    consumer = h.create_consumer(workers=workers, worker_type="thread")
    t0 = time.perf_counter()
    consumer.start()
    finished = done.wait(timeout)
    consumer.stop(graceful=True)
    result = {"completed": state["completed"], "errors": state["errors"], "left": h.pending_count()}
    if finished and state["end"] is not None:
        result["seconds"] = state["end"] - t0
    print(json.dumps(result))


def run(cmd, timeout, echo_stderr=False):
    """Runs a child in its own process group; kills the whole group if it outlives `timeout`."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        sys.exit(f"huey_burndown: timed out after {timeout:.0f} s: {' '.join(cmd)}")
    if p.returncode != 0:
        sys.exit(f"huey_burndown: failed (exit {p.returncode}): {' '.join(cmd)}\n{err.strip()}")
    if echo_stderr and err.strip():
        print(err.rstrip(), file=sys.stderr)  # huey's own warnings and errors, if it logged any
    return out


def remove_db(path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def huey_round(folder, n, synchronous, worker_counts, timeout):
    """One enqueue of n tasks, then one burn-down of a copy of it per worker count."""
    me = [sys.executable, os.path.abspath(__file__), "--synchronous", synchronous]
    template = os.path.join(folder, f"backlog-{n}.db")
    enq = json.loads(run(me + ["--child-enqueue", template, "-n", str(n)], timeout))
    if enq["queued"] != n:
        sys.exit(f"huey_burndown: enqueued {n} tasks but huey holds {enq['queued']}")
    runs = {}
    for w in worker_counts:
        db = os.path.join(folder, f"run-{n}-{w}.db")
        for suffix in ("", "-wal"):  # closing huey's last connection checkpoints; a WAL left over is copied too
            if os.path.exists(template + suffix):
                shutil.copyfile(template + suffix, db + suffix)
        res = json.loads(run(me + ["--child-consume", db, "-n", str(n), "--workers", str(w),
                                   "--timeout", str(timeout)], timeout + 30, echo_stderr=True))
        if "seconds" not in res or res["completed"] != n or res["left"] != 0:
            sys.exit(f"huey_burndown: huey with {w} workers did not finish {n} tasks: {res}")
        runs[w] = res["seconds"]
        remove_db(db)
    remove_db(template)
    return enq["seconds"], runs


def ours(binary, n, timeout):
    out = run([binary, "bench", "--only", "engine", "--engine-jobs", str(n), "--json"], timeout)
    rows = [b for b in json.loads(out)["benchmarks"] if b.get("name") == "engine burn-down" and b["jobs"] == n]
    if not rows:
        sys.exit(f"huey_burndown: no engine burn-down row for {n} jobs in: {out.strip()}")
    return rows[0]["jobs_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backlogs", default="5000,50000", help="comma-separated backlog sizes (default 5000,50000)")
    ap.add_argument("--workers", default="1,4,8,16", help="huey thread-worker counts to try (default 1,4,8,16)")
    ap.add_argument("--huey-synchronous", default="full,normal",
                    help="huey's SQLite synchronous settings to measure: full (huey's default), normal "
                         "(JobLedger's) (default full,normal)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds alternating the two sides (default 3)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed for each child process (default 600)")
    ap.add_argument("--child-enqueue", metavar="DB", help=argparse.SUPPRESS)
    ap.add_argument("--child-consume", metavar="DB", help=argparse.SUPPRESS)
    ap.add_argument("-n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--synchronous", choices=["full", "normal"], help=argparse.SUPPRESS)
    args = ap.parse_args()

    huey = import_huey()
    if args.child_enqueue:
        return child_enqueue(args.child_enqueue, args.n, args.synchronous)
    if args.child_consume:
        return child_consume(args.child_consume, args.n, args.synchronous, int(args.workers), args.timeout)

    backlogs = [int(x) for x in args.backlogs.split(",")]
    worker_counts = [int(x) for x in args.workers.split(",")]
    settings = args.huey_synchronous.split(",")
    if any(x not in ("full", "normal") for x in settings):
        sys.exit("huey_burndown: --huey-synchronous takes full, normal or both")
    binary = os.environ.get("JOBLEDGER_BIN") or shutil.which("jobledger")
    if not binary or not os.access(binary, os.X_OK):
        sys.exit(f"huey_burndown: no jobledger binary{' at ' + binary if binary else ''}: "
                 "set JOBLEDGER_BIN to a release build or put jobledger on PATH")

    import sqlite3
    print(f"huey {huey.__version__}, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version} (Python's); "
          f"jobledger: {binary}", file=sys.stderr)
    keys = [(n, sync) for n in backlogs for sync in settings]
    enqueue = {k: [] for k in keys}                              # seconds, one per round
    consume = {k: {w: [] for w in worker_counts} for k in keys}  # seconds, one per round
    ours_rate = {n: [] for n in backlogs}                        # jobs/s, one per round
    folder = tempfile.mkdtemp(prefix="huey-burndown-")
    try:
        for r in range(args.rounds):
            for n in backlogs:
                def huey_side():
                    for sync in settings:
                        print(f"round {r + 1}/{args.rounds}: huey, {n} tasks, synchronous {sync}, "
                              f"workers {args.workers} …", file=sys.stderr)
                        e, runs = huey_round(folder, n, sync, worker_counts, args.timeout)
                        enqueue[n, sync].append(e)
                        for w, s in runs.items():
                            consume[n, sync][w].append(s)

                def ours_side():
                    print(f"round {r + 1}/{args.rounds}: jobledger, {n} jobs …", file=sys.stderr)
                    ours_rate[n].append(ours(binary, n, args.timeout))
                # Alternate which side goes first, so that drift in the machine hits both alike.
                for side in ((huey_side, ours_side) if r % 2 == 0 else (ours_side, huey_side)):
                    side()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    med = statistics.median
    print(f"huey consumer alone, tasks/s (median of {args.rounds} rounds) by thread workers:")
    print("  backlog  synchronous  " + "  ".join(f"{w:>7}" for w in worker_counts))
    for n, sync in keys:
        print(f"  {n:>7}  {sync:<11}  " + "  ".join(f"{n / med(consume[n, sync][w]):>7.0f}" for w in worker_counts))
    print()
    header = ["backlog", "huey synchronous", "huey enqueue/s", "huey run/s (best)", "huey enq+run/s",
              "jobledger jobs/s", "ours/huey run", "ours/huey enq+run"]
    rows = []
    for n, sync in keys:
        runs = consume[n, sync]
        best = min(worker_counts, key=lambda w: med(runs[w]))
        run_rate = n / med(runs[best])
        both_rate = n / med([e + c for e, c in zip(enqueue[n, sync], runs[best])])
        mine = med(ours_rate[n])
        rows.append([str(n), sync, f"{n / med(enqueue[n, sync]):.0f}",
                     f"{run_rate:.0f} ({best} worker{'s' if best > 1 else ''})",
                     f"{both_rate:.0f}", f"{mine:.0f}", f"{mine / run_rate:.2f}", f"{mine / both_rate:.2f}"])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    for row in [header] + rows:
        print("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip())
    print(f"""
Medians of {args.rounds} rounds, the sides alternating. jobledger's jobs/s counts its submits and
its burn-down together (compare it with huey enq+run). Each jobledger job writes 6 hash-chained
events (queued, started, 3 progress, completed) to a log that keeps every job's full history,
with synchronous=NORMAL. huey keeps no history: a task's row is deleted when it is dequeued, and
a no-op's result (None) is not stored. huey's own setting is synchronous=FULL (a sync on every
commit); "normal" is huey with JobLedger's setting.""")


if __name__ == "__main__":
    main()
