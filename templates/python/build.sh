#!/usr/bin/env bash
# Builds {{name}}.wasm from app.py with componentize-py (installed into .venv when missing).
set -euo pipefail
cd "$(dirname "$0")"
tool=$(command -v componentize-py || true)
if [ -z "$tool" ]; then
  if [ ! -x .venv/bin/componentize-py ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check componentize-py==0.25.1
  fi
  tool=.venv/bin/componentize-py
fi
PYTHONDONTWRITEBYTECODE=1 "$tool" -d wit -w verifier componentize -p . app -o {{name}}.wasm
echo "built {{name}}.wasm"
