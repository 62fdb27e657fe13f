#!/usr/bin/env bash
# Install what tokenlake needs into ./.venv, then run the demo or the tests.
#   bash scripts/bootstrap.sh demo [DIR]   # install, then run the demo pipeline
#   bash scripts/bootstrap.sh test [ARGS]  # install with test extras, then pytest
# Needs Python 3.11 (python3.11 or python3) and, for the JVM Spark engine and its tests, Java 17
# (installed with apt-get when missing and we are root).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-test}"; shift || true

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then PY="$cand"; break; fi
  done
fi
[ -n "$PY" ] || { echo "bootstrap: need Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

# Debian packages: Java 17 for the JVM Spark engine; for the tests also Chromium + chromedriver
# (the report is checked in a real browser).
apt_pkgs=()
command -v java >/dev/null || apt_pkgs+=(openjdk-17-jre-headless)
if [ "$what" = test ]; then
  command -v chromium >/dev/null || apt_pkgs+=(chromium)
  command -v chromedriver >/dev/null || apt_pkgs+=(chromium-driver)
  # --- ingest tests: npm for Azurite (tests npm-install it once into the git-ignored build/azurite)
  command -v npm >/dev/null || apt_pkgs+=(npm)
fi
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: apt-get install ${apt_pkgs[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    echo "bootstrap: missing ${apt_pkgs[*]} (install them as root); the JVM engine / browser tests need them" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
case "$what" in
  demo)
    .venv/bin/pip install -q -e .
    exec .venv/bin/tokenlake demo "$@" ;;
  test)
    # torch 2.13.0 CPU (megatron-core's reader needs it) is pinned in the test extra.
    .venv/bin/pip install -q -e '.[test]'
    exec .venv/bin/python -m pytest "$@" ;;
  *) echo "usage: bash scripts/bootstrap.sh demo|test [args]" >&2; exit 2 ;;
esac
