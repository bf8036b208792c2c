"""scripts/repro.py, `make repro`'s stage runner: the order it starts stages in, on a simulated clock."""

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("repro_runner", REPO / "scripts" / "repro.py")
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)

# prepare -> train (alone) -> evaluate; prepare -> four studies, one of them timed (alone); all -> report (alone)
SECONDS = {"prepare_data": 2, "train": 30, "evaluate": 60, "study@1": 5, "study@2": 5, "study@3": 5, "k_sweep@1": 5,
           "report": 1}
UPSTREAM = {"prepare_data": set(), "train": {"prepare_data"}, "evaluate": {"train"}, "study@1": {"prepare_data"},
            "study@2": {"prepare_data"}, "study@3": {"prepare_data"}, "k_sweep@1": {"prepare_data"},
            "report": {"evaluate", "study@1", "study@2", "study@3", "k_sweep@1"}}


def simulate(seconds=SECONDS, upstream=UPSTREAM, fail=()):
    """Run the scheduler against a clock: each stage takes its seconds; returns (name, start, end, beside) rows."""
    clock, running, rows = [0.0], {}, []

    def start(name, beside):
        running[name] = (clock[0], beside)

    def wait():
        name = min(running, key=lambda n: running[n][0] + seconds[n])
        began, beside = running.pop(name)
        clock[0] = began + seconds[name]
        rows.append((name, began, clock[0], beside))
        return name, name not in fail

    names = list(seconds)
    priority = runner.chain_seconds(names, upstream, seconds)
    failed = runner.schedule(names, upstream, priority, start, wait)
    return rows, failed


def test_every_stage_runs_after_its_upstream_and_alone_stages_run_alone():
    rows, failed = simulate()
    assert not failed and sorted(r[0] for r in rows) == sorted(SECONDS)
    end = {name: e for name, _, e, _ in rows}
    for name, began, finished, _ in rows:
        assert all(end[u] <= began for u in UPSTREAM[name]), name
        overlapping = [o for o, b, e, _ in rows if o != name and b < finished and began < e]
        if runner.runs_alone(name) or name == "report":
            assert not overlapping, (name, overlapping)
        assert len(overlapping) <= 1 or not runner.runs_alone(name)
    # at most two at once at any moment
    for t in {b for _, b, _, _ in rows}:
        assert sum(b <= t < e for _, b, e, _ in rows) <= runner.SIDE_BY_SIDE


def test_the_long_chain_starts_first_and_shares_the_cpu_with_the_studies():
    rows, _ = simulate({**SECONDS, "train": 3}, {**UPSTREAM, "train": {"prepare_data"}})
    order = [r[0] for r in rows]
    started = {name: b for name, b, _, _ in rows}
    assert started["train"] == 2  # right after prepare_data: its chain (train, evaluate, report) is the longest
    assert any(b < started["evaluate"] + 60 and started["evaluate"] < e for n, b, e, _ in rows if n.startswith("study"))
    beside = {name: flag for name, _, _, flag in rows}
    assert beside["evaluate"] and not beside["train"] and not beside["report"]  # PASSIVE only where another runs
    assert order[-1] == "report"


def test_a_stage_with_no_partner_keeps_the_default_wait_policy():
    seconds = {"a": 1, "b": 1}
    rows, _ = simulate(seconds, {"a": set(), "b": {"a"}})
    assert [(n, flag) for n, _, _, flag in rows] == [("a", False), ("b", False)]


def test_nothing_new_starts_after_a_failure():
    rows, failed = simulate(fail={"prepare_data"})
    assert failed == ["prepare_data"] and [r[0] for r in rows] == ["prepare_data"]


def test_overlaps_are_mutual():
    spans = runner.overlaps({"a": (0, 10), "b": (5, 15), "c": (15, 20)})
    assert spans == {"a": ["b"], "b": ["a"], "c": []}


def test_targets_that_match_no_stage_are_named(capsys, monkeypatch):
    monkeypatch.setattr(runner, "pipeline", lambda: (["train", "report"], {"train": set(), "report": {"train"}}, {}))
    with pytest.raises(SystemExit):
        runner.main(["nosuch@*"])
    assert "no stage matches nosuch@*" in capsys.readouterr().err


def test_a_timed_study_waits_while_the_long_chain_runs_beside_the_others():
    rows, _ = simulate()
    span = {name: (b, e) for name, b, e, _ in rows}
    ev0, ev1 = span["evaluate"]
    studies = [n for n in span if n.startswith("study@")]
    assert all(span[n][0] < ev1 for n in studies)  # the studies keep evaluate company
    assert span["k_sweep@1"][0] >= ev1  # the alone-stage did not hold a core idle beside evaluate


