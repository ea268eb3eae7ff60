#!/usr/bin/env bash
# Install leadnet for development: a virtualenv with the kit, the four services and the `leadnet` command,
# all editable, plus the test and lint tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet \
  -e './shared[local]' \
  -e ./services/lead-intake \
  -e ./services/dedup-router \
  -e ./services/followup-scheduler \
  -e ./services/rewards-ledger \
  -e ./services/notifier \
  -e ./clients/python \
  -e '.[dev]'
echo "installed: activate with '. .venv/bin/activate', then run 'leadnet up'"
