"""The DVC pipeline: parameters fail fast with the key and the file, and a tiny profile runs end to end."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from gliner.loading import dtype_name, fastest_dtype
from gliner.pipeline import stage_params

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", path)
    return path


def edit(path, change):
    params = yaml.safe_load(path.read_text())
    change(params)
    path.write_text(yaml.safe_dump(params))


def test_repository_params_are_valid_in_every_profile(params_file):
    for profile in ("cpu", "gpu", "tiny"):
        edit(params_file, lambda p: p.update(profile=profile))
        for stage in ("prepare", "train", "eval", "multilingual", "k_sweep", "negative_sampling", "data_scaling", "report"):
            assert stage_params(stage, params_file)["profile"] == profile
    assert stage_params("train", params_file)["max_steps"] == 4  # the tiny override reached the stage


@pytest.mark.parametrize("stage, change, message", [
    ("k_sweep", lambda p: p["k_sweep"].update(values=[4, 0]), r"params.yaml: k_sweep.values: must be a non-empty list of positive"),
    ("negative_sampling", lambda p: p["negative_sampling"].update(values=[0.5, 1.5]), r"negative_sampling.values: must be .* in \[0, 1\]"),
    ("eval", lambda p: p["eval"].update(thresold=0.4), r"params.yaml: eval.thresold: unknown parameter"),
    ("eval", lambda p: p["eval"].pop("threshold"), r"eval.threshold: missing"),
    ("eval", lambda p: p["eval"].update(dtype="float8"), r"params.yaml: eval.dtype: must be auto, fp32 or bf16, got 'float8'"),
    ("train", lambda p: p["train"].update(learning_rate=1e-3), r"params.yaml: train.learning_rate: unknown parameter"),
    ("prepare", lambda p: p["prepare"].update(heldout_percent=80), r"params.yaml: prepare.heldout_percent: must be an integer"),
    ("eval", lambda p: p.update(profile="laptop"), r"params.yaml: profile: must be one of cpu, gpu, tiny"),
    ("eval", lambda p: p.update(evaluation={}), r"params.yaml: evaluation: unknown section"),
    ("eval", lambda p: p["profiles"]["tiny"].update(evaluate={}) or p.update(profile="tiny"), r"profiles.tiny.evaluate: no such section"),
])
def test_bad_params_fail_naming_the_file_and_key(params_file, stage, change, message):
    edit(params_file, change)
    with pytest.raises(ValueError, match=message):
        stage_params(stage, params_file)


def test_missing_params_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.yaml: params file not found"):
        stage_params("eval", tmp_path / "nowhere.yaml")


@pytest.mark.slow
def test_tiny_pipeline_runs_end_to_end(tmp_path):
    """`dvc repro` of every English stage on the tiny profile (one value per sweep), then the report.

    The multilingual stages are left out here (they convert a 490 MB backbone and fetch Debian
    packages); tests/test_convert_e5.py and tests/test_multilingual.py cover their code.
    """
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("dvc.yaml", "params.yaml", "README.md", "notebooks", "src", ".dvc/config", "data.dvc", ".dvcignore",
                 "tests/fixtures/paper_smoke"):
        source, target = REPO / name, work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    edit(work / "params.yaml", lambda p: (p.update(profile="tiny"), p["k_sweep"].update(values=[3]),
                                          p["negative_sampling"].update(values=[0.5]), p["data_scaling"].update(values=[60]),
                                          p["type_count"].update(values=[11])))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    run = lambda *cmd: subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True, text=True)  # noqa: E731
    run("git", "init", "-q")
    run("git", "-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "-q", "--allow-empty", "-m", "init")
    if (REPO / "data").is_dir():  # the pinned raw corpora, verified against data.dvc by the prepare stage
        shutil.copytree(REPO / "data", work / "data")
    else:
        run(sys.executable, "-m", "gliner.corpora.offline", "build-raw", "data")
    stages = ["zero_shot_eval", "k_sweep@3", "negative_sampling@0.5", "data_scaling@60", "type_dropping@True",
              "type_dropping@False", "type_count_figure"]
    try:  # make repro's runner: these stages and their upstream ones, two at a time where the DAG allows
        run(sys.executable, str(REPO / "scripts" / "repro.py"), "data.dvc", "resolve_params", "prepare_data", "smoke_backbone", "train",
            "type_count@11", *stages)
        run(sys.executable, str(REPO / "scripts" / "dev_eval.py"), "models/main/model", "--choice", "max_steps", "--run", "4",
            "--chosen")  # a recipe choice's evidence on dev, which the report renders
        # what `make repro` records of a fresh clone's set-up, begun 90 s ago (the time table adds it)
        run(sys.executable, str(REPO / "scripts" / "record_time.py"), "00_setup", str(time.time() - 90))
        run(sys.executable, "-m", "gliner.pipeline", "08_report")
    except subprocess.CalledProcessError as err:
        pytest.fail(f"{err.cmd} failed:\n{err.stdout[-3000:]}\n{err.stderr[-3000:]}")

    metrics = work / "reports" / "metrics"
    zero_shot = json.loads((metrics / "zero_shot.json").read_text())
    assert set(zero_shot["trained"]["datasets"]) == {"wnut16_gold", "unseen_types_silver", "heldout_silver", "handwritten_check"}
    assert all(m["num_examples"] == 10 for m in zero_shot["trained"]["datasets"].values())
    assert zero_shot["spacy_baseline"]["datasets"]["wnut16_gold"]["num_examples"] == 10
    expected_dtype = dtype_name(fastest_dtype(torch.device("cpu")))  # eval.dtype: auto on this CPU
    assert zero_shot["dtype"] == expected_dtype and f"(evaluated in {expected_dtype})" in (work / "README.md").read_text()
    seeds = zero_shot["over_seeds"]  # the recipe again from further seeds; the first is the model above
    first = seeds["seeds"][0]
    assert seeds["seeds"] == [first, first + 1, first + 2]
    assert seeds["datasets"]["wnut16_gold"]["f1_seeds"][0] == zero_shot["trained"]["datasets"]["wnut16_gold"]["micro"]["f1"]
    assert all(len(m["f1_seeds"]) == 3 and m["gold"] > 0 for m in seeds["datasets"].values())
    assert len(seeds["wnut16_gold_types_above_10pct"]) == 3
    assert "| current | spacy-person |" in (work / "reports" / "results.md").read_text()  # every judged round, rendered
    data = json.loads((metrics / "data.json").read_text())
    assert data["train_silver"]["distinct_types"] > 11 and data["train_silver"]["label_precision"]["wordnet-concept"]["judged"] >= 200
    count = json.loads((metrics / "type_count" / "types11.json").read_text())
    assert count["info"]["distinct_types"] == 11 and set(count["seeds"]) == {"0"}
    assert set(count["seeds"]["0"]["datasets"]) == {"unseen_types_silver", "wnut16_gold", "handwritten_check"}
    k3 = json.loads((metrics / "k_sweep" / "K3.json").read_text())
    assert k3["changes"] == {"max_width": 3} and set(k3["seeds"]) == {"0"}  # the tiny profile's one seed
    k3 = k3["seeds"]["0"]
    assert k3["train_steps"] == 1 and k3["inference_texts_per_s"] > 0 and k3["eval_dtype"] == expected_dtype
    assert k3["dev_sets"] == {"dev_unseen_types_silver": 5}  # thresholds chosen on the study sets' dev twins
    assert set(k3["datasets"]) == {"unseen_types_silver", "wnut16_gold", "handwritten_check"}  # k_sweep.sets
    off = json.loads((metrics / "type_dropping" / "type_droppingfalse.json").read_text())
    assert off["changes"] == {"type_dropping": False} and set(off["seeds"]) == {"0", "1"}  # the tiny profile's 2 seeds
    assert set(off["summary"]) == set(k3["datasets"]) and len(off["summary"]["wnut16_gold"]["f1_seeds"]) == 2
    counts = json.loads((work / "reports" / "studies" / "type_dropping" / "type_droppingfalse.counts.json").read_text())
    assert len(counts["1"]["wnut16_gold"]) == 5 and all(len(c) == 3 for c in counts["1"]["wnut16_gold"])
    assert json.loads((metrics / "train.json").read_text())["steps"] == 4
    for figure in ("data_stats", "data_types", "train_curves", "zero_shot_per_type", "zero_shot_threshold", "zero_shot_seeds", "k_sweep",
                   "negative_sampling", "data_scaling", "type_dropping", "type_count"):
        assert (work / "reports" / "figures" / f"{figure}.png").stat().st_size > 10_000
    readme = (work / "README.md").read_text()
    assert "Profile `tiny`" in readme and "| 3 | 1 |" in readme and "_Generated by" not in readme
    assert "**The same recipe over 3 seeds** (the model above is seed" in readme
    choice = json.loads((work / "reports" / "recipe" / "max_steps.json").read_text())
    assert choice["chosen"] == "4" and set(choice["runs"]["4"]["datasets"]) == {"dev_unseen_types_silver", "dev_heldout_silver"}
    assert all(m["gold"] > 0 for m in choice["runs"]["4"]["datasets"].values())
    counts = json.loads((work / "reports" / "recipe" / "counts" / "max_steps.json").read_text())  # for dev_compare.py
    assert {name: sum(c[0] + c[2] for c in rows) for name, rows in counts["4"].items()} == {
        name: m["gold"] for name, m in choice["runs"]["4"]["datasets"].items()} and "per_example" not in choice["runs"]["4"]
    assert "**Recipe choice `max_steps`, made on the dev sets**" in readme and "| 4 (chosen) |" in readme
    assert "type dropping = True:" in readme and "paired bootstrap" in readme  # the generated reading
    assert (work / "reports" / "results.md").read_text() in readme
    timed = json.loads((work / "reports" / "timings" / "05_k_sweep_K3.json").read_text())  # each stage times itself
    assert timed["wall_s"] > 0 and "| 05_k_sweep_K3 |" in readme and "**Time per stage**" in readme
    assert "| 00_setup | 1.5 |" in readme and "(set-up included)" in readme and "not timed yet" not in readme
    record = json.loads((work / "reports" / "timings" / "repro_run.json").read_text())  # the runner's record of the run
    assert set(stages) - {"type_count_figure"} <= set(record["stages"]) and "train" in record["stages"]
    assert not record["stages"]["train"]["beside"] and not record["stages"]["k_sweep@3"]["beside"]  # they time themselves
    assert any(stage["beside"] for stage in record["stages"].values())  # the studies share the cores
    assert f"The last `scripts/repro.py` run took {record['wall_s'] / 60:.1f} minutes" in readme and " † |" in readme
    status = run("dvc", "status", *stages).stdout
    assert "changed" not in status, status  # every stage's outputs are recorded and up to date
    # a change reaches the stages that read it and no other: the studies set their own max_words
    max_words = yaml.safe_load((work / "params.yaml").read_text())["train"]["max_words"]
    edit(work / "params.yaml", lambda p: p["train"].update(max_words=max_words + 1))
    assert "resolve_params:" in run("dvc", "status", "--with-deps", "zero_shot_eval").stdout  # changed, not yet resolved
    run("dvc", "repro", "resolve_params")
    status = run("dvc", "status", *stages).stdout
    assert "zero_shot_eval:" in status and "reports/params/zero_shot_eval.yaml" in status, status
    assert "k_sweep@3:" not in status and "type_dropping@True:" not in status, status
    edit(work / "params.yaml", lambda p: p["train"].update(max_words=max_words))
    run("dvc", "repro", "resolve_params")
    assert "changed" not in run("dvc", "status", *stages).stdout

    # the researcher's loop: commit the results, change one parameter as an experiment, compare
    run("git", "add", "-A")
    run("git", "-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "-q", "-m", "results")
    assert "changed" not in run("dvc", "status", "zero_shot_eval").stdout
    run("dvc", "exp", "run", "-S", "train.neg_ratio=0.75", "zero_shot_eval")
    assert yaml.safe_load((work / "params.yaml").read_text())["train"]["neg_ratio"] == 0.75
    params_diff = run("dvc", "params", "diff").stdout
    assert "train.neg_ratio" in params_diff and "0.75" in params_diff, params_diff
    diff = run("dvc", "metrics", "diff").stdout  # only what changed against the commit
    assert "reports/metrics/train.json" in diff and "final_loss" in diff, diff


def test_a_notebook_runs_with_the_kernel_in_notebooks(tmp_path):
    """JupyterLab started as the README says starts kernels in notebooks/: the notebook must run
    top to bottom from there, as under papermill (here 10_type_count_figure on the committed metrics)."""
    import nbformat
    from nbclient import NotebookClient

    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    for folder in ("metrics", "studies"):
        shutil.copytree(REPO / "reports" / folder / "type_count", tmp_path / "reports" / folder / "type_count")
    (tmp_path / "notebooks").mkdir()
    notebook = nbformat.read(REPO / "notebooks" / "10_type_count_figure.ipynb", as_version=4)
    values = sorted(int(p.stem.removeprefix("types")) for p in (tmp_path / "reports/metrics/type_count").glob("types*.json"))
    edit(tmp_path / "params.yaml", lambda p: p["type_count"].update(values=values))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path / "notebooks")}}).execute()
    assert (tmp_path / "reports" / "figures" / "type_count.png").stat().st_size > 1000
    assert not (tmp_path / "notebooks" / "reports").exists()  # nothing written relative to the kernel's folder


def test_profile_values_reach_commands_that_read_params_yaml(params_file, monkeypatch):
    """`python -m gliner.train --config params.yaml:train` (the README's torchrun line) and the
    multilingual data stage read the selected profile's values, not the base section's."""
    from gliner import train
    from gliner.corpora import multilingual

    edit(params_file, lambda p: p.update(profile="tiny"))
    assert train.load_config(f"{params_file}:train")["max_steps"] == 4
    seen = {}
    monkeypatch.setattr(multilingual, "prepare", lambda raw, out, langs, **kw: seen.update(kw) or {})
    multilingual.main(["prepare", "raw", "out", "--params", str(params_file)])
    assert seen == {"max_sentences": yaml.safe_load(params_file.read_text())["profiles"]["tiny"]["multilingual"]["max_examples_per_language"]}


@pytest.mark.slow
def test_paper_smoke_profile_runs_the_hub_path_to_table_1(tmp_path):
    """The gpu profile's path, everything but the download: the hub source on local files in the
    corpora's own formats, a toy DeBERTa-v2 with a SentencePiece tokenizer, `dvc repro` to the
    Table 1- and Table 3-shaped tables."""
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("dvc.yaml", "params.yaml", "notebooks", "src", ".dvc/config", "data.dvc", ".dvcignore",
                 "tests/fixtures/paper_smoke"):
        source, target = REPO / name, work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    edit(work / "params.yaml", lambda p: p.update(profile="paper-smoke"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    run = lambda *cmd: subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True, text=True)  # noqa: E731
    run("git", "init", "-q")
    run("git", "-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "-q", "--allow-empty", "-m", "init")
    (work / "data").mkdir()  # the offline corpora are a dependency of the data stage; the hub source does not read them
    (work / "data.dvc").unlink()
    try:
        run("dvc", "repro", "zero_shot_eval")
    except subprocess.CalledProcessError as err:
        pytest.fail(f"{err.cmd} failed:\n{err.stdout[-3000:]}\n{err.stderr[-3000:]}")
    config = json.loads((work / "models" / "main" / "model" / "gliner_config.json").read_text())
    assert config["encoder_config"]["model_type"] == "deberta-v2"
    assert (work / "models" / "main" / "model" / "spm.model").is_file() or "DebertaV2" in (
        work / "models" / "main" / "model" / "tokenizer_config.json").read_text()
    zero_shot = json.loads((work / "reports" / "metrics" / "zero_shot.json").read_text())
    table1 = zero_shot["table1"]["trained"]
    assert set(table1) == {"crossner_ai", "crossner_literature", "crossner_music", "crossner_politics",
                           "crossner_science", "mit_movie", "mit_restaurant", "average"}
    assert all(row["gold"] > 0 for row in table1.values())
    assert set(zero_shot["table3"]["trained"]) == {"multiconer_en", "average"}
    assert zero_shot["paper"]["table1_ood_f1"]["GLiNER-L 0.3B"] == 60.9
    data = json.loads((work / "reports" / "metrics" / "data.json").read_text())
    assert data["train_pile_ner"]["distinct_types"] > 10
    assert "changed" not in run("dvc", "status", "zero_shot_eval").stdout


def test_a_profiles_backbone_list_replaces_the_base_list(params_file):
    """The gpu profile names its multilingual backbones; the base section's are not run beside them."""
    edit(params_file, lambda p: p.update(profile="gpu"))
    gpu = yaml.safe_load(params_file.read_text())["profiles"]["gpu"]["multilingual"]["backbones"]
    assert stage_params("multilingual", params_file)["backbones"] == gpu
