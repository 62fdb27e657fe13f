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
    # --- pack tests (issue 7): trainer readers as oracles, each in a venv of its own because their
    # pins clash with ours (tests/pack_oracles.py runs there; tests/test_pack_formats.py calls it).
    #   .venv-oracles: olmo-core + litdata on the same torch 2.13.0 CPU
    #   .venv-mds: mosaicml-streaming (numpy<2.2) with torch 2.14.1 + torchvision (heavier)
    [ -x .venv-oracles/bin/python ] || "$PY" -m venv .venv-oracles
    .venv-oracles/bin/python -m pip install -q torch==2.13.0 torchvision==0.28.0 ai2-olmo-core==3.0.0 litdata==0.2.76
    [ -x .venv-mds/bin/python ] || "$PY" -m venv .venv-mds
    .venv-mds/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1 mosaicml-streaming==0.13.0
    # --- end pack tests
    exec .venv/bin/python -m pytest "$@" ;;
  *) echo "usage: bash scripts/bootstrap.sh demo|test [args]" >&2; exit 2 ;;
esac
