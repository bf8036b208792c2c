"""`make repro`'s stage runner: DVC's stages, two at a time where the DAG allows, with the same bytes out.

    .venv/bin/python scripts/repro.py [STAGE or GLOB ...] [--force]

`dvc repro` runs one stage at a time, and one 2-thread torch process leaves part of the 2 cores idle (Python,
tokenising, single-threaded ops). Two stages side by side, each started with OMP_WAIT_POLICY=PASSIVE (idle
OpenMP threads sleep instead of spinning on the core the other stage needs), train more per minute than one at
a time, with the same losses to the last digit (`python -m bench.side_by_side` measures it; the README's time
table renders it). PASSIVE slows a process that runs alone, so only stages started beside another get it.
Each stage still runs through `dvc repro --single-item` (skipped when up to date, recorded in dvc.lock): DVC
releases its lock while a stage's command runs. Stages whose results include their own speed (train's minutes,
k_sweep's texts/s, the benchmark) and the report run alone. After each stage that ran, the run's wall time and
which stages ran beside which go to reports/timings/repro_run.json, for the report's time table; a run that
resumes an interrupted one (none of its stages again) adds to that record rather than replacing it.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gliner.atomic import write_json

REPO = Path.cwd()  # run from the repository root, as make does
ALONE = ("prepare_data", "train", "k_sweep@*", "benchmark", "report")  # timed by their own results, or last
SIDE_BY_SIDE = 2   # stages at once: three 2-thread trainings on the 2 cores did less per minute than two
RECORD = REPO / "reports" / "timings" / "repro_run.json"  # beside the stage times the report reads
LOGS = REPO / ".dvc" / "tmp" / "repro"


def pipeline() -> tuple[list[str], dict[str, set[str]], dict[str, Path]]:
    """The stages (data sources such as data.dvc, which `dvc repro` verifies, included) in dvc.yaml's order;
    each one's upstream stages; its timing file."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        graph = repo.index.graph
        stages = list(repo.index.stages)
        names = [s.addressing for s in stages]
        upstream = {s.addressing: {d.addressing for d in graph.successors(s) if d.addressing in names} for s in stages}
        timing = {}
        for s in stages:
            for out in s.outs:
                if out.def_path.startswith("reports/timings/") or out.def_path == "reports/benchmark.json":
                    timing[s.addressing] = REPO / out.def_path
    return names, upstream, timing


def runs_alone(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in ALONE)


def last_seconds(path: Path | None) -> float | None:
    """A stage's wall time in its last run (its timing file); None where it has none yet."""
    try:
        return float(json.loads(path.read_text())["wall_s"])
    except (AttributeError, OSError, ValueError, KeyError):
        return None


def expected_seconds(path: Path | None) -> float:
    """A stage's wall time for the order: its last run's, else the committed run's (a stage interrupted while
    it ran has lost its timing file: DVC removes a stage's outputs before it runs), else a minute."""
    seconds = last_seconds(path)
    if seconds is None and path is not None:
        committed = subprocess.run(["git", "show", f"HEAD:{path.relative_to(REPO).as_posix()}"], cwd=REPO,
                                   capture_output=True, text=True)
        try:
            seconds = float(json.loads(committed.stdout)["wall_s"]) if committed.returncode == 0 else None
        except (ValueError, KeyError, TypeError):
            seconds = None
    return seconds or 60.0


def resumed(previous: dict | None, rerun: set[str]) -> dict | None:
    """The previous run's record where this run carries it on (an interrupted `make repro` resumed): it did not
    finish, none of its stages ran again and every timed one still shows that run's time. Otherwise None: the
    record starts afresh (a record from before runs said whether they finished counts as finished)."""
    if not previous or previous.get("finished", True) or rerun & set(previous["stages"]):
        return None
    if any(s["timing_file"] and last_seconds(REPO / s["timing_file"]) != s["timing_wall_s"] for s in previous["stages"].values()):
        return None
    return previous


def chain_seconds(names: list[str], upstream: dict[str, set[str]], seconds: dict[str, float]) -> dict[str, float]:
    """Each stage's own seconds plus the longest chain of stages that wait for it: started first, the longest
    chains leave the shortest tail, where one stage runs alone."""
    downstream = {n: {m for m in names if n in upstream[m]} for n in names}
    memo: dict[str, float] = {}

    def chain(n: str) -> float:
        if n not in memo:
            memo[n] = seconds[n] + max((chain(m) for m in downstream[n]), default=0.0)
        return memo[n]

    return {n: chain(n) for n in names}


def schedule(names, upstream, priority, start, wait, alone=runs_alone, width=SIDE_BY_SIDE) -> list[str]:
    """Run every stage once its upstream stages have finished, highest `priority` first, the others up to `width`
    at a time, an alone-stage with nothing beside it: it waits for the running stages to finish when it is more
    urgent than they are (train), and lets others use the CPU before it when it is not (a k_sweep value while
    zero_shot_eval's long chain runs). `start(name, beside)` launches a stage (beside: another runs with it);
    `wait()` blocks until one finishes and returns (name, ok). After a failure nothing new starts; returns the
    stages that failed."""
    done, failed, running = set(), [], set()
    waiting = sorted(names, key=lambda n: -priority[n])
    while waiting or running:
        ready = [n for n in waiting if upstream[n] <= done] if not failed else []
        for i, name in enumerate(ready):
            if any(alone(r) for r in running) or len(running) >= width:
                break
            if alone(name):
                if running and priority[name] >= max(priority[r] for r in running):
                    break  # more urgent than what runs: nothing else starts until it can run alone
                if not running:
                    start(name, False)
                    running.add(name)
                    waiting.remove(name)
                    break
                continue
            # PASSIVE only where another stage runs, or joins at once; a stage alone keeps the faster default
            partners = [n for n in ready[i + 1 :] if not alone(n)]
            beside = bool(running) or (len(running) + 1 < width and bool(partners))
            start(name, beside)
            running.add(name)
            waiting.remove(name)
        if not running:
            break  # finished, failed, or nothing can run (a target's upstream failed)
        name, ok = wait()
        running.discard(name)
        (done.add if ok else failed.append)(name)
    return failed


