"""Training: type sampling, loss masking, schedule, bad params, overfitting a handful of sentences,
determinism, resuming a SIGKILLed run, damaged checkpoints and DDP with two gloo processes."""

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gliner.train import (check_params, device_type, load_checkpoint, make_batch, sample_types, span_loss, train,
                          warmup_cosine)

SENTENCES = [
    {"tokenized_text": "John Smith lives in Paris .".split(), "ner": [[0, 1, "person"], [4, 4, "city"]]},
    {"tokenized_text": "Apple hired Mary in Berlin last year .".split(),
     "ner": [[0, 0, "company"], [2, 2, "person"], [4, 4, "city"]]},
    {"tokenized_text": "The cat sat on the mat .".split(), "ner": []},
    {"tokenized_text": "Google opened an office in London .".split(), "ner": [[0, 0, "company"], [5, 5, "city"]]},
]
LABELS = ["person", "city", "company"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in SENTENCES))
    return path


def tiny_params(corpus, backbone, out, **changes):
    # embed_ent_token=False: a *random* 2-layer encoder does not learn in a few hundred steps to
    # carry each label word into the <<ENT>> before it (a pretrained one attends to neighbours),
    # so the tiny model reads the label's own token instead.
    params = dict(train_file=str(corpus), output_dir=str(out), backbone=backbone, hidden_size=32, dropout=0.0,
                  num_rnn_layers=0, max_steps=30, batch_size=4, lr_encoder=3e-3, lr_others=3e-3, warmup_ratio=0.05,
                  type_dropping=False, log_every=5, save_every=10, progress=False,
                  model_config={"embed_ent_token": False})
    params.update(changes)
    return params


def weights(directory):
    from safetensors.torch import load_file

    return load_file(Path(directory) / "model.safetensors")


# ---------------------------------------------------------------------------------- pieces
def test_negative_types_come_from_the_batch_and_average_the_ratio():
    batch = [{"ner": [[0, 0, f"t{i}"], [1, 1, f"u{i}"]]} for i in range(10)]  # 20 types, 2 per example
    for ratio in (0.0, 0.5, 0.75, 1.0):
        rng, counts = random.Random(0), []
        for _ in range(400):
            for ex, types in zip(batch, sample_types(batch, ratio, False, True, 25, rng)):
                own = {t for *_, t in ex["ner"]}
                assert own <= set(types) and len(set(types)) == len(types)
                negatives = set(types) - own
                assert negatives <= {f"{p}{i}" for p in "tu" for i in range(10)} - own
                counts.append(len(negatives) / len(own))
        mean = sum(counts) / len(counts)
        assert mean == pytest.approx(ratio, abs=0.05), ratio
        assert ratio == 0 or min(counts) == 0  # as the reference: about half the examples get none


def test_type_dropping_shuffling_and_empty_sentences():
    batch = [{"ner": [[0, 0, "a"], [1, 1, "b"], [2, 2, "c"]]}, {"ner": []}, {"ner": [[0, 0, "d"]], "negatives": ["x"]}]
    rng = random.Random(1)
    kept = [len(sample_types(batch, 0.0, True, True, 25, rng)[0]) for _ in range(300)]
    assert set(kept) == {1, 2, 3}  # a random 1..n of the types
    assert all(sample_types(batch, 0.0, False, False, 25, rng)[0] == ["a", "b", "c"] for _ in range(20))
    drawn = [sample_types(batch, 1.0, False, False, 25, rng) for _ in range(200)]
    assert {len(d[1]) for d in drawn} == {0, 2}  # no entities: m * round(2 * ratio * 1) negatives
    assert all(d[2] == ["d", "x"] for d in drawn)  # an example's own `negatives` replace the draw
    assert all(len(t) <= 2 for t in sample_types(batch, 1.0, False, True, 2, rng))  # max_types


def test_min_types_fills_prompts_from_the_vocabulary():
    batch = [{"ner": [[0, 0, "a"]]}, {"ner": []}]
    vocabulary = ["a", "b", "c", "d", "e", "f"]
    rng = random.Random(2)
    for _ in range(100):
        first, second = sample_types(batch, 0.0, True, True, 25, rng, min_types=4, vocabulary=vocabulary)
        assert len(set(first)) == 4 and set(first) <= set(vocabulary)
        assert len(second) == 4 and len(set(second)) == 4
    assert sample_types(batch, 0.0, False, False, 25, rng, min_types=0, vocabulary=vocabulary) == [["a"], []]


