"""Our handle on the reference: the .venv-ref venv and its persistent worker (bench/ref_worker.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "bench" / "ref_worker.py"


def reproducible_env() -> dict:
    """This process's environment with string hashing fixed. The reference samples a training
    prompt's types with `random.shuffle(list(set(types)))`, whose result depends on the set's
    order, which changes with every process's hash seed: without this, two reference runs with
    the same seed train differently (at 100 steps, heldout F1 0% in one run, 5% in another).
    PYTHONPATH is dropped: one pointing at our src/ would shadow the reference's `gliner` in .venv-ref."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONHASHSEED": "0"}


def ensure_reference_venv() -> Path:
    """Build .venv-ref if it is missing or not as pinned (scripts/ensure_reference_venv.sh)."""
    out = subprocess.run(["bash", str(REPO / "scripts" / "ensure_reference_venv.sh")], cwd=REPO, check=True,
                         stdout=subprocess.PIPE, text=True, env=reproducible_env())
    return REPO / out.stdout.strip().splitlines()[-1]


class ReferenceWorker:
    """`call(cmd, **kwargs)` runs ReferenceWorker methods in .venv-ref and returns their JSON reply."""

    def __init__(self, python: Path, threads: int, log=None):
        self.proc = subprocess.Popen([str(python), str(WORKER), "serve", str(threads)], cwd=REPO, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=reproducible_env(),
                                     stderr=log if log is not None else sys.stderr)

    def call(self, cmd: str, **kwargs) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the reference worker died (exit code {self.proc.wait()}); see its log")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise RuntimeError(f"reference worker, {cmd}: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
