#!/usr/bin/env bash
# Create the project venv and make sure it has a torch that fits the machine:
#  - a torch already importable by the base interpreter with CUDA (a GPU machine's own build) is kept:
#    the venv is created with --system-site-packages so it sees it, and nothing is reinstalled;
#  - otherwise, on a machine with an NVIDIA driver, pip's default (CUDA) torch is installed;
#  - otherwise the pinned CPU wheel ($3, torch==2.13.0) is installed.
set -euo pipefail
python=$1 venv=$2 cpu_pin=$3
system_cuda=$("$python" -c 'import torch; print(int(torch.version.cuda is not None))' 2>/dev/null || echo 0)
if [ ! -x "$venv/bin/python" ]; then
  if [ "$system_cuda" = 1 ]; then
    echo "install_torch: keeping the interpreter's CUDA torch (venv with --system-site-packages)"
    "$python" -m venv --system-site-packages "$venv"
  else
    "$python" -m venv "$venv"
  fi
fi
if "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "install_torch: torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') already present, left alone"
elif command -v nvidia-smi >/dev/null 2>&1; then
  "$venv/bin/python" -m pip install -q torch
else
  "$venv/bin/python" -m pip install -q "$cpu_pin"
fi
