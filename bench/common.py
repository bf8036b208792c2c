"""What the benchmark's parts share: its settings, the training recipe both implementations follow, the
initial checkpoint's config, the command-line options bench.run and bench.train have in common, and one log."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from gliner.loading import DEFAULT_BACKBONE

SETTINGS = {
    # the default, on an idle 2-core machine: the stage's minutes are in the README's time table (torch.compile's
    # first calls take ~30 s). The training runs are short: they time steps and check parity; F1 after so few
    # steps is ~0 and says nothing (the precision and extras sections run on the trained default model)
    "default": dict(
        sentences=64, batch_sizes=[1, 8, 32], repeats=2,  # inference on sentences: texts, batch sizes, turns (the first warms up)
        batch1_sentences=32,  # batch 1 takes a text at a time: the first half of the sentences (the same ~27 words) time it
        long_docs=2, long_doc_words=2000, long_batch_sizes=[8], long_repeats=2,  # long documents (~5 s a turn; their ~14
        # windows make two batches of 8; texts/s barely moves with the batch size on documents this long)
        train_examples=2000, eval_examples=50, max_words=64,  # data (sentences of at most max_words words)
        steps=8, batch_size=8, turn_steps=4,  # training budget (parity and the replay need a few steps, not 20); per turn
        replay_float64_steps=2,  # float32 replays part at rounding level after a few steps; float64 ones do not
        hidden_size=512, extras_batch_sizes=[32], compile=True, parity_texts=12,  # batch 8's speeds are step 5's
        long_doc_threshold=0.5,  # decoding threshold for the long document's entities
        seed=0,  # training data sample, initial checkpoint, training order (the evaluation sample is fixed)
        precision_examples=200, precision_f1_tolerance=0.5,  # precision check: sentences per set, F1 points that "hold"
        step_parts_batches=4,  # batches per configuration when timing the bf16 training step part by part
        # ours / encoder on a randomly initialised encoder of the paper's size (deberta-v3-base: 12 x 768)
        wide_encoder=dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
        wide_sentences=16, wide_batch_sizes=[1, 8]),  # 16 sentences: batch 32 would be batch 16
    # `make test`: every part runs, on a tiny random BERT (its numbers mean nothing)
    "tiny": dict(
        sentences=8, batch_sizes=[1, 8], repeats=1, batch1_sentences=4,
        long_docs=1, long_doc_words=800, long_batch_sizes=[8], long_repeats=2,
        train_examples=32, eval_examples=8, max_words=64,
        steps=2, batch_size=4, turn_steps=1, replay_float64_steps=2,
        hidden_size=48, extras_batch_sizes=[8], compile=False, parity_texts=4, tiny_backbone=True,
        long_doc_threshold=0.1,  # a tiny model's scores cluster below 0.5
        precision_examples=8, precision_f1_tolerance=0.5, step_parts_batches=2,
        seed=0, wide_encoder=dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128),
        wide_sentences=8, wide_batch_sizes=[8]),
}
# both train with the repo's CPU recipe (params.yaml: train; the reference has each knob too): the paper's
# recipe learns nothing measurable in the few hundred steps a 15-minute benchmark can afford
TRAIN = dict(lr_encoder=1e-4, lr_others=1e-3, weight_decay=0.01, warmup_ratio=0.1, max_grad_norm=1.0,
             focal_alpha=0.75,
             prob_floor=1e-6)  # ours computes the loss as the reference does (its log clamp; ours' default is exact BCE)
# our loss as the reference computes it: summed over span-type cells, no focal modulation
REFERENCE_LOSS = {**TRAIN, "loss_reduction": "sum", "focal_gamma": 0.0}
EVAL_SEED = 1  # the evaluation sample: the same for every training seed
INIT = dict(max_width=12, dropout=0.0, max_types=25, embed_ent_token=False)  # the initial checkpoint's config
MODEL_NAME = DEFAULT_BACKBONE  # the checkpoints record the hub id, not this machine's path


def cpu_name() -> str:
    """The CPU model with its family and model numbers ('AMD EPYC, family 26 model 2'): the name alone hides the
    generation, and speed ratios change with it (bf16 above all); runs on another CPU also round differently."""
    cpuinfo = Path("/proc/cpuinfo")
    fields = {}
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if "model name" not in fields:
        return "unknown"
    return f"{fields['model name']}, family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"


def log(message: str) -> None:
    """Progress on stderr, timestamped: stdout carries the rendered report."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def random_bert(**sizes):
    """A randomly initialised BERT with MiniLM's vocabulary, seeded: the same sizes give the same weights."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=30522, max_position_embeddings=512, **sizes))


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options bench.run and bench.train share: the data both implementations train on, and the threads."""
    import torch

    parser.add_argument("--train-file", type=Path, help="span-JSONL training data (default: synthetic)")
    parser.add_argument("--eval-file", type=Path, help="span-JSONL evaluation data with `labels`")
    parser.add_argument("--threads", type=int, default=min(torch.get_num_threads(), os.cpu_count() or 1))


def parse_settings(parser: argparse.ArgumentParser, argv) -> tuple[argparse.Namespace, dict]:
    """The parsed arguments and a copy of the setting they choose (--tiny or the default)."""
    args = parser.parse_args(argv)
    if bool(args.train_file) != bool(args.eval_file):
        parser.error("--train-file and --eval-file go together")
    return args, dict(SETTINGS["tiny" if args.tiny else "default"])
