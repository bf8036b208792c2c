"""The studies' statistics: seeds summarised, differences called only when a paired bootstrap's
interval excludes 0, thresholds chosen on dev."""

import json

import numpy as np
import pytest

from gliner.pipeline import dev_threshold
from gliner.studies import (compare, counts_path, f1, mean_se, over_seeds, paired_bootstrap, reading, run_name,
                            seeds_figure, study_frame, summarize)


def test_f1_from_counts():
    assert f1([2, 1, 1]) == pytest.approx(2 / 3)
    assert f1([0, 0, 0]) == 0.0  # nothing predicted, nothing to find
    assert f1(np.array([[1, 0, 0], [0, 3, 0]])).tolist() == [1.0, 0.0]


def sentences(n, tp, fp, fn, seeds=3):
    return np.tile(np.array([tp, fp, fn]), (seeds, n, 1))


def test_paired_bootstrap_calls_a_clear_gain_a_difference():
    bad, good = sentences(200, 0, 1, 1), sentences(200, 1, 0, 0)
    out = paired_bootstrap(bad, good, reps=200)
    assert out["diff"] == pytest.approx(1.0) and out["low"] > 0.9 and out["differs"]
    assert paired_bootstrap(good, bad, reps=200)["high"] < -0.9


def test_paired_bootstrap_does_not_call_noise_a_difference():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, (3, 300, 3))
    same = paired_bootstrap(a, a.copy(), reps=300)
    assert same["diff"] == 0.0 and same["low"] <= 0 <= same["high"] and not same["differs"]
    # two seeds of one model that disagree a lot: the seed resampling widens the interval
    noisy = np.concatenate([sentences(300, 1, 0, 0, 1), sentences(300, 0, 1, 1, 1)])
    flat = sentences(300, 1, 1, 1, 2)
    out = paired_bootstrap(flat, noisy, reps=300)
    assert out["low"] < 0 < out["high"] and not out["differs"]


def test_paired_bootstrap_needs_the_same_sentences():
    with pytest.raises(ValueError, match="same sentences"):
        paired_bootstrap(sentences(10, 1, 0, 0), sentences(11, 1, 0, 0))


def test_mean_se_and_summarize():
    assert mean_se([0.2, 0.4, 0.6]) == (pytest.approx(0.4), pytest.approx(0.2 / 3 ** 0.5))
    assert np.isnan(mean_se([0.5])[1])
    run = lambda f, dev: {"datasets": {"wnut": {"micro": {"f1": f, "tp": 3, "fn": 7}, "num_examples": 5,  # noqa: E731
                                                "dev_threshold": 0.3, "f1_at_dev_threshold": dev}}}
    s = summarize({"0": run(0.1, 0.2), "1": run(0.3, 0.4)})["wnut"]
    assert s["f1_mean"] == pytest.approx(0.2) and s["f1_se"] == pytest.approx(0.1) and s["f1_seeds"] == [0.1, 0.3]
    assert s["dev_threshold_f1_mean"] == pytest.approx(0.3) and s["gold"] == 10 and s["dev_thresholds"] == [0.3, 0.3]


def test_over_seeds_keeps_each_seed_and_counts_wnut_types_above_10pct():
    def result(f1, person, movie):  # one seed's gliner.evaluate result on WNUT-16
        per_type = {"person": {"f1": person, "tp": 4, "fn": 6}, "movie": {"f1": movie, "tp": 1, "fn": 1},
                    "company": {"f1": 0.0, "tp": 0, "fn": 0}}  # only predicted: no gold, not a type of the set
        return {"datasets": {"wnut16_gold": {"micro": {"f1": f1, "precision": f1, "recall": f1, "tp": 5, "fn": 7},
                                             "per_type": per_type}}}

    out = over_seeds({0: result(0.3, 0.5, 0.05), 1: result(0.2, 0.4, 0.2)})
    wnut = out["datasets"]["wnut16_gold"]
    assert out["seeds"] == [0, 1] and wnut["gold"] == 12 and wnut["f1_seeds"] == [0.3, 0.2]
    assert wnut["f1_mean"] == pytest.approx(0.25) and wnut["f1_se"] == pytest.approx(0.05)
    assert wnut["per_type_f1_seeds"] == {"person": [0.5, 0.4], "movie": [0.05, 0.2]}
    assert wnut["per_type_gold"] == {"person": 10, "movie": 2}
    assert out["wnut16_gold_types_above_10pct"] == [1, 2]
    fig = seeds_figure(out, 0.5)  # draws both panels from the metrics alone
    assert [ax.get_title().split(" ")[0] for ax in fig.axes[:2]] == ["test", "wnut16_gold"]