def test_keep_top_types_keeps_the_text_and_the_most_frequent_types():
    from gliner.train import keep_top_types

    examples = [{"tokenized_text": ["a", "b", "c"], "ner": [[0, 0, "x"], [1, 1, "y"], [2, 2, "z"]]},
                {"tokenized_text": ["d"], "ner": [[0, 0, "y"]]}, {"tokenized_text": ["e"], "ner": [[0, 0, "z"]]}]
    kept = keep_top_types(examples, 2)
    assert [ex["tokenized_text"] for ex in kept] == [ex["tokenized_text"] for ex in examples]
    assert [ex["ner"] for ex in kept] == [[[1, 1, "y"], [2, 2, "z"]], [[0, 0, "y"]], [[0, 0, "z"]]]
    assert examples[0]["ner"][0] == [0, 0, "x"]  # the input is not changed
    assert keep_top_types(examples, 100) == examples


def test_span_loss_ignores_padding():
    logits = torch.randn(2, 5, 3, 4)
    targets = (torch.rand(2, 5, 3, 4) > 0.8).float()
    span_mask = torch.rand(2, 5, 3) > 0.3
    type_mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    loss = span_loss(logits, type_mask, targets, span_mask)
    noisy = logits.clone()
    noisy[~span_mask] = 1e4
    noisy[~type_mask[:, None, None, :].expand_as(noisy)] = -1e4
    noisy_targets = targets.clone()
    noisy_targets[~span_mask] = 1.0
    assert span_loss(noisy, type_mask, noisy_targets, span_mask) == pytest.approx(loss.item(), rel=1e-6)
    valid = span_mask[..., None] & type_mask[:, None, None, :]
    assert span_loss(logits, type_mask, targets, span_mask, "mean") == pytest.approx(loss.item() / valid.sum().item())


def test_focal_weighting_matches_the_reference_formula():
    """alpha weighs positives alpha and negatives 1 - alpha; gamma scales by (1 - p_t)^gamma."""
    logits = torch.tensor([2.0, -1.0]).view(1, 2, 1, 1)
    targets = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    span_mask, type_mask = torch.ones(1, 2, 1, dtype=torch.bool), torch.ones(1, 1, dtype=torch.bool)
    p = torch.sigmoid(torch.tensor([2.0, -1.0]))
    pos, neg = -torch.log(p[0]), -torch.log(1 - p[1])
    assert span_loss(logits, type_mask, targets, span_mask) == pytest.approx((pos + neg).item())
    assert span_loss(logits, type_mask, targets, span_mask, alpha=0.75) == pytest.approx((0.75 * pos + 0.25 * neg).item())
    focal = pos * (1 - p[0]) ** 2 + neg * p[1] ** 2
    assert span_loss(logits, type_mask, targets, span_mask, gamma=2.0) == pytest.approx(focal.item())


def test_prob_floor_caps_the_loss_and_its_gradient_as_the_reference():
    """prob_floor=1e-6 is the reference's -log(max(p_t, 1e-6)): a cell past the floor costs exactly
    -log(1e-6) and gets no gradient; a cell above it keeps its exact BCE and gradient."""
    logits = torch.tensor([-20.0, 0.0]).view(1, 2, 1, 1).requires_grad_()
    targets = torch.ones(1, 2, 1, 1)
    span_mask, type_mask = torch.ones(1, 2, 1, dtype=torch.bool), torch.ones(1, 1, dtype=torch.bool)
    exact = span_loss(logits, type_mask, targets, span_mask)
    assert exact.item() == pytest.approx(20.0 + math.log(2), rel=1e-6)
    floored = span_loss(logits, type_mask, targets, span_mask, prob_floor=1e-6)
    assert floored.item() == pytest.approx(-math.log(1e-6) + math.log(2), rel=1e-6)
    floored.backward()
    assert logits.grad.flatten().tolist() == pytest.approx([0.0, -0.5])