def test_a_resumed_run_carries_the_interrupted_record_only_while_it_still_holds(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "REPO", tmp_path)
    (tmp_path / "train.json").write_text('{"wall_s": 1500.0}')
    previous = {"wall_s": 1600.0, "invocations": 1, "finished": False, "stages": {
        "prepare_data": {"timing_file": None, "timing_wall_s": None},
        "train": {"timing_file": "train.json", "timing_wall_s": 1500.0}}}
    assert runner.resumed(previous, {"evaluate"}) is previous  # the interrupted run's next stage: carried on
    assert runner.resumed(previous, {"evaluate", "train"}) is None  # one of its stages ran again: afresh
    assert runner.resumed(None, {"evaluate"}) is None
    assert runner.resumed({**previous, "finished": True}, {"evaluate"}) is None  # a finished run is not resumed
    assert runner.resumed({k: v for k, v in previous.items() if k != "finished"}, {"evaluate"}) is None  # older records
    (tmp_path / "train.json").write_text('{"wall_s": 1400.0}')  # train re-run since, outside the runner
    assert runner.resumed(previous, {"evaluate"}) is None


def test_a_stage_interrupted_mid_run_keeps_its_committed_time_for_the_order(tmp_path, monkeypatch):
    """zero_shot_eval killed while it ran loses its timing file; counted as a minute it went last, and a
    'more urgent' k_sweep kept multilingual from running beside it for an hour."""
    monkeypatch.setattr(runner, "REPO", tmp_path)
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (tmp_path / "eval.json").write_text('{"wall_s": 3600.0}')
    git("add", "eval.json")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "timed")
    assert runner.expected_seconds(tmp_path / "eval.json") == 3600.0
    (tmp_path / "eval.json").write_text('{"wall_s": 3000.0}')  # the last run's own time comes first
    assert runner.expected_seconds(tmp_path / "eval.json") == 3000.0
    (tmp_path / "eval.json").unlink()  # removed by DVC as the stage started, then the run was killed
    assert runner.expected_seconds(tmp_path / "eval.json") == 3600.0
    assert runner.expected_seconds(tmp_path / "never.json") == 60.0  # never timed, nor committed
    assert runner.expected_seconds(None) == 60.0  # a stage without a timing file


def test_side_by_side_reports_throughput_and_whether_the_losses_agree(tmp_path, monkeypatch):
    from bench import side_by_side

    walls = {(1, False): 20.0, (1, True): 25.0, (2, True): 28.0, (2, False): 80.0}
    losses = iter([[1.5], [1.5], [1.5, 1.5], [1.5, 1.25]])  # the last way's second process differs
    monkeypatch.setattr(side_by_side, "train_processes", lambda n, passive, *a: (walls[n, passive], next(losses)))
    result = side_by_side.main(["--out", str(tmp_path / "s.json")])
    ways = result["ways"]
    assert ways["two side by side, PASSIVE"]["throughput_vs_alone"] == pytest.approx(2 * 20 / 28)
    assert ways["alone, PASSIVE"]["throughput_vs_alone"] == pytest.approx(20 / 25)
    assert result["same_final_loss"] is False


def runner_in(tmp_path, monkeypatch, upstream: dict[str, set[str]]) -> None:
    """`main` over a made-up pipeline, its record and logs in tmp_path."""
    monkeypatch.setattr(runner, "REPO", tmp_path)
    monkeypatch.setattr(runner, "RECORD", tmp_path / "repro_run.json")
    monkeypatch.setattr(runner, "LOGS", tmp_path / "logs")
    monkeypatch.setattr(runner, "pipeline", lambda: (list(upstream), upstream, {}))


def test_the_report_reads_the_record_as_it_stays(tmp_path, monkeypatch):
    """The record is a report dependency: marked finished only after the report ran, it changed under the
    report and left `dvc status` dirty after every `make repro`."""
    runner_in(tmp_path, monkeypatch, {"train": set(), "evaluate": {"train"}, "report": {"evaluate"}})
    seen = {}

    class Stage:  # `dvc repro` of one stage: it writes its log and ends at once
        def __init__(self, cmd, stdout, **_):
            seen[cmd[-1]] = runner.RECORD.read_text() if runner.RECORD.exists() else None
            stdout.write(f"Running stage '{cmd[-1]}'\n")

        def poll(self):
            return 0

        returncode = 0

    monkeypatch.setattr(runner.subprocess, "Popen", Stage)
    assert runner.main([]) == 0
    at_report = json.loads(seen["report"])
    assert at_report["finished"] is True and set(at_report["stages"]) == {"train", "evaluate"}
    assert runner.RECORD.read_text() == seen["report"]  # nothing written after the report read it
    assert json.loads(seen["evaluate"])["finished"] is False  # an interrupted run is resumed


def test_a_stopped_runner_stops_its_stages_and_what_they_started(monkeypatch, tmp_path):
    """A killed runner left papermill's kernel (a session of its own) training beside the next run."""
    import psutil

    stage = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; subprocess.Popen("
                              "[sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True); time.sleep(60)"])
    deadline = time.time() + 20
    while not psutil.Process(stage.pid).children() and time.time() < deadline:
        time.sleep(0.1)
    [kernel] = psutil.Process(stage.pid).children()
    runner_in(tmp_path, monkeypatch, {"train": set()})
    monkeypatch.setattr(runner.subprocess, "Popen", lambda *a, **k: stage)

    def interrupted(names, upstream, priority, start, wait):
        start("train", False)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "schedule", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.main([])
    assert stage.wait(timeout=15) is not None
    assert not kernel.is_running() or kernel.status() == psutil.STATUS_ZOMBIE
