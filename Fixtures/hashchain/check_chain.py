#!/usr/bin/env python3
"""Recompute the hash chain of a JobLedger NDJSON export from its documented definition.

Standard library only, and no code shared with JobLedger: the chain is checked against what
Docs/EventLog.md says, not against the Swift implementation.

usage: python3 check_chain.py EXPORT.ndjson
Prints "head SEQ:HASH" and exits 0 when every line checks out; prints each problem and exits 1
otherwise; exits 2 on bad usage.
"""
import hashlib
import json
import sys

GENESIS = "0" * 64  # prev_hash of seq 1
RULES = ("jobledger/v1", "jobledger/v2")


def canonical_payload(payload):
    # Canonical JSON: keys sorted, no white space, UTF-8 as is.
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(rule, seq, job_id, version, type_, recorded_at_ms, payload_digest, key):
    lines = [rule, str(seq), job_id, str(version), type_, str(recorded_at_ms), payload_digest]
    if rule == "jobledger/v2":
        lines.append(key or "")  # the idempotency key; an empty last line when there is none
    return "\n".join(lines)


def milliseconds(iso):
    # 2026-11-29T01:22:21.252Z → Unix milliseconds (UTC), without the datetime module's help
    # for years before 1970: days from the civil date (Howard Hinnant's algorithm).
    date, time = iso.rstrip("Z").split("T")
    y, m, d = (int(x) for x in date.split("-"))
    hh, mm, rest = time.split(":")
    ss, _, frac = rest.partition(".")
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    ms = int((frac + "000")[:3]) if frac else 0
    return ((days * 24 + int(hh)) * 60 + int(mm)) * 60_000 + int(ss) * 1000 + ms


def check(lines):
    problems = []
    prev_seq, prev_hash = 0, GENESIS
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        e = json.loads(line)
        seq, rule = e["seq"], e.get("hash_rule", "jobledger/v2")
        if rule not in RULES:
            problems.append(f"line {number}: unknown hash_rule {rule!r}")
            continue
        if seq != prev_seq + 1:
            problems.append(f"line {number}: seq {seq} follows seq {prev_seq}")
        if e["prev_hash"] != prev_hash:
            problems.append(f"line {number}: prev_hash is not the hash of the line before")
        digest = hashlib.sha256(canonical_payload(e["payload"]).encode("utf-8")).hexdigest()
        if digest != e["payload_digest"]:
            problems.append(f"line {number}: payload hashes to {digest[:16]}…, payload_digest says {e['payload_digest'][:16]}…")
        text = canonical(rule, seq, e["job_id"], e["version"], e["type"], milliseconds(e["recorded_at"]),
                         e["payload_digest"], e.get("idempotency_key"))
        expected = hashlib.sha256(bytes.fromhex(e["prev_hash"]) + text.encode("utf-8")).hexdigest()
        if expected != e["hash"]:
            problems.append(f"line {number}: hash is not SHA-256(prev_hash bytes ‖ canonical text) under {rule}")
        prev_seq, prev_hash = seq, expected
    for p in problems:
        print("PROBLEM", p)
    print(f"head {prev_seq}:{prev_hash}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.exit(check(f.read().split("\n")))
