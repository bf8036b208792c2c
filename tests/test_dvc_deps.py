"""dvc.yaml is the study's table of contents: every module a stage runs (its command's module, the
notebook it executes, and what they import, lazily or not, transitively) must be among its deps,
or `dvc status` says "up to date" after a change that alters the stage's results."""

import ast
import json
import re
from pathlib import Path

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


def test_stages_depend_on_the_profile_keys_they_read_not_on_every_profile():
    """A stage that reads section S (or a key of it) depends on S and on each profile's override of S,
    and on nothing else of `profiles`: editing profiles.gpu.k_sweep must not mark prepare_data changed."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    profiles = sorted(params["profiles"])
    sections = set(params) - {"profile", "profiles"}
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"].items():
        listed = stage.get("do", stage).get("params", [])
        assert "profiles" not in listed, name
        read = {p.split(".")[0] for p in listed if p.split(".")[0] in sections}
        expected = {f"profiles.{profile}.{section}" for profile in profiles for section in read}
        assert {p for p in listed if p.startswith("profiles.")} == expected, name
    for profile in profiles:  # DVC fails on a params key that is missing, so each profile names every section
        assert set(params["profiles"][profile]) == sections, profile
        for section, values in params["profiles"][profile].items():
            assert "values" not in values, f"profiles.{profile}.{section}.values: dvc.yaml's foreach reads the base list"
