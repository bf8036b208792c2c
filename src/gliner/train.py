"""Training (paper section 3): one loop for CPU, GPU (bf16 autocast) and DDP under torchrun.

    python -m gliner.train --config params.yaml:train          # a params.yaml section, profile applied
    torchrun --nproc-per-node 2 -m gliner.train --config params.yaml:train   # same script, DDP

Where the paper is silent the step follows the reference (gliner 0.2.29): negative types from the other
examples of the batch, type dropping, summed BCE, AdamW with two learning rates, warmup then cosine.
Randomness comes from (seed, step, micro-batch, rank), so a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .atomic import atomic_dir
from .loading import DEFAULT_BACKBONE, cpu_has_bf16, default_backbone, fastest_dtype
from .params import DEFAULTS, RESUMABLE_CHANGES, check_params, load_config
from .processing import collate

# ---------------------------------------------------------------------------------- batches
def sample_types(batch: list[dict], neg_ratio: float, type_dropping: bool, shuffle: bool, max_types: int,
                 rng: random.Random, min_types: int = 0, vocabulary: list[str] = ()) -> list[list[str]]:
    """Each example's prompt types: its positives plus negatives drawn from the batch's other types (the
    reference's rule, two differences in the README's "CPU recipe"), optionally cut to a random 1..n (type
    dropping) and filled up to `min_types` from `vocabulary`; an example's own `negatives` replace the draw."""
    pool = sorted({t for ex in batch for *_, t in ex["ner"]})
    rng.shuffle(pool)
    out = []
    for ex in batch:
        positives = list(dict.fromkeys(t for *_, t in ex["ner"]))
        if "negatives" in ex:
            negatives = [t for t in ex["negatives"] if t not in positives]
        else:
            count = rng.randint(0, 1) * round(2 * neg_ratio * max(1, len(ex["ner"])))
            negatives = [t for t in pool if t not in positives][:count]
        types = positives + negatives
        if shuffle:
            rng.shuffle(types)
        if type_dropping and types:
            types = types[: rng.randint(1, len(types))]
        if len(types) < min_types:
            spare = [t for t in vocabulary if t not in positives and t not in types]
            types += rng.sample(spare, min(len(spare), min_types - len(types)))
            if shuffle:
                rng.shuffle(types)
        out.append(types[:max_types])
    return out


def keep_top_types(examples: list[dict], n: int) -> list[dict]:
    """The same examples with only the spans of the n most frequent types (ties by name): a corpus
    with fewer types over the same text, for the type-count study."""
    counts = Counter(t for ex in examples for *_, t in ex["ner"])
    keep = set(sorted(counts, key=lambda t: (-counts[t], t))[:n])
    return [{**ex, "ner": [s for s in ex["ner"] if s[2] in keep]} for ex in examples]


def make_batch(examples: list[dict], types: list[list[str]], model, max_words: int) -> dict:
    """Collate examples (cut to max_words words) with their types; rows without any type are left
    out, unless none has one (then the reference's empty prompt keeps the step well-formed). An
    example's `masked` spans are left out of the loss, as padding is; a masked [start, end, type] only for
    that type's column (`cell_mask`, present when some example has one)."""
    rows = [(ex, t) for ex, t in zip(examples, types) if t] or [(examples[0], [""])]
    words = [ex["tokenized_text"][:max_words] for ex, _ in rows]
    ner = [[e for e in ex["ner"] if e[1] < max_words] for ex, _ in rows]
    cfg = model.config
    batch = collate(model.tokenizer, words, [t for _, t in rows], ner, cfg.max_width, cfg.ent_token, cfg.sep_token)
    for b, (ex, row_types) in enumerate(rows):
        for start, end, *of_type in ex.get("masked", ()):
            if end >= max_words or end - start >= cfg.max_width:
                continue
            if not of_type:
                batch["span_mask"][b, start, end - start] = False
            elif of_type[0] in row_types:
                if "cell_mask" not in batch:
                    batch["cell_mask"] = torch.ones(batch["targets"].shape, dtype=torch.bool)
                batch["cell_mask"][b, start, end - start, row_types.index(of_type[0])] = False
    return batch


