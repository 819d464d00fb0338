#!/usr/bin/env bash
# Creates (once) the Python virtual environment the Upstash contract tests run in: the official
# SDKs from PyPI, pinned in Fixtures/upstash/requirements.txt, in .venv/ at the repository root
# (git-ignored). A second run with the same requirements installs nothing. Prints the path of
# the environment's python on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${JOBLEDGER_UPSTASH_VENV:-$root/.venv}"
req="$root/Fixtures/upstash/requirements.txt"
stamp="$venv/.jobledger-requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  echo "setup-venv: installing $(tr '\n' ' ' < "$req")into $venv" >&2
  python3 -m venv "$venv" >&2 || { echo "setup-venv: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  cp "$req" "$stamp"
fi
echo "$venv/bin/python"