def test_device_type_honours_an_explicit_request(monkeypatch):
    """'auto' follows the machine; an explicit 'cuda' stays 'cuda' on a machine without one, so loading
    there fails with check_device's message instead of quietly training and evaluating on the CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [device_type(d) for d in ("auto", "cpu", "cuda")] == ["cpu", "cpu", "cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert [device_type(d) for d in ("auto", "cpu", "cuda")] == ["cuda", "cpu", "cuda"]


def test_warmup_then_cosine():
    f = warmup_cosine(10, 110)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5) and f(110) == pytest.approx(0.0, abs=1e-12)
    assert all(f(s) >= f(s + 1) for s in range(10, 110))


@pytest.mark.parametrize("change, message", [
    ({"learning_rate": 1e-3}, "unknown parameter 'learning_rate'"),
    ({"max_width": 0}, "max_width"),
    ({"neg_ratio": 1.5}, "neg_ratio"),
    ({"neg_ratio": -0.1}, "neg_ratio"),
    ({"train_file": "/nonexistent/train.jsonl"}, "train_file"),
    ({"loss_reduction": "avg"}, "loss_reduction"),
    ({"focal_alpha": 1.5}, "focal_alpha"),
    ({"focal_gamma": -1.0}, "focal_gamma"),
    ({"prob_floor": 0.7}, "prob_floor"),
    ({"skip_empty": "yes"}, "skip_empty"),
    ({"max_train_types": 0}, "max_train_types: must be a positive integer or null"),
    ({"model_config": {"span_mode": "x", "nonsense": 1}}, "model_config"),
])
def test_bad_params_name_the_key(corpus, change, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        check_params({"train_file": str(corpus), **change}, "params.yaml:train")


def test_masked_spans_leave_the_loss_and_nothing_else(tiny_backbone):
    from gliner import GLiNER

    model = GLiNER.from_backbone(tiny_backbone, hidden_size=32, max_width=4, embed_ent_token=False)
    plain = {"tokenized_text": "Danny Thomas met Zeppo in Hamlet today .".split(), "ner": [[0, 1, "person"]]}
    masked = {**plain, "masked": [[3, 3], [5, 5], [1, 6], [6, 7]]}  # [1, 6] is wider than K, [6, 7] past max_words
    types = [["person", "city"]]
    a, b = make_batch([plain], types, model, max_words=7), make_batch([masked], types, model, max_words=7)
    assert torch.equal(a["targets"], b["targets"]) and torch.equal(a["input_ids"], b["input_ids"])
    off = (a["span_mask"] & ~b["span_mask"]).nonzero().tolist()
    assert off == [[0, 3, 0], [0, 5, 0]] and not (b["span_mask"] & ~a["span_mask"]).any()
    logits = torch.full(a["targets"].shape, 3.0)  # every span scored as an entity of every type
    loss = lambda batch: span_loss(logits, torch.ones(1, 2, dtype=torch.bool), batch["targets"], batch["span_mask"])  # noqa: E731
    assert loss(a) - loss(b) == pytest.approx(2 * 2 * torch.nn.functional.softplus(torch.tensor(3.0)).item())


def test_a_typed_mask_leaves_out_one_cell_and_keeps_the_span_for_other_types(tiny_backbone):
    from gliner import GLiNER

    model = GLiNER.from_backbone(tiny_backbone, hidden_size=32, max_width=4, embed_ent_token=False)
    plain = {"tokenized_text": "Danny Thomas met Zeppo in Hamlet today .".split(), "ner": [[0, 1, "person"]]}
    masked = {**plain, "masked": [[3, 3, "person"], [5, 5, "river"], [3, 3, "person"]]}  # river is not prompted
    types = [["city", "person"]]
    a, b = make_batch([plain], types, model, max_words=7), make_batch([masked], types, model, max_words=7)
    assert "cell_mask" not in a and torch.equal(a["span_mask"], b["span_mask"]) and torch.equal(a["targets"], b["targets"])
    assert (~b["cell_mask"]).nonzero().tolist() == [[0, 3, 0, 1]]  # Zeppo, width 1, column "person"
    logits = torch.full(a["targets"].shape, 3.0)
    loss = lambda batch: span_loss(logits, torch.ones(1, 2, dtype=torch.bool), batch["targets"], batch["span_mask"],  # noqa: E731
                                   cell_mask=batch.get("cell_mask"))
    assert (loss(a) - loss(b)).item() == pytest.approx(torch.nn.functional.softplus(torch.tensor(3.0)).item(), rel=1e-4)


def test_skip_empty_leaves_out_sentences_without_entities(corpus, tiny_backbone, tmp_path):
    kept = train(tiny_params(corpus, tiny_backbone, tmp_path / "a", max_steps=1, save_every=0))
    skipped = train(tiny_params(corpus, tiny_backbone, tmp_path / "b", max_steps=1, save_every=0, skip_empty=True))
    assert (kept["train_examples"], skipped["train_examples"]) == (4, 3)
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps(SENTENCES[2]) + "\n")
    with pytest.raises(ValueError, match="skip_empty: .*empty.jsonl has no sentence with an entity"):
        train(tiny_params(empty, tiny_backbone, tmp_path / "c", max_steps=1, skip_empty=True))


def test_cli_reports_bad_params(corpus, tmp_path):
    config = tmp_path / "params.yaml"
    config.write_text(f"train:\n  train_file: {corpus}\n  max_width: -3\n")
    result = subprocess.run([sys.executable, "-m", "gliner.train", "--config", f"{config}:train"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "params.yaml:train: max_width" in result.stderr


# ---------------------------------------------------------------------------------- training runs
@pytest.mark.slow
def test_overfits_a_handful_of_sentences(corpus, tiny_backbone, tmp_path):
    from gliner import GLiNER
    from gliner.evaluate import evaluate

    summary = train(tiny_params(corpus, tiny_backbone, tmp_path / "run", max_steps=200, save_every=0, log_every=50))
    assert summary["history"][-1]["loss"] < 0.05 * summary["history"][0]["loss"]
    model = GLiNER.from_pretrained(tmp_path / "run" / "model")
    result = evaluate(model, {"train": [{**s, "labels": LABELS} for s in SENTENCES]}, thresholds=(0.5,), progress=False)
    assert result["datasets"]["train"]["micro"]["f1"] == 1.0, result["error_rows"]


def test_bf16_trains_on_a_cpu_with_bf16_units_and_is_refused_elsewhere(corpus, tiny_backbone, tmp_path, monkeypatch):
    import gliner.train

    if gliner.train.cpu_has_bf16():
        fp32 = train(tiny_params(corpus, tiny_backbone, tmp_path / "fp32", max_steps=60, save_every=0))
        bf16 = train(tiny_params(corpus, tiny_backbone, tmp_path / "bf16", max_steps=60, save_every=0, bf16=True))
        assert bf16["history"] != fp32["history"]  # autocast did run: bfloat16 rounding moves the losses
        assert bf16["history"][-1]["loss"] < 0.3 * bf16["history"][0]["loss"]  # and it still learns
        assert all(v.dtype == torch.float32 for v in weights(tmp_path / "bf16" / "model").values())  # fp32 master weights
    monkeypatch.setattr(gliner.train, "cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="bf16: this CPU has no bfloat16 units"):
        train(tiny_params(corpus, tiny_backbone, tmp_path / "refused", max_steps=1, bf16=True, device="cpu"))


def test_bf16_auto_follows_the_device(monkeypatch):
    """The cpu profile's bf16: auto: bf16 on a CPU with the units, float32 (not an error) on one without."""
    import gliner.loading
    import gliner.train

    cpu = torch.device("cpu")
    for units in (True, False):
        monkeypatch.setattr(gliner.loading, "cpu_has_bf16", lambda: units)
        monkeypatch.setattr(gliner.train, "cpu_has_bf16", lambda: units)
        assert gliner.train.autocast_bf16("auto", cpu) is units
        assert gliner.train.autocast_bf16(False, cpu) is False
    with pytest.raises(ValueError, match="params.yaml:train: bf16: this CPU has no bfloat16 units"):
        gliner.train.autocast_bf16(True, cpu, "params.yaml:train")
    with pytest.raises(ValueError, match="bf16: must be true or false or auto, got 'yes'"):
        check_params({"train_file": "x.jsonl", "bf16": "yes"}, check_files=False)