def span_loss(logits: torch.Tensor, type_mask: torch.Tensor, targets: torch.Tensor, span_mask: torch.Tensor,
              reduction: str = "sum", alpha: float = -1.0, gamma: float = 0.0, prob_floor: float = 0.0,
              cell_mask: torch.Tensor | None = None) -> torch.Tensor:
    """BCE over (B, L, K, C) scores; padded spans and type columns, and cells `cell_mask` clears, count for nothing. alpha >= 0 and gamma > 0
    make it the reference's focal loss (rare positives are not drowned by ~2,000 cells per entity); prob_floor > 0
    clamps -log(p_t) as the reference does (1e-6), which leaves confident mistakes without gradient."""
    C = logits.size(-1)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 -> fp32; fp64 stays
    targets = targets[..., :C].to(logits.dtype)  # the model's C is the batch's most types; targets may hold a spare column
    valid = span_mask[..., None] & type_mask[:, None, None, :]
    if cell_mask is not None:
        valid = valid & cell_mask[..., :C]
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if prob_floor > 0:
        losses = losses.clamp(max=-math.log(prob_floor))
    if gamma > 0:
        p = torch.sigmoid(logits)
        losses = losses * (1 - (p * targets + (1 - p) * (1 - targets))) ** gamma
    if alpha >= 0:
        losses = losses * (alpha * targets + (1 - alpha) * (1 - targets))
    losses = losses * valid
    return losses.sum() if reduction == "sum" else losses.sum() / valid.sum().clamp(min=1)


def batch_loss(net, batch: dict, p: dict) -> torch.Tensor:
    """The loss of one `make_batch` batch (on the model's device), under bf16 autocast where p["bf16"]."""
    batch = dict(batch)
    targets, span_mask, cell_mask = batch.pop("targets"), batch.pop("span_mask"), batch.pop("cell_mask", None)
    with torch.autocast(targets.device.type, dtype=torch.bfloat16, enabled=bool(p["bf16"])):
        logits, type_mask = net(**batch)
    return span_loss(logits, type_mask, targets, span_mask, p["loss_reduction"], p["focal_alpha"], p["focal_gamma"],
                     p["prob_floor"], cell_mask)


def optimizer_step(model, optimizer, scheduler, max_grad_norm: float) -> None:
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def freeze_pooler(model) -> None:
    """The encoder's pooler never reaches the loss: no gradient, no weight decay moving it."""
    for name, param in model.named_parameters():
        if ".pooler." in name:
            param.requires_grad_(False)


class ExampleOrder:
    """Epoch after epoch of seeded permutations; position p of the stream is a pure function of p."""

    def __init__(self, num_examples: int, seed: int):
        self.n, self.seed, self.epoch, self.perm = num_examples, seed, -1, []

    def __getitem__(self, position: int) -> int:
        epoch = position // self.n
        if epoch != self.epoch:
            self.epoch, self.perm = epoch, list(range(self.n))
            random.Random(f"{self.seed}:order:{epoch}").shuffle(self.perm)
        return self.perm[position % self.n]


# ---------------------------------------------------------------------------------- optimisation
def make_optimizer(model, p: dict) -> torch.optim.Optimizer:
    """AdamW with the encoder at lr_encoder and the rest at lr_others; no decay on biases/LayerNorms."""
    groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = "encoder" if name.startswith("model.token_rep_layer.") else "others"
        decay = param.ndim >= 2 and "LayerNorm" not in name
        groups.setdefault((part, decay), []).append(param)
    # fused: one kernel over all tensors; on CPU ~40x faster than the default per-tensor loop,
    # which otherwise costs as much as the forward pass (the word embeddings are 11M numbers)
    return torch.optim.AdamW(
        [{"params": params, "lr": p[f"lr_{part}"], "weight_decay": p["weight_decay"] if decay else 0.0, "name": part}
         for (part, decay), params in sorted(groups.items())], fused=True)


