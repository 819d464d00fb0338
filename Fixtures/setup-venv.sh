#!/usr/bin/env bash
# Creates (once) the Python virtual environment the stand-ins' contract tests run in: the official
# SDKs from PyPI, pinned in Fixtures/upstash/requirements.txt (upstash-redis, upstash-ratelimit)
# and Fixtures/vercel-blob/requirements.txt (vercel-blob), plus huey (Fixtures/peers/requirements.txt,
# for the side-by-side benchmark Fixtures/peers/huey_burndown.py), in .build/sdk-venv/ (git-ignored,
# kept across test runs). A second run with the same requirements installs nothing. Prints the path of
# the environment's python on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${JOBLEDGER_SDK_VENV:-${JOBLEDGER_UPSTASH_VENV:-$root/.build/sdk-venv}}"
reqs=("$root/Fixtures/upstash/requirements.txt" "$root/Fixtures/vercel-blob/requirements.txt" "$root/Fixtures/serve-e2e/requirements.txt" "$root/Fixtures/peers/requirements.txt")
stamp="$venv/.jobledger-requirements"
# Test suites may call this at the same moment: one makes the environment, the others wait for it.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
wanted="$(cat "${reqs[@]}")"
if [ ! -x "$venv/bin/python" ] || [ "$wanted" != "$(cat "$stamp" 2>/dev/null)" ]; then
  echo "setup-venv: installing the pinned SDKs into $venv" >&2
  python3 -m venv "$venv" >&2 || { echo "setup-venv: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  for r in "${reqs[@]}"; do
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$r" >&2
  done
  printf '%s' "$wanted" > "$stamp"
fi
echo "$venv/bin/python"
