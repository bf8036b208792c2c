"""Our side of the training comparison: one `gliner.train.train` run in a process of its own.

    .venv/bin/python -m bench.train_worker JOB.json OUT.json

JOB holds the training params (gliner.train.DEFAULTS keys) plus `threads`; OUT gets the wall
time of `train()` (and its CPU time, all threads), the part of it spent building the model and saving checkpoints (timed by
wrapping `GLiNER.from_backbone`, `GLiNER.save_pretrained` and `gliner.train.save_checkpoint`),
the loop time that leaves, the steps, and the process's peak RSS (and, on CUDA, the peak of
`torch.cuda.max_memory_allocated`). The model lands in params["output_dir"]/model.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Overhead:
    """Wall time spent inside the wrapped functions (outermost calls only)."""

    def __init__(self):
        self.seconds, self.cpu_seconds, self.depth = 0.0, 0.0, 0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            self.depth += 1
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.seconds += time.perf_counter() - t0
                    self.cpu_seconds += time.process_time() - c0
        return timed


def main(job_file: str, out_file: str) -> None:
    import torch

    import gliner.train
    from gliner import GLiNER

    job = json.load(open(job_file, encoding="utf-8"))
    torch.set_num_threads(job.pop("threads"))
    overhead = Overhead()
    gliner.train.save_checkpoint = overhead.wrap(gliner.train.save_checkpoint)
    GLiNER.save_pretrained = overhead.wrap(GLiNER.save_pretrained)
    GLiNER.from_backbone = classmethod(overhead.wrap(GLiNER.from_backbone.__func__))
    t0, c0 = time.perf_counter(), time.process_time()
    summary = gliner.train.train(job)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    result = {"train_s": seconds, "setup_and_save_s": overhead.seconds, "loop_s": seconds - overhead.seconds,
              "loop_cpu_s": cpu_seconds - overhead.cpu_seconds,
              "steps": summary["step"], "losses": [h["loss"] for h in summary["history"]],
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available() and job.get("device") != "cpu":
        result["cuda_max_memory_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    with open(out_file, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
