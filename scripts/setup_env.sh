#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) from the pinned requirements.txt.
# Idempotent: when .venv already matches requirements.txt and pyproject.toml it returns in well under a second.
# Uses uv (installed from PyPI into the user cache, wheels cached there) and falls back to plain pip.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-$(command -v python3 || true)}"
[ -n "$PYTHON" ] || { echo "setup: python3 (>= 3.10) is required and was not found on PATH" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "setup: $("$PYTHON" --version 2>&1) is too old; sslsan needs Python >= 3.10" >&2; exit 1; }

VENV=.venv
CACHE_ROOT="${SSLSAN_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/sslsan}"
STAMP="$VENV/.sslsan-setup"
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  exit 0   # already set up for exactly these pins
fi

free_gb=$(df -Pk . | awk 'NR==2 {print int($4/1048576)}')
if [ "${free_gb:-0}" -lt 8 ]; then
  echo "setup: only ${free_gb} GB free here; the environment (torch with its CUDA libraries) needs about 6 GB" >&2
fi

echo "setup: installing the pinned environment into $VENV (first time: a few minutes) ..."
install_with_uv() {
  local uv="$CACHE_ROOT/uvtool/bin/uv"
  if [ ! -x "$uv" ]; then
    "$PYTHON" -m venv "$CACHE_ROOT/uvtool" && "$CACHE_ROOT/uvtool/bin/pip" install -q "uv==0.13.9" || return 1
  fi
  export UV_CACHE_DIR="$CACHE_ROOT/uv"
  [ -x "$VENV/bin/python" ] || "$uv" venv -q --seed -p "$PYTHON" "$VENV" || return 1
  "$uv" pip install -q -p "$VENV/bin/python" -r requirements.txt || return 1
  "$uv" pip install -q -p "$VENV/bin/python" --no-deps -e . || return 1
}
install_with_pip() {
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" || return 1
  "$VENV/bin/python" -m pip install -q -r requirements.txt || return 1
  "$VENV/bin/python" -m pip install -q --no-deps -e . || return 1
}
if ! install_with_uv; then
  echo "setup: uv was not available or failed; falling back to pip (slower, caches nothing)" >&2
  install_with_pip || { echo "setup: installing requirements.txt into $VENV failed (see the messages above)" >&2; exit 1; }
fi
"$VENV/bin/python" -c "import sslsan, torch, torchaudio, torchvision" \
  || { echo "setup: the environment was installed but sslsan/torch do not import" >&2; exit 1; }
echo "$want" > "$STAMP"
echo "setup: done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
