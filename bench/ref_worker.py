"""The reference side of the benchmark: runs in .venv-ref with the PyPI `gliner` 0.2.29.

The reference shares our import name, so it never runs in our process. Two modes:

    .venv-ref/bin/python bench/ref_worker.py serve
        a persistent worker: one JSON request per line on stdin, one JSON reply per line on the
        original stdout (everything the libraries print goes to stderr). Lets the benchmark take
        turns between ours and the reference within one run.
    .venv-ref/bin/python bench/ref_worker.py train JOB.json OUT.json
        one training run with the reference's own `train_model` (its Hugging Face Trainer), in a
        process of its own so its peak RSS is its own.

This file imports nothing from this repository (bench/ imports our `gliner`).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")


def _reference():
    import gliner

    if "site-packages" not in gliner.__file__:
        sys.exit(f"'gliner' is {gliner.__file__}, not the reference package: run with .venv-ref/bin/python")
    return gliner


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def entities(found: list[list[dict]]) -> list[list[dict]]:
    keys = ("start", "end", "text", "label", "score")
    return [[{k: float(e[k]) if k == "score" else e[k] for k in keys} for e in doc] for doc in found]


class Worker:
    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.gliner = _reference()
        self.model = None

    def load(self, ckpt: str, quantize: bool = False) -> dict:
        from gliner import GLiNER

        self.model = GLiNER.from_pretrained(ckpt, local_files_only=True, map_location="cpu").eval()
        if quantize:
            self.model.quantize("int8")
        return {"class": type(self.model).__name__, "max_len": self.model.config.max_len,
                "version": self.gliner.__version__, "torch": self.torch.__version__}

    def predict(self, texts, labels, threshold=0.5, flat_ner=True, multi_label=False, batch_size=8) -> dict:
        found = self.model.inference(texts, labels, flat_ner=flat_ner, threshold=threshold,
                                     multi_label=multi_label, batch_size=batch_size)
        return {"entities": entities(found)}

    def scores(self, texts, labels) -> dict:
        """Sigmoid scores (L, K, C) of every span of each text (one text per forward), the number of
        words in the text and the number L the model scored (less, where it cut the text)."""
        out = []
        for text in texts:
            prepared = self.model.prepare_batch([text], labels)
            batch = self.model.collate_batch(prepared["input_x"], prepared["entity_types"])
            logits = self.model.run_batch(batch, threshold=0.5).logits
            out.append({"words": len(prepared["tokens"][0]), "scored_words": logits.size(1),
                        "scores": logits[0].float().sigmoid().tolist()})
        return {"texts": out}

    def time_predict(self, texts, labels, batch_size, repeats=1) -> dict:
        """Seconds for `repeats` runs of inference over all texts (the caller takes turns)."""
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            self.model.inference(texts, labels, batch_size=batch_size)
            times.append(time.perf_counter() - t0)
        return {"seconds": times}

    def replay_setup(self, ckpt, examples, batch_size, seed, lr_factors, learning_rate, others_lr, weight_decay,
                     max_grad_norm, focal_alpha, workdir, dtype="float32") -> dict:
        """A fresh model from `ckpt` for `replay_steps`, set up as `train_model` sets it up: the
        optimizer from its own Trainer (`create_optimizer`: encoder and other parameter groups),
        the batches from its own collator (type sampling), the loss from its forward. Two things
        differ, so that ours can take exactly the same steps: dropout is off (eval mode) and the
        learning-rate factor of each step is given (`lr_factors`, one per step). `dtype` float64
        makes rounding too small to tell the two apart for many steps."""
        import random

        from gliner import GLiNER
        from gliner.model import _get_trainer_classes

        torch = self.torch
        model = GLiNER.from_pretrained(ckpt, local_files_only=True, map_location="cpu").eval().to(getattr(torch, dtype))
        args = model.create_training_args(
            output_dir=workdir, learning_rate=learning_rate, others_lr=others_lr, weight_decay=weight_decay,
            others_weight_decay=weight_decay, use_cpu=True, report_to="none", max_grad_norm=max_grad_norm)
        collator = model._create_data_collator()
        collator.return_id_to_classes = True  # which types each example was prompted with
        trainer_class, _ = _get_trainer_classes()
        optimizer = trainer_class(model=model, args=args, processing_class=model.data_processor.transformer_tokenizer,
                                  data_collator=collator).create_optimizer()
        random.seed(seed)  # the collator's type sampling draws from `random` (the Trainer has just seeded it)
        order = list(range(len(examples)))
        random.Random(seed).shuffle(order)
        self.replay = dict(model=model, optimizer=optimizer, collator=collator, order=order, batch_size=batch_size,
                           examples=[{"tokenized_text": ex["tokenized_text"], "ner": ex["ner"]} for ex in examples],
                           scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factors[step]),
                           max_grad_norm=max_grad_norm, focal_alpha=focal_alpha, position=0)
        return {"param_groups": len(optimizer.param_groups)}

    def replay_steps(self, steps) -> dict:
        """`steps` training steps (collate, forward with labels, backward, clip, optimizer, schedule):
        the seconds they took, and for each step its examples, their types in prompt order, the loss."""
        torch, r = self.torch, self.replay
        model, n, size = r["model"], len(r["order"]), r["batch_size"]
        record, seconds = [], 0.0
        for _ in range(steps):
            indices = [r["order"][(r["position"] + i) % n] for i in range(size)]
            r["position"] += size
            t0 = time.perf_counter()
            batch = r["collator"]([r["examples"][i] for i in indices])
            id_to_classes = batch.pop("id_to_classes")
            loss = model(alpha=r["focal_alpha"], gamma=0.0, reduction="sum", negatives=1.0, **batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), r["max_grad_norm"])
            r["optimizer"].step()
            r["scheduler"].step()
            r["optimizer"].zero_grad(set_to_none=True)
            seconds += time.perf_counter() - t0
            record.append({"examples": indices, "types": [[c[k] for k in sorted(c)] for c in id_to_classes],
                           "loss": float(loss)})
        return {"seconds": seconds, "steps": record}

    def replay_finish(self, save_dir) -> dict:
        """Save the replayed model (the reference's format) and make it the one `predict` uses."""
        self.model = self.replay.pop("model")
        self.model.save_pretrained(save_dir)
        self.replay = None
        return {}

    def rss(self) -> dict:
        return {"peak_rss_mb": peak_rss_mb()}


def serve(threads: int) -> None:
    reply = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # library prints must not corrupt the replies
    sys.stdout = sys.stderr
    worker = Worker(threads)
    for line in sys.stdin:
        request = json.loads(line)
        command = request.pop("cmd")
        if command == "quit":
            break
        try:
            result = {"ok": True, **getattr(worker, command)(**request)}
        except Exception as err:  # reported to the caller, which decides what to do
            import traceback

            traceback.print_exc()
            result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        reply.write(json.dumps(result) + "\n")


def train(job_file: str, out_file: str) -> None:
    """Train the reference from a checkpoint with its own train_model; write timings and RSS."""
    job = json.load(open(job_file, encoding="utf-8"))
    import torch

    torch.set_num_threads(job["threads"])
    torch.manual_seed(job["seed"])
    _reference()
    from gliner import GLiNER

    examples = [json.loads(line) for line in open(job["train_file"], encoding="utf-8")]
    data = [{"tokenized_text": ex["tokenized_text"], "ner": ex["ner"]} for ex in examples]
    t_load = time.perf_counter()
    model = GLiNER.from_pretrained(job["init_ckpt"], local_files_only=True, map_location="cpu")
    load_s = time.perf_counter() - t_load
    t0, c0 = time.perf_counter(), time.process_time()
    trainer = model.train_model(
        train_dataset=data, eval_dataset=None, output_dir=job["output_dir"],
        learning_rate=job["lr_encoder"], others_lr=job["lr_others"], weight_decay=job["weight_decay"],
        others_weight_decay=job["weight_decay"], lr_scheduler_type="cosine", warmup_ratio=job["warmup_ratio"],
        per_device_train_batch_size=job["batch_size"], max_grad_norm=job["max_grad_norm"],
        max_steps=job["steps"], save_steps=10**9, save_strategy="no", logging_steps=max(1, job["steps"] // 5),
        use_cpu=True, dataloader_num_workers=0, report_to="none", loss_reduction="sum", negatives=1.0,
        focal_loss_alpha=job["focal_alpha"], focal_loss_gamma=0.0,
        seed=job["seed"], disable_tqdm=True,
    )
    train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    hf = [h for h in trainer.state.log_history if "train_runtime" in h]
    model.save_pretrained(job["model_dir"])
    result = {"load_s": load_s, "train_s": train_s, "loop_s": train_s, "loop_cpu_s": cpu_s, "steps": trainer.state.global_step,
              "hf_train_runtime_s": hf[-1]["train_runtime"] if hf else None,
              "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
              "peak_rss_mb": peak_rss_mb()}
    with open(out_file, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    elif sys.argv[1:2] == ["train"]:
        train(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
