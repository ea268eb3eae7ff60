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
  -e ./services/hq-console \
  -e ./services/notifier \
  -e ./clients/python \
  -e '.[dev]'
# The HQ console's browser tests drive Debian's chromium (Playwright with executable_path: `playwright install`
# downloads a browser build and is blocked on the project's machines) and need CJK fonts to render the pages.
browser_packages=()
[ -x /usr/bin/chromium ] || browser_packages+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || browser_packages+=(fonts-noto-cjk)
if [ ${#browser_packages[@]} -gt 0 ]; then
  apt_cmd=()
  if [ "$(id -u)" = 0 ]; then apt_cmd=(env DEBIAN_FRONTEND=noninteractive)
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt_cmd=(sudo -n env DEBIAN_FRONTEND=noninteractive)
  fi
  if command -v apt-get >/dev/null && [ "${apt_cmd[*]:-}" != "" ] \
    && "${apt_cmd[@]}" apt-get update -qq \
    && "${apt_cmd[@]}" apt-get install -y -qq --no-install-recommends "${browser_packages[@]}" >/dev/null; then
    echo "installed ${browser_packages[*]} for the console's browser tests"
  elif [ "${CI:-}" = true ]; then
    echo "CI needs ${browser_packages[*]} (apt-get) for the console's browser tests" >&2
    exit 1
  else
    echo "note: ${browser_packages[*]} not installed (no apt-get as root); the console's browser tests will skip" >&2
  fi
fi
echo "installed: activate with '. .venv/bin/activate', then run 'leadnet up'"
