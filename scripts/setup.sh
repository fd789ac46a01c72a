#!/usr/bin/env bash
# Idempotent set-up used by scripts/start and scripts/test: the virtualenv with the project installed
# editable, and (with --system) the Debian packages the test suite drives (PostgreSQL server
# binaries, Prometheus + promtool, Chromium). Safe to run repeatedly; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${CLOUDOPTIM_VENV:-.venv}
EXTRAS=${CLOUDOPTIM_EXTRAS:-dev,bench}

need_apt=()
if [[ "${1:-}" == "--system" ]]; then
  pgbin=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [[ -n "$pgbin" && -x "$pgbin/initdb" ]] || need_apt+=(postgresql)
  command -v prometheus >/dev/null && command -v promtool >/dev/null || need_apt+=(prometheus)
  command -v chromium >/dev/null || need_apt+=(chromium)
  if ((${#need_apt[@]})); then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup: creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
stamp="$VENV/.cloudoptim-installed"
want="$(sha256sum pyproject.toml | cut -c1-64) $EXTRAS"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing cloudoptim[$EXTRAS] into $VENV"
  "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import app, engines, kmock, moto, streamlit" # fail loudly if the install did not work
  echo "$want" >"$stamp"
fi
