"""Side-by-side benchmark against the reference `gliner` 0.2.29 (issue 8), in one run.

    .venv/bin/python -m bench.run [--tiny] [--train-file F --eval-file F] \
        --out reports/benchmark.json --figure reports/figures/benchmark.png

It only orchestrates: each part lives in a module of its own (named below), and nothing imports
from here. What it does, in order (the reference always runs in .venv-ref, built if missing, as a
subprocess: it shares our import name):
  1. data (bench/training.py): the given span-JSONL files (sentences of at most `max_words` words, seeded samples) or
     a seeded synthetic corpus (bench/corpus.py);
  2. training (bench/training.py), same budget and data: one initial checkpoint (MiniLM backbone, saved by ours) that
     both train from; ours with `gliner.train.train`, the reference with its own `train_model`
     (Hugging Face Trainer), each in a process of its own (wall and CPU time, peak RSS); ours again
     without the BiLSTM;
  3. parity (bench/parity.py), both directions: the checkpoint trained and saved by ours and the one trained and
     saved by the reference, each loaded by both implementations: same spans and labels (flat,
     nested, multi-label; two thresholds) and the largest score difference over every span;
  4. F1 of each on the evaluation set, each from its own predictions; then the replay (bench/replay.py): ours takes
     the reference's own training steps (its collator's examples and types, its loss, its
     optimizer; no dropout), in turns, and the losses, weights, scores and F1 of the two are
     compared, which separates the implementations from their random draws;
  5. precision and speed on the trained default model (bench/precision.py, bench/speed.py): F1 of ours in each
     precision on every dev and test set (fast-gliner's on the test sets: it is no candidate; with --precision-f1,
     read from the precision_f1 stage, which scores every sentence beside other stages); texts/s at each batch size, on sentences and on
     ~2,000-word documents, of ours in each precision, fast-gliner, the reference on the same checkpoint, each
     precision's bare encoder on our inputs and our forward alone, in turns; the long document's gold entities
     each implementation reaches and finds;
  6. the users' asks (bench/extras.py), on the same trained model: torch.compile, ONNX export + onnxruntime,
     speed against eager fp32 in turns, same entities, F1; and the BiLSTM left out: the short run trained
     without it against its twin trained with it (dynamic int8 is a precision of step 5).
Writes the JSON atomically and the figure; `bench.report.markdown(json)` renders the README table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from bench.accuracy import f1_of, long_document_entities  # noqa: E402
from bench.common import MODEL_NAME, TRAIN, add_data_arguments, cpu_name, log, parse_settings  # noqa: E402
from bench.extras import extras  # noqa: E402
from bench.parity import parity  # noqa: E402
from bench.precision import contenders, precision_check, precision_sets, training_step_parts  # noqa: E402
from bench.refclient import REPO, ReferenceWorker, ensure_reference_venv  # noqa: E402
from bench.replay import bf16_replay, replay_training  # noqa: E402
from bench.sentences import BASE, LABELS  # noqa: E402
from bench.speed import wide_encoder_speed  # noqa: E402
from bench.training import prepare, run_training  # noqa: E402
from gliner.atomic import write_json  # noqa: E402
from gliner.loading import default_backbone  # noqa: E402


def arguments(argv) -> tuple[argparse.Namespace, dict]:
    """The command line, and the setting it chooses with its --set overrides."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="every part on almost nothing (for make test)")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "benchmark.json")
    parser.add_argument("--figure", type=Path, default=REPO / "reports" / "figures" / "benchmark.png")
    add_data_arguments(parser)
    parser.add_argument("--backbone", help="encoder path (default: the offline MiniLM package)")
    parser.add_argument("--workdir", type=Path, help="keep checkpoints and logs here (default: a temp dir)")
    parser.add_argument("--reuse-training", action="store_true",
                        help="take training runs whose identical job already ran in --workdir (marked 'reused')")
    parser.add_argument("--main-model", type=Path, help="the precision check's checkpoint (default: ours trained here)")
    parser.add_argument("--test-sets", type=Path, nargs="*", default=[],
                        help="span-JSONL test sets for the precision check (their dev_ twins beside them choose)")
    parser.add_argument("--precision-f1", type=Path,
                        help="the precision check's F1 on every sentence, from `python -m bench.precision` on the same "
                             "--main-model (default: computed here on the first `precision_examples` of each set)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override one setting, e.g. --set compile=false --set sentences=32")
    args, s = parse_settings(parser, argv)
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in s:
            parser.error(f"--set {item}: unknown setting {key!r} (known: {', '.join(s)})")
        s[key] = json.loads(value)
    args.backbone = str(args.backbone or default_backbone())
    return args, s