def overlaps(intervals: dict[str, tuple[float, float]]) -> dict[str, list[str]]:
    """For each stage, the stages whose (start, end) overlapped its own."""
    return {n: sorted(m for m, (b0, b1) in intervals.items() if m != n and b0 < a1 and a0 < b1)
            for n, (a0, a1) in intervals.items()}


def stop(procs) -> None:
    """Terminate each running stage with everything it started: papermill's kernel runs in a session of its own,
    so a runner stopped without this left a training running on, beside the next run's (and slowing it)."""
    import psutil  # DVC's own dependency

    tree = []
    for proc in procs:
        try:
            parent = psutil.Process(proc.pid)
            tree += [*parent.children(recursive=True), parent]
        except psutil.NoSuchProcess:
            continue
    for p in tree:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    for p in psutil.wait_procs(tree, timeout=10)[1]:
        p.kill()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="stages (globs allowed, e.g. 'type_count@*'); default: all")
    parser.add_argument("--force", action="store_true", help="run the targets even when up to date (dvc repro -f)")
    args = parser.parse_args(argv)
    names, upstream, timing = pipeline()
    if args.targets:
        unknown = [t for t in args.targets if not fnmatch.filter(names, t)]
        if unknown:
            parser.error(f"no stage matches {', '.join(unknown)} (stages: {', '.join(names)})")
        names = [n for n in names if any(fnmatch.fnmatchcase(n, t) for t in args.targets)]
        upstream = {n: upstream[n] & set(names) for n in names}  # the others are taken as up to date
    # the order: longest chains first
    priority = chain_seconds(names, upstream, {n: expected_seconds(timing.get(n)) for n in names})
    LOGS.mkdir(parents=True, exist_ok=True)
    running: dict[str, tuple[subprocess.Popen, float, bool]] = {}
    ran: dict[str, dict] = {}  # stages that ran a command (not skipped as up to date): start, end, PASSIVE
    done: set[str] = set()  # stages that ran or were up to date, without failing
    before = {n: last_seconds(t) for n, t in timing.items()}  # each stage's time in its previous run (None: none)
    previous = json.loads(RECORD.read_text()) if RECORD.exists() else None  # the record an interrupted run left
    t0 = time.time()

    def say(message: str) -> None:
        print(f"[repro {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def log_path(name: str) -> Path:
        return LOGS / f"{name.replace('@', '_')}.log"

    def record() -> None:
        """This run so far, for the report (which runs last): written after each stage that ran, and `finished`
        once every stage but the report is done, so the report reads the record as it stays."""
        spans = overlaps({n: (r["start"], r["end"]) for n, r in ran.items()})
        stages = {n: {"seconds": round(r["end"] - r["start"], 1), "passive": r["passive"], "beside": spans[n],
                      "timing_file": r["timing_file"], "timing_wall_s": last_seconds(timing.get(n)),
                      "previous_wall_s": before.get(n)}
                  for n, r in ran.items() if n != "report"}
        if stages:  # a resumed run adds to the record it carries on: its stages, and its wall time to this one's
            earlier = resumed(previous, set(ran)) or {"wall_s": 0.0, "stages": {}, "invocations": 0}
            write_json(RECORD, {"wall_s": round(earlier["wall_s"] + max(r["end"] for r in ran.values()) - t0, 1),
                                "invocations": earlier["invocations"] + 1, "side_by_side": SIDE_BY_SIDE,
                                "finished": all(n in done for n in names if n != "report"),
                                "stages": {**earlier["stages"], **stages}})

    def start(name: str, beside: bool) -> None:
        env = {**os.environ, **({"OMP_WAIT_POLICY": "PASSIVE"} if beside else {}),  # this venv first: dvc, papermill's kernels
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
        cmd = ["dvc", "--wait-for-lock", "repro", "--single-item", *(["--force"] if args.force else []), name]
        with open(log_path(name), "w") as log:
            running[name] = (subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT),
                             time.time(), beside)
        say(f"start {name}" + (" (beside another: OMP_WAIT_POLICY=PASSIVE)" if beside else ""))

    def wait() -> tuple[str, bool]:
        while True:
            for name, (proc, started, beside) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[name]
                if not proc.returncode:
                    done.add(name)
                end, text = time.time(), log_path(name).read_text(errors="replace")
                if proc.returncode:
                    say(f"FAILED {name} after {(end - started) / 60:.1f} min; the end of {log_path(name)}:\n"
                        + "\n".join(text.splitlines()[-30:]))
                elif "Running stage" in text:
                    say(f"done {name} in {(end - started) / 60:.1f} min")
                    t = timing.get(name)
                    ran[name] = {"start": started, "end": end, "passive": beside,
                                 "timing_file": t.relative_to(REPO).as_posix() if t else None}
                    if name != "report":  # after the report, a new record would leave it stale
                        record()
                else:
                    say(f"up to date: {name}")
                return name, proc.returncode == 0
            time.sleep(1)

    on_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the stages, as Ctrl-C does
    try:
        failed = schedule(names, upstream, priority, start, wait)
    finally:
        stop(proc for proc, _, _ in running.values())
        signal.signal(signal.SIGTERM, on_term)
    say(("FAILED: " + ", ".join(failed) if failed else f"finished: {len(ran)} stages ran")
        + f", {(time.time() - t0) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
