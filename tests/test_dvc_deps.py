"""dvc.yaml is the study's table of contents: every module a stage runs (its command's module, the
notebook it executes, and what they import, lazily or not, transitively) must be among its deps,
or `dvc status` says "up to date" after a change that alters the stage's results."""

import ast
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"gliner": REPO / "src" / "gliner", "bench": REPO / "bench"}


def module_file(name: str) -> Path | None:
    """The file of a module of this repo ('gliner.model' -> src/gliner/model.py), or None."""
    top, *rest = name.split(".")
    if top not in PACKAGES:
        return None
    base = PACKAGES[top].joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(source: str, package: str | None = None) -> set[str]:
    """Every module an import statement anywhere in `source` names (relative ones resolved)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from gliner import model`
    return names


def closure(modules: set[str]) -> set[Path]:
    """Files of this repo that importing `modules` runs, packages' __init__ files included."""
    files, todo = set(), list(modules)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__ too
            path = module_file(".".join(parts[:i]))
            if path is None or path in files:
                continue
            files.add(path)
            package = ".".join(parts[:i]) if path.name == "__init__.py" else ".".join(parts[: i - 1])
            todo.extend(imported_modules(path.read_text(encoding="utf-8"), package))
    return files


def notebook_imports(path: Path) -> set[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    return imported_modules(code)


def stages():
    """(name, cmd, deps) of every stage of dvc.yaml, foreach stages once (their items share code)."""
    text = (REPO / "dvc.yaml").read_text(encoding="utf-8")
    dvc = yaml.safe_load(text)
    src = dvc["vars"][0]["src"]
    for name, stage in dvc["stages"].items():
        stage = stage.get("do", stage)
        fill = lambda s: s.replace("${src}", src)  # noqa: E731
        yield name, fill(stage["cmd"]), [fill(d) for d in stage.get("deps", [])]


def code_of(cmd: str) -> set[Path]:
    modules = set(re.findall(r"python -m ([\w.]+)", cmd))
    from gliner.pipeline import HUB_NOTEBOOKS

    for notebook in re.findall(r"python -m gliner\.pipeline (\w+)", cmd):
        for name in (notebook, HUB_NOTEBOOKS.get(notebook)):  # the hub source's variant runs in the same stage
            if name:
                modules |= notebook_imports(REPO / "notebooks" / f"{name}.ipynb")
    return closure(modules)


def uncovered(cmd: str, deps: list[str]) -> list[str]:
    covered = [REPO / d for d in deps]
    return sorted(str(f.relative_to(REPO)) for f in code_of(cmd)
                  if not any(f == d or d in f.parents for d in covered))


def test_every_stage_depends_on_the_code_it_runs():
    missing = {name: gaps for name, cmd, deps in stages() if (gaps := uncovered(cmd, deps))}
    assert missing == {}


def test_the_check_follows_lazy_and_transitive_imports():
    """The closure sees an import inside a function and the modules a module imports in turn."""
    files = {str(f.relative_to(REPO)) for f in code_of("python -m gliner.pipeline 02_train")}
    assert {"src/gliner/pipeline.py", "src/gliner/train.py", "src/gliner/model.py", "src/gliner/processing.py",
            "src/gliner/atomic.py", "src/gliner/__init__.py"} <= files
    assert uncovered("python -m gliner.pipeline 02_train", ["src/gliner/pipeline.py"])
    assert uncovered("python -m gliner.pipeline 02_train", ["src/gliner"]) == []


def test_each_stage_reads_and_depends_on_its_resolved_params():
    """Only resolve_params reads params.yaml (all of it); every other stage that reads parameters gets its
    resolved file on the command line and lists exactly that file under `params`, and STAGE_READS
    names exactly those stages."""
    from gliner.params import STAGE_READS

    with_params = set()
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"].items():
        body = stage.get("do", stage)
        listed, files = body.get("params", []), re.findall(r"--params (\S+)", body["cmd"])
        if name == "resolve_params":
            assert listed == [{"params.yaml": None}] and "reports/params" in body["cmd"]
            continue
        assert len(files) <= 1 and listed == [{f: None} for f in files], name
        if files:
            assert files[0].startswith(f"reports/params/{name}"), name
            with_params.add(name)
    assert with_params == set(STAGE_READS)


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", path)
    return path


def edited(path, change) -> dict:
    """The resolved files after `change` to the params file at `path`."""
    from gliner.params import resolved_files

    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(values)
    path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return resolved_files(path)


def test_a_params_change_reaches_only_the_stages_that_read_it(params_file):
    """The studies and multilingual set their own max_steps: the main recipe's does not re-run them; a
    profile that is not selected changes nothing; a new study value leaves the others' files alone."""
    from gliner.params import resolved_files

    before = resolved_files(params_file)
    changed = lambda after: {f for f in before.keys() | after.keys() if before.get(f) != after.get(f)}  # noqa: E731
    assert changed(edited(params_file, lambda p: p["train"].update(max_steps=7))) == {"train.yaml", "zero_shot_eval.yaml"}
    before = resolved_files(params_file)
    assert changed(edited(params_file, lambda p: p["eval"].update(seeds=5))) == {"zero_shot_eval.yaml"}
    before = resolved_files(params_file)
    assert changed(edited(params_file, lambda p: p["train"].update(lr_others=2e-3))) == (
        {"train.yaml", "zero_shot_eval.yaml", "multilingual.yaml"} | {f for f in before if "/" in f})  # every ablation trains it
    before = resolved_files(params_file)
    assert changed(edited(params_file, lambda p: p["profiles"]["gpu"]["k_sweep"].update(eval_max_examples=3))) == set()
    assert changed(edited(params_file, lambda p: p["k_sweep"]["values"].append(8))) == {"k_sweep/K8.yaml", "report.yaml"}
    before = resolved_files(params_file)
    assert changed(edited(params_file, lambda p: p["k_sweep"].update(seeds=4))) == {f for f in before if f.startswith("k_sweep/")}


def test_a_stage_refuses_a_stale_resolved_file_and_keys_it_does_not_read(params_file):
    from gliner.params import check_resolved, resolved_files, resolved_text, stage_params

    out = params_file.parent / "resolved"
    for name, values in resolved_files(params_file).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(resolved_text(values), encoding="utf-8")
    check_resolved(out / "k_sweep" / "K12.yaml", params_file)  # in step with params.yaml
    assert stage_params("train", out / "k_sweep" / "K12.yaml")["max_steps"] == 200  # the study's own, over the main recipe's
    with pytest.raises(KeyError, match=r"eval.max_examples: not among the keys this stage reads"):
        stage_params("eval", out / "k_sweep" / "K12.yaml")["max_examples"]
    edited(params_file, lambda p: p["k_sweep"]["train"].update(max_steps=9))
    with pytest.raises(ValueError, match=r"K12.yaml: out of date with .*params.yaml: run `dvc repro resolve_params`"):
        check_resolved(out / "k_sweep" / "K12.yaml", params_file)
    check_resolved(out / "train.yaml", params_file)  # the main recipe's file did not change



def test_a_prepare_key_left_out_takes_its_default(params_file):
    """zero_shot_eval reads prepare.source and prepare.spacy_model: a params.yaml that leaves them out
    resolves to their defaults (PREPARE_DEFAULTS), not to a bare KeyError."""
    from gliner.params import PREPARE_DEFAULTS, resolve_stage

    def drop(p):
        del p["prepare"]["spacy_model"], p["prepare"]["source"]
    edited(params_file, drop)
    assert resolve_stage("zero_shot_eval", params_file)["prepare"] == {
        "source": "offline", "spacy_model": PREPARE_DEFAULTS["spacy_model"]}