def test_bilstm_stays_float32_under_cpu_autocast():
    """bf16 LSTM kernels are slower than fp32 ones on CPU (the benchmark's step parts): under CPU autocast the
    BiLSTM computes in float32, exactly as without autocast; the flag off lets autocast take it to bf16."""
    from gliner.model import BiLSTM

    torch.manual_seed(0)
    lstm, words, lengths = BiLSTM(16, 1), torch.randn(2, 5, 16), torch.tensor([5, 3])
    plain = lstm(words, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        kept = lstm(words, lengths)
        lstm.fp32_under_cpu_autocast = False
        lowered = lstm(words, lengths)
    assert kept.dtype == torch.float32 and torch.equal(kept, plain)
    assert not torch.allclose(lowered.float(), plain, atol=1e-4)  # bf16 rounding: autocast did reach it


@pytest.mark.slow
def test_same_seed_same_run_and_dvclive(corpus, tiny_backbone, tmp_path):
    a = train(tiny_params(corpus, tiny_backbone, tmp_path / "a", max_steps=12, dvclive_dir=str(tmp_path / "live")))
    b = train(tiny_params(corpus, tiny_backbone, tmp_path / "b", max_steps=12))
    c = train(tiny_params(corpus, tiny_backbone, tmp_path / "c", max_steps=12, seed=1))
    assert a["history"] == b["history"] and a["history"] != c["history"]
    wa, wb = weights(tmp_path / "a" / "model"), weights(tmp_path / "b" / "model")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    curve = (tmp_path / "live" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
    assert curve[0].split("\t") == ["step", "loss"] and len(curve) == 1 + 12 // 5 + 1  # steps 5, 10, 12


def run_cli(params, *extra):
    args = [sys.executable, "-m", "gliner.train"]
    for key, value in params.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        else:
            args += [flag, json.dumps(value) if isinstance(value, dict) else str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args + list(extra), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_resume_after_sigkill_reaches_the_same_result(corpus, tiny_backbone, tmp_path):
    params = tiny_params(corpus, tiny_backbone, tmp_path / "whole", max_steps=60, save_every=10)
    whole = run_cli(params)
    killed_params = {**params, "output_dir": str(tmp_path / "killed")}
    killed = run_cli(killed_params)
    state = tmp_path / "killed" / "checkpoint" / "training_state.pt"
    deadline = time.time() + 120
    while not state.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert whole.wait() == 0, whole.stderr.read()
    assert not (tmp_path / "killed" / "model").exists(), "the run finished before it could be killed"
    step = torch.load(state, weights_only=False)["step"]
    assert 10 <= step < 60
    resumed = run_cli(killed_params, "--resume")
    assert resumed.wait() == 0, resumed.stderr.read()
    a = torch.load(tmp_path / "whole" / "checkpoint" / "training_state.pt", weights_only=False)
    b = torch.load(state, weights_only=False)
    assert b["step"] == 60 and a["history"] == b["history"]
    wa, wb = weights(tmp_path / "whole" / "model"), weights(tmp_path / "killed" / "model")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_damaged_checkpoint_or_changed_params_refuse_to_resume(corpus, tiny_backbone, tmp_path):
    params = tiny_params(corpus, tiny_backbone, tmp_path / "run", max_steps=10)
    train(params)
    checkpoint = tmp_path / "run" / "checkpoint"
    with pytest.raises(ValueError, match="changed parameters: neg_ratio"):
        train({**params, "neg_ratio": 0.25}, resume=True)
    weights_file = checkpoint / "model" / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:-100])
    with pytest.raises(ValueError, match="model.safetensors: missing or does not match"):
        train(params, resume=True)
    state_file = checkpoint / "training_state.pt"
    state_file.write_bytes(state_file.read_bytes()[:200])
    with pytest.raises(ValueError, match="training_state.pt: unreadable or truncated"):
        load_checkpoint(checkpoint, "cpu")


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(corpus, tiny_backbone, tmp_path):
    from gliner import GLiNER

    params = tiny_params(corpus, tiny_backbone, tmp_path / "ddp", max_steps=40, batch_size=2, save_every=0, log_every=10)
    import socket

    with socket.socket() as sock:  # a free port: several test runs may share this machine
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
            "-m", "gliner.train"]
    for key, value in params.items():
        flag = "--" + key.replace("_", "-")
        args += ([flag if value else "--no-" + flag[2:]] if isinstance(value, bool)
                 else [flag, json.dumps(value) if isinstance(value, dict) else str(value)])
    result = subprocess.run(args, capture_output=True, text=True, timeout=240,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = eval(result.stdout.strip().splitlines()[-1])  # rank 0 prints its summary dict
    assert summary["world_size"] == 2 and summary["examples_seen"] == 40 * 2 * 2
    state = torch.load(tmp_path / "ddp" / "checkpoint" / "training_state.pt", weights_only=False)
    losses = [h["loss"] for h in state["history"]]
    assert losses[-1] < 0.2 * losses[0]  # it learned
    model = GLiNER.from_pretrained(tmp_path / "ddp" / "model")
    assert model.config.hidden_size == 32