def own_runs_f1(training: dict, predictors: dict, evaluation: list[dict]) -> None:
    """Each own training run's F1 on the evaluation sample, and ours against the reference (speed, F1)."""
    for name, predictor in predictors.items():
        training[name]["f1"] = f1_of(predictor, evaluation)
    ours, theirs = training["ours"], training["reference"]
    training["ours_vs_reference_steps_per_s"] = ours["steps_per_s"] / theirs["steps_per_s"]
    training["ours_vs_reference_cpu_s_per_step"] = theirs["cpu_s_per_step"] / ours["cpu_s_per_step"]
    log("  F1 at 0.5 / best: " + ", ".join(f"{k} {training[k]['f1']['f1']:.3f} / {training[k]['f1']['best_f1']:.3f}"
                                        for k in predictors))
    for key in ("f1", "best_f1"):
        training[f"{key}_diff_points"] = 100 * (ours["f1"][key] - theirs["f1"][key])


def main(argv=None) -> dict:
    args, s = arguments(argv)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    ref_python = ensure_reference_venv()
    reference_setup_s = time.perf_counter() - t_start  # a fresh clone builds .venv-ref here (the time table says so)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gliner-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    logfile = open(work / "subprocesses.log", "w")
    log(f"work dir {work}; subprocess output in {logfile.name}")
    from gliner import GLiNER

    result = {"setting": "tiny" if args.tiny else "default", "settings": s, "training_params": TRAIN,
              "machine": {"cpu": cpu_name(), "cpu_count": os.cpu_count(), "threads": args.threads,
                          "platform": platform.platform(),
                          "torch": torch.__version__, "device": "cpu",
                          "load_average_at_start": os.getloadavg()[0]},
              "backbone": MODEL_NAME}
    backbone, data, jobs = prepare(args, s, work, args.backbone, ref_python, reuse=args.reuse_training)
    if s.get("tiny_backbone"):
        result["backbone"] = "tiny random BERT (2 layers, 32 wide) with the MiniLM tokenizer"
    result["data"] = data["info"]
    training = result["training"] = run_training(jobs, work, parallel=args.tiny, logfile=logfile,
                                                 reuse=args.reuse_training)
    ckpt = {name: model_dir for name, (_, _, model_dir) in jobs.items()}
    main_model = args.main_model or ckpt["ours"]

    ours = GLiNER.from_pretrained(ckpt["ours"])
    with ReferenceWorker(ref_python, args.threads, log=logfile) as ref:
        result["reference"] = {k: v for k, v in ref.call("load", ckpt=str(ckpt["ours"])).items()}
        parity_texts = BASE[: s["parity_texts"]] + [" ".join(ex["tokenized_text"]) for ex in data["eval"][: s["parity_texts"]]]
        log("parity")
        result["parity"] = {
            "ours_checkpoint_in_reference": parity(ours, ref, ckpt["ours"], parity_texts),
            "reference_checkpoint_in_ours": parity(GLiNER.from_pretrained(ckpt["reference"]), ref, ckpt["reference"],
                                                   parity_texts),
        }
        log("F1")
        ref.call("load", ckpt=str(ckpt["reference"]))
        no_lstm = GLiNER.from_pretrained(ckpt["ours_no_lstm"])
        own_runs_f1(training, {"ours": ours, "reference": ref, "ours_no_lstm": no_lstm}, data["eval"])

        log("training replayed: ours takes the reference's steps")
        recorded = []
        training["replay"] = replay_training(ref, work / "init", data["train_file"], data["eval"], parity_texts, s, work,
                                             record=recorded)
        log("training replayed in bf16 and fp32: ours on the reference's steps")
        training["replay_bf16"] = bf16_replay(work / "init", data["train_file"], recorded, data["eval"], s)
        training["replay_float64"] = replay_training(ref, work / "init", data["train_file"], [], [], s, work, "float64",
                                                     s["replay_float64_steps"])
        log(f"precision and speed: {main_model} in each precision, fast-gliner, the reference")
        models, info = contenders(main_model, work)
        result["speed_inputs"] = {"sentences": s["sentences"], "labels": len(LABELS), "long_documents": s["long_docs"]}
        result["precision"] = precision_check(models, info, main_model, precision_sets(args.test_sets, data), s, ref,
                                              args.precision_f1)
        result["long_document_entities"] = long_document_entities(models["fp32"], ref, s["long_doc_words"],
                                                                  s["long_doc_threshold"])
        result["speed_inputs"]["long_document_words"] = result["long_document_entities"]["words"]
    log("bf16 training step, part by part")
    training["bf16_step_parts"] = training_step_parts(main_model, data["train_file"], s)
    log("speed, encoder of the paper's size")
    result["speed_wide_encoder"] = wide_encoder_speed(backbone, s)
    log("extras")
    result["extras"] = extras(models["fp32"], main_model, {"with_bilstm": ours, "no_bilstm": no_lstm}, s, data["eval"],
                              work, args.threads, {"with_bilstm": training["ours"]["f1"],
                                                   "no_bilstm": training["ours_no_lstm"]["f1"]})
    result["machine"]["load_average_at_end"] = os.getloadavg()[0]
    result["wall_s"] = time.perf_counter() - t_start
    result["reference_setup_s"] = reference_setup_s
    write_json(args.out, result)
    from bench.report import figure, markdown

    result = json.loads(args.out.read_text())  # render what was written
    figure(result, args.figure)
    print(markdown(result))
    log(f"wrote {args.out} and {args.figure} in {result['wall_s']:.0f} s")
    return result


if __name__ == "__main__":
    main()
