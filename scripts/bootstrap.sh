#!/usr/bin/env bash
# Installs what Salon needs on Debian 12: system packages (as root, or says what to install),
# then the virtual environment at .venv with Salon in it.
#   scripts/bootstrap.sh          what `make run` needs (Python, coturn, Janus)
#   scripts/bootstrap.sh --test   also what the test suite needs (PostgreSQL, test tools,
#                                 Chromium and Playwright for the browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

missing=()
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# The embedded default supervises coturn (TURN relay) and Janus (SFU for group rooms).
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
[ -x /usr/bin/janus ] || missing+=(janus)
if [ "$want_test" = 1 ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  # runuser (PostgreSQL as root) and unshare (scripts/e2e's network namespace)
  { command -v runuser && command -v unshare; } >/dev/null 2>&1 || missing+=(util-linux)
  # Browser tests (scripts/e2e): Debian's Chromium driven by Playwright (whose wheel brings its
  # own driver; it never downloads a browser here), and `ip` to bring up
  # loopback in the network namespace scripts/e2e makes.
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -d /usr/share/fonts/truetype/liberation ] || missing+=(fonts-liberation)
  command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing+=(iproute2)
  # The browser modules' unit tests (tests/web/js) run under Node's test runner.
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "salon: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "salon: these Debian packages are missing: ${missing[*]}" >&2
    echo "salon: install them as root, then run this again:" >&2
    echo "    sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

extras=""
[ "$want_test" = 1 ] && extras="[test]"
stamp=".venv/.installed${extras}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "salon: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extras}"
  touch "$stamp"
fi
