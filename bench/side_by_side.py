"""Two stages at once on this machine's cores: what `make repro`'s runner (scripts/repro.py) is built on.

    .venv/bin/python -m bench.side_by_side [--steps 40] [--out reports/side_by_side.json]

Trains the studies' recipe (reports/params/k_sweep/K12.yaml) for a few steps as separate processes, each with
torch's default threads: one alone, one alone with OMP_WAIT_POLICY=PASSIVE, two side by side with PASSIVE and
two side by side without it. Prints each one's wall time and final loss, and the throughput (training runs per
minute) of each way against one alone; the report renders the JSON. The same final loss in every process is
what lets the runner put stages side by side: the results do not depend on what runs beside them.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gliner.atomic import write_json

WAYS = {  # name -> (processes at once, OMP_WAIT_POLICY=PASSIVE)
    "alone": (1, False), "alone, PASSIVE": (1, True), "two side by side, PASSIVE": (2, True),
    "two side by side, default wait policy": (2, False)}


def train_processes(n: int, passive: bool, steps: int, params: Path, work: Path) -> tuple[float, list[float]]:
    """Start n trainings at once; the wall time until the last ends, and each one's final loss."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "gliner.train", "--config", f"{params}:train", "--max-steps", str(steps),
                               "--output-dir", str(work / f"run{i}"), "--save-every", "0", "--no-progress"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for i in range(n)]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t0
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a training process failed:\n{outs}")
    return wall, [float(re.search(r"'final_loss': ([0-9.e+-]+)", out).group(1)) for out in outs]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--params", type=Path, default=Path("reports/params/k_sweep/K12.yaml"))
    parser.add_argument("--out", type=Path, default=Path("reports/side_by_side.json"))
    args = parser.parse_args(argv)
    result = {"steps": args.steps, "params": str(args.params), "cpu_count": os.cpu_count(), "ways": {}}
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
        for name, (n, passive) in WAYS.items():
            wall, losses = train_processes(n, passive, args.steps, args.params, Path(tmp) / re.sub(r"\W+", "_", name))
            result["ways"][name] = {"processes": n, "passive": passive, "wall_s": wall, "final_losses": losses}
            print(f"{name}: {wall:.1f} s, final loss {', '.join(map(repr, losses))}", flush=True)
    alone = result["ways"]["alone"]["wall_s"]
    for way in result["ways"].values():  # trainings per minute against one alone
        way["throughput_vs_alone"] = way["processes"] * alone / way["wall_s"]
    losses = {loss for way in result["ways"].values() for loss in way["final_losses"]}
    result["same_final_loss"] = len(losses) == 1
    print("throughput against one alone: " + ", ".join(f"{k} {v['throughput_vs_alone']:.2f}x" for k, v in result["ways"].items())
          + f"; the same final loss in every process: {result['same_final_loss']}")
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