def warmup_cosine(warmup: int, total: int):
    """LR multiplier: linear 0 -> 1 over `warmup` steps, then cosine 1 -> 0 at `total`."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return factor


# ---------------------------------------------------------------------------------- checkpoints
def save_checkpoint(directory: Path, model, optimizer, scheduler, step: int, params: dict, history: list) -> None:
    """Model (save_pretrained format) + training_state.pt, swapped in as one directory.

    No RNG state is kept: each step reseeds from (seed, step, micro-batch, rank), and the data
    order is a function of (seed, position), so the step number is all a resumed run needs."""
    with atomic_dir(directory, replace=True) as tmp:
        model.save_pretrained(tmp / "model")
        state = {"step": step, "params": params, "history": history, "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(),
                 "weights_sha256": hashlib.sha256((tmp / "model" / "model.safetensors").read_bytes()).hexdigest()}
        torch.save(state, tmp / "training_state.pt")


def load_checkpoint(directory: Path, device) -> tuple:
    """(model, training state) from a checkpoint; a damaged one raises, naming the file."""
    from .model import GLiNER

    state_file = directory / "training_state.pt"
    try:
        state = torch.load(state_file, map_location="cpu", weights_only=False)
        assert isinstance(state, dict) and "step" in state, "no training step recorded"
    except Exception as err:
        raise ValueError(f"{state_file}: unreadable or truncated training state ({type(err).__name__}: {err}); "
                         "delete the checkpoint directory to start over") from None
    weights = directory / "model" / "model.safetensors"
    if not weights.is_file() or hashlib.sha256(weights.read_bytes()).hexdigest() != state["weights_sha256"]:
        raise ValueError(f"{weights}: missing or does not match the checksum in {state_file}; the checkpoint is damaged")
    return GLiNER.from_pretrained(directory / "model", map_location=str(device)), state


# ---------------------------------------------------------------------------------- the loop
def new_model(params: dict):
    """The untrained model a run starts from: the backbone with GLiNER layers initialised from the seed."""
    from .model import GLiNER

    p = check_params(params)
    torch.manual_seed(p["seed"])
    return GLiNER.from_backbone(
        p["backbone"] or default_backbone(), model_name=p["model_name"] or p["backbone"] or DEFAULT_BACKBONE,
        max_width=p["max_width"], hidden_size=p["hidden_size"], dropout=p["dropout"],
        num_rnn_layers=p["num_rnn_layers"], max_types=p["max_types"], **p["model_config"])


def device_type(requested: str) -> str:
    """'cuda' or 'cpu' for train.device ('auto', 'cuda' or 'cpu'): where a recipe trains and its models are evaluated."""
    return "cuda" if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()) else "cpu"


def autocast_bf16(requested, device: torch.device, source: str = "params") -> bool:
    """train.bf16 on this device: "auto" trains in bf16 where the device computes it natively (fastest_dtype);
    true on a CPU without the units is refused, as bf16 would run emulated there, slower than float32."""
    if requested == "auto":
        return fastest_dtype(device) == torch.bfloat16
    if requested and device.type == "cpu" and not cpu_has_bf16():
        raise ValueError(f"{source}: bf16: this CPU has no bfloat16 units (AVX-512 BF16 or AMX); "
                         "bf16 would run emulated, slower than float32: set bf16: auto or false")
    return bool(requested)


def train(params: dict, resume: bool = False, source: str = "params") -> dict:
    """Train a GLiNER from params (gliner.params.DEFAULTS): the model goes to output_dir/model, the resumable
    state to output_dir/checkpoint (resume=True continues from it); under torchrun each process takes its share."""
    from .data import load_jsonl

    p = check_params(params, source)  # `source` (e.g. "params.yaml:train") names where a bad key came from
    if p["num_threads"]:
        torch.set_num_threads(p["num_threads"])
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    use_cuda = device_type(p["device"]) == "cuda"
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if use_cuda else "cpu")
    step_params = {**p, "bf16": autocast_bf16(p["bf16"], device, source)}  # what each step runs under
    if world > 1 and not torch.distributed.is_initialized():
        if use_cuda:
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    out = Path(p["output_dir"])

    examples = load_jsonl(p["train_file"])
    if not examples:
        raise ValueError(f"{source}: train_file: {p['train_file']} has no examples")
    if p["skip_empty"]:  # silver corpora are half entity-less sentences, Pile-NER has none: on a
        # small step budget they cost an encoder pass each and teach only "no entity here"
        examples = [ex for ex in examples if ex["ner"]]
        if not examples:
            raise ValueError(f"{source}: skip_empty: {p['train_file']} has no sentence with an entity")
    if p["max_train_examples"] is not None and p["max_train_examples"] < len(examples):
        examples = random.Random(f"{p['seed']}:subset").sample(examples, p["max_train_examples"])
    if p["max_train_types"] is not None:  # after skip_empty: every value trains on the same text
        examples = keep_top_types(examples, p["max_train_types"])

    checkpoint = out / "checkpoint"
    if resume and (checkpoint / "training_state.pt").exists():
        model, state = load_checkpoint(checkpoint, device)
        changed = sorted(k for k in p if k not in RESUMABLE_CHANGES and state["params"].get(k, DEFAULTS[k]) != p[k])
        if changed:
            raise ValueError(f"{checkpoint}: cannot resume with changed parameters: {', '.join(changed)}")
    else:
        model, state = new_model(p).to(device), None
    freeze_pooler(model)

    optimizer = make_optimizer(model, p)
    warmup = int(p["warmup_ratio"] * p["max_steps"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup, p["max_steps"]))
    step, history = 0, []
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history = state["step"], state["history"]
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if use_cuda else None) if world > 1 else model

    live = None
    if p["dvclive_dir"] and rank == 0:
        from dvclive import Live

        live = Live(p["dvclive_dir"], resume=state is not None, save_dvc_exp=False, dvcyaml=None)
    order = ExampleOrder(len(examples), p["seed"])
    vocabulary = sorted({t for ex in examples for *_, t in ex["ner"]})
    per_step = p["batch_size"] * world * p["grad_accum"]
    bar = tqdm(total=p["max_steps"], initial=step, desc="train", disable=not p["progress"] or rank != 0)
    window_loss, window_examples, window_start = 0.0, 0, time.perf_counter()
    net.train()
    while step < p["max_steps"]:
        step_loss = torch.zeros((), device=device)
        for micro in range(p["grad_accum"]):
            rng = random.Random(f"{p['seed']}:{step}:{micro}:{rank}")
            torch.manual_seed(rng.randrange(2**63))  # dropout
            first = step * per_step + (micro * world + rank) * p["batch_size"]
            batch_examples = [examples[order[first + i]] for i in range(p["batch_size"])]
            types = sample_types(batch_examples, p["neg_ratio"], p["type_dropping"], p["shuffle_types"], p["max_types"],
                                 rng, p["min_types"], vocabulary)
            batch = {k: v.to(device) for k, v in make_batch(batch_examples, types, model, p["max_words"]).items()}
            sync = world == 1 or micro == p["grad_accum"] - 1  # DDP averages gradients on the last one
            with nullcontext() if sync else net.no_sync():
                loss = batch_loss(net, batch, step_params) / p["grad_accum"]
                loss.backward()
            step_loss += loss.detach()
        optimizer_step(model, optimizer, scheduler, p["max_grad_norm"])
        step += 1
        if world > 1:
            torch.distributed.all_reduce(step_loss)
            step_loss /= world
        window_loss += step_loss.item()
        window_examples += per_step
        bar.update(1)
        if step % p["log_every"] == 0 or step == p["max_steps"]:
            steps_in_window = (step - 1) % p["log_every"] + 1
            speed = window_examples / (time.perf_counter() - window_start)
            lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
            history.append({"step": step, "loss": window_loss / steps_in_window, **{f"lr_{k}": v for k, v in lrs.items()}})
            bar.set_postfix(loss=f"{history[-1]['loss']:.3g}", lr=f"{lrs['others']:.2e}", ex_s=f"{speed:.1f}")
            if live is not None:
                live.step = step
                for key, value in history[-1].items():
                    if key != "step":
                        live.log_metric(f"train/{key}", value)
                live.log_metric("train/examples_per_s", speed)
                live.next_step()
            window_loss, window_examples, window_start = 0.0, 0, time.perf_counter()
        if (p["save_every"] and step % p["save_every"] == 0) or step == p["max_steps"]:
            if rank == 0:
                save_checkpoint(checkpoint, model, optimizer, scheduler, step, p, history)
            if world > 1:
                torch.distributed.barrier()
    bar.close()
    if rank == 0:
        model.save_pretrained(out / "model")
    if live is not None:
        live.end()
    if world > 1:
        torch.distributed.barrier()
    return {"step": step, "final_loss": history[-1]["loss"] if history else None, "history": history,
            "model_dir": str(out / "model"),
            "examples_seen": step * per_step, "train_examples": len(examples), "world_size": world,
            "bf16": step_params["bf16"]}


# ---------------------------------------------------------------------------------- command line
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="params.yaml[:section]; flags given here override it")
    parser.add_argument("--resume", action="store_true", help="continue from output_dir/checkpoint if present")
    for key, default in DEFAULTS.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            kind = {int: int, float: float, dict: json.loads}.get(type(default), str)
            kind = int if key in ("max_train_examples", "max_train_types") else kind
            parser.add_argument(flag, type=kind, default=None)
    args = vars(parser.parse_args(argv))
    args_config = args.pop("config")
    params = load_config(args_config) if args_config else {}
    resume = args.pop("resume")
    params.update({k: v for k, v in args.items() if v is not None})
    source = args_config or "command line"
    try:
        check_params(params, source)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    summary = train(params, resume=resume, source=source)
    if int(os.environ.get("RANK", 0)) == 0:
        print({k: v for k, v in summary.items() if k != "history"})
    return summary


if __name__ == "__main__":
    main()