def test_dev_threshold_pools_the_dev_sets():
    sweep = lambda *f1s: {t: {"tp": tp, "fp": fp, "fn": fn} for t, (tp, fp, fn) in zip(("0.3", "0.5", "0.7"), f1s)}  # noqa: E731
    result = {"datasets": {"dev_a": {"sweep": sweep((8, 2, 2), (6, 2, 4), (2, 0, 8))},   # alone: best at 0.3
                           "dev_b": {"sweep": sweep((1, 20, 1), (3, 1, 1), (0, 0, 4))}}}
    assert dev_threshold(result) == 0.5  # pooled F1: 0.42 at 0.3, 0.69 at 0.5, 0.22 at 0.7
    assert dev_threshold({"datasets": {}}) == 0.5  # no dev set: the decoding default
    tie = {"datasets": {"d": {"sweep": sweep((1, 0, 0), (1, 0, 0), (1, 0, 0))}}}
    assert dev_threshold(tie) == 0.5  # ties go to the threshold nearest 0.5


def test_run_names_match_dvc_yaml():
    assert run_name("k_sweep", 12) == "K12" and run_name("negative_sampling", 0.5) == "neg_ratio0.5"
    assert run_name("type_dropping", True) == "type_droppingtrue"  # dvc renders ${item} of true as 'true'


def write_study(tmp_path, stage, value, per_seed):
    """A study value's metrics and counts as run_study writes them; per_seed: one (n, 3) array per seed."""
    runs = {}
    for seed, counts in enumerate(per_seed):
        tp, fp, fn = (int(x) for x in counts.sum(axis=0))
        micro = {"precision": 0.0, "recall": 0.0, "f1": float(f1([tp, fp, fn])), "tp": tp, "fp": fp, "fn": fn}
        runs[str(seed)] = {"overall": {"micro": micro}, "train_seconds": 1.0,
                           "datasets": {"set_a": {"micro": micro, "num_examples": len(counts), "dev_threshold": 0.5,
                                                  "f1_at_dev_threshold": micro["f1"]}}}
    path = tmp_path / "reports/metrics" / stage / f"{run_name(stage, value)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"seeds": runs, "summary": summarize(runs)}))
    counts_file = tmp_path / counts_path(path.relative_to(tmp_path))
    counts_file.parent.mkdir(parents=True, exist_ok=True)
    counts_file.write_text(json.dumps({str(s): {"set_a": c.tolist()} for s, c in enumerate(per_seed)}))
    return path


def test_study_frame_compare_and_reading(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_study(tmp_path, "k_sweep", 4, [np.tile([0, 1, 1], (50, 1))] * 3)
    write_study(tmp_path, "k_sweep", 12, [np.tile([1, 0, 0], (50, 1))] * 3)
    frame, paths = study_frame("k_sweep", [4, 12])
    assert set(frame.set) == {"set_a", "all sets (micro)"} and len(frame) == 2 * 3 * 2
    assert frame[(frame.value == 12) & (frame.set == "set_a")].f1.tolist() == [100.0] * 3
    comparisons = compare(paths, 12, reps=100)
    assert comparisons[4]["set_a"]["diff"] == pytest.approx(-1.0) and comparisons[4]["set_a"]["differs"]
    text = reading("K", 12, comparisons)
    assert "`set_a`: K = 4: -100.0 points" in text and "a difference" in text
    assert "nothing to compare" in reading("K", 12, {})


def load_script(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dev_compare_pairs_seeds_and_applies_the_margin(tmp_path, capsys):
    dev_compare = load_script("dev_compare")
    right, half = [1, 0, 0], [1, 1, 0]  # one sentence's (tp, fp, fn): F1 1.0; and a false positive beside it
    counts = {"recipe_s0": {"dev_a": [right] * 40, "dev_b": [right] * 20},
              "recipe_s1": {"dev_a": [right] * 40, "dev_b": [right] * 20},
              "other_s0": {"dev_a": [right] * 40, "dev_b": [right] * 19 + [half]},  # 20 tp, 1 fp: F1 40/41
              "other_s1": {"dev_a": [half] * 40, "dev_b": [right] * 20}}  # 40 tp, 40 fp: F1 2/3 on dev_a
    path = tmp_path / "counts" / "choice.json"
    path.parent.mkdir()
    path.write_text(json.dumps(counts))
    out = ["choice", "--base", "recipe_s0", "recipe_s1", "--out-dir", str(tmp_path)]
    result = dev_compare.main([*out, "--other", "other_s0", "other_s1"])
    a, b = result["sets"]["dev_a"], result["sets"]["dev_b"]
    assert a["gold"] == 40 and b["gold"] == 20
    assert a["other_f1_seeds"] == pytest.approx([1.0, 2 / 3]) and a["diff"] == pytest.approx(-1 / 6)
    assert b["diff"] == pytest.approx((40 / 41 - 1) / 2)
    assert result["other_taken"] is False  # dev_a falls 16.7 points on average: beyond the 2-point margin
    assert "rule (mean difference above -2 points on every dev set): not taken" in capsys.readouterr().out
    assert json.loads((tmp_path / "compare" / "choice.json").read_text())["other_taken"] is False
    # the same run on both sides differs by nothing, and is taken
    assert dev_compare.main([*out, "--other", "recipe_s0", "recipe_s1"])["other_taken"] is True
    with pytest.raises(SystemExit, match="no counts for run.*other_s2"):
        dev_compare.main([*out, "--other", "other_s0", "other_s2"])
    with pytest.raises(SystemExit, match="pair by seed"):
        dev_compare.main([*out, "--other", "other_s0"])
