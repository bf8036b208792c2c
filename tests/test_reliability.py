"""Red-team tests for the user API: saving beside users' files, hostile text, the reference's loading
keywords, threads. Each case is one a user or a client written for the reference ran into."""

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gliner import GLiNER
from gliner.loading import fastest_dtype, parse_dtype

from conftest import make_tiny_model

LABELS = ["person", "city", "organization"]
TEXT = "Angela Merkel met Tim Cook in Berlin and Paris for Apple ."


def _scores(model, text=TEXT):
    return [(e["start"], e["end"], e["label"], round(e["score"], 5)) for e in model.predict_entities(text, LABELS, threshold=0.2)]


def _hidden(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------------ saving
def test_save_keeps_the_users_files(tiny_model, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "log.csv").write_text("step,loss\n")
    tiny_model.save_pretrained(tmp_path)
    tiny_model.save_pretrained(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "run1" / "log.csv").read_text() == "step,loss\n"
    assert _scores(GLiNER.from_pretrained(tmp_path)) == _scores(tiny_model) and _hidden(tmp_path) == []


def test_a_new_save_replaces_the_old_checkpoints_files(minilm_path, tmp_path):
    make_tiny_model(minilm_path, seed=1).save_pretrained(tmp_path, safe_serialization=False)
    assert (tmp_path / "pytorch_model.bin").is_file()
    second = make_tiny_model(minilm_path, seed=2)
    second.save_pretrained(tmp_path)
    assert not (tmp_path / "pytorch_model.bin").exists()  # a stale weights file would be read by other loaders
    assert _scores(GLiNER.from_pretrained(tmp_path)) == _scores(second)


@pytest.mark.parametrize("kind", ["file", "link_to_file", "broken_link"])
def test_saving_onto_a_file_is_refused_and_the_file_kept(tiny_model, tmp_path, kind):
    target, real = tmp_path / "ckpt", tmp_path / "real.txt"
    real.write_text("precious")
    {"file": lambda: target.write_text("precious"), "link_to_file": lambda: target.symlink_to(real),
     "broken_link": lambda: target.symlink_to(tmp_path / "nowhere")}[kind]()
    with pytest.raises(FileExistsError, match="ckpt"):
        tiny_model.save_pretrained(target)
    assert real.read_text() == "precious" and (target.is_symlink() or target.read_text() == "precious")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "real.txt"]


def test_saving_through_a_link_to_a_directory_writes_into_it(tiny_model, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    tiny_model.save_pretrained(tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "model.safetensors").is_file()


def test_save_into_the_current_directory(tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny_model.save_pretrained(".")
    assert _scores(GLiNER.from_pretrained(".")) == _scores(tiny_model)


def test_saved_checkpoints_get_the_usual_modes(tiny_model, tmp_path):
    old = os.umask(0o022)
    try:
        tiny_model.save_pretrained(tmp_path / "a" / "ckpt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "ckpt").stat().st_mode) == 0o755
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "a" / "ckpt").iterdir()} == {
        p.name: 0o644 for p in (tmp_path / "a" / "ckpt").iterdir()}


def test_a_writable_directory_under_a_read_only_parent(tiny_model, tmp_path):
    """Nothing is written beside the target (the parent's entries, and so its mtime, stay as they were),
    so a read-only parent does not matter; the chmod shows it where the tests do not run as root."""
    (tmp_path / "parent" / "ckpt").mkdir(parents=True)
    (tmp_path / "parent").chmod(0o555)
    before = os.stat(tmp_path / "parent").st_mtime_ns
    try:
        tiny_model.save_pretrained(tmp_path / "parent" / "ckpt")
        tiny_model.save_pretrained(tmp_path / "parent" / "ckpt")
    finally:
        (tmp_path / "parent").chmod(0o755)
    assert os.stat(tmp_path / "parent").st_mtime_ns == before
    assert _scores(GLiNER.from_pretrained(tmp_path / "parent" / "ckpt")) == _scores(tiny_model)


def test_disk_full_leaves_the_previous_checkpoint_and_no_litter(minilm_path, tmp_path, monkeypatch):
    import errno

    import safetensors.torch

    first, second = make_tiny_model(minilm_path, seed=1), make_tiny_model(minilm_path, seed=2)
    first.save_pretrained(tmp_path)

    def full(state, path, metadata=None):
        Path(path).write_bytes(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(OSError, match="no space left.*previous checkpoint there is unchanged"):
        second.save_pretrained(tmp_path)
    assert _scores(GLiNER.from_pretrained(tmp_path)) == _scores(first) and _hidden(tmp_path) == []


@pytest.mark.parametrize("crash_after", [0, 1, 2, 3])
def test_a_crash_while_files_are_swapped_in_leaves_a_whole_checkpoint(minilm_path, tmp_path, monkeypatch, crash_after):
    """The commit point is the rename of the staging folder: killed after it, loaders read the new
    checkpoint whole; the next save finishes the swap and leaves nothing behind."""
    first, second = make_tiny_model(minilm_path, seed=1), make_tiny_model(minilm_path, seed=2)
    first.save_pretrained(tmp_path)
    real_replace, calls = os.replace, []

    def dying_replace(a, b):
        if Path(b).parent != tmp_path:  # a write inside the staging folder
            return real_replace(a, b)
        if len(calls) == crash_after:
            raise KeyboardInterrupt("killed")
        calls.append(b)
        return real_replace(a, b)

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        second.save_pretrained(tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (tmp_path / ".gliner_save.ready").is_dir()
    assert _scores(GLiNER.from_pretrained(tmp_path)) == _scores(second)
    first.save_pretrained(tmp_path)
    assert _scores(GLiNER.from_pretrained(tmp_path)) == _scores(first) and _hidden(tmp_path) == []


CHILD = """
import sys
sys.path.insert(0, {tests!r})
from conftest import make_tiny_model
model = make_tiny_model({minilm!r}, seed=3)
print("ready", flush=True)
while True:
    model.save_pretrained({target!r})
"""


def test_sigkill_during_saves_leaves_a_loadable_checkpoint_and_the_next_save_cleans_up(minilm_path, tiny_model, tmp_path):
    target = tmp_path / "ckpt"
    tiny_model.save_pretrained(target)
    code = CHILD.format(tests=str(Path(__file__).parent), minilm=str(minilm_path), target=str(target))
    for delay in (0.05, 0.5):
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        loaded = GLiNER.from_pretrained(target)  # the old model or the child's, whole
        assert _scores(loaded) in (_scores(tiny_model), _scores(make_tiny_model(minilm_path, seed=3)))
    tiny_model.save_pretrained(target)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"] and _hidden(target) == []
    assert _scores(GLiNER.from_pretrained(target)) == _scores(tiny_model)


def test_concurrent_saves_into_one_directory(minilm_path, tmp_path):
    models = [make_tiny_model(minilm_path, seed=s) for s in range(4)]
    errors = []

    def save(model):
        try:
            for _ in range(3):
                model.save_pretrained(tmp_path)
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=save, args=(m,)) for m in models]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # loads meanwhile see one whole model, never a mix
        if (tmp_path / "gliner_config.json").is_file():
            assert _scores(GLiNER.from_pretrained(tmp_path)) in [_scores(m) for m in models]
    for t in threads:
        t.join()
    assert errors == [] and _hidden(tmp_path) == []
    assert _scores(GLiNER.from_pretrained(tmp_path)) in [_scores(m) for m in models]


def test_training_checkpoints_are_swapped_in_one_step(tmp_path):
    """replace_dir (training checkpoints) exchanges old and new atomically where the kernel can, so
    there is no instant with no checkpoint at the path, and leaves nothing beside it."""
    from gliner.atomic import replace_dir

    for round_ in range(2):
        new = tmp_path / f".new{round_}"
        new.mkdir()
        (new / "state").write_text(str(round_))
        replace_dir(new, tmp_path / "ckpt")
        assert (tmp_path / "ckpt" / "state").read_text() == str(round_)
        assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


# ------------------------------------------------------------------------------------ hostile text
HOSTILE = {
    "zero-width space at the end": "Tim Cook lives in Berlin \u200b",
    "zero-width non-joiner at the end": "Tim Cook lives in Berlin\u200c",
    "ZWJ emoji at the end": "Tim Cook lives in Berlin \U0001F469\u200d\U0001F4BB",
    "decomposed accent": "Tim Cook drinks at the cafe\u0301",
    "byte-order mark": "\ufeffTim Cook lives in Berlin \ufeff",
    "soft hyphen": "Tim Cook lives in Ber\u00adlin \u00ad",
    "600 characters of unspaced Japanese": "東京都" + "に住んでいる人たちは" * 60,
    "2,000 Han characters": "\u6f22" * 2000,
    "a long hyphenated URL": "see https://example.org/" + "-".join(["segment"] * 400) + " by Tim Cook",
    "control characters": "Tim\x00 Cook\x07 in\x1b Berlin\x7f",
    "lone surrogate": "Tim Cook \ud800 in Berlin",
    "right-to-left override": "Tim \u202eCook\u202c in Berlin",
    "only whitespace": " \t\n\u3000 ",
    "private-use and unassigned code points": "Tim \ue000 Cook \U000e0001 in \U0010fffd Berlin",
    "10,000 newlines": "Berlin" + "\n" * 10000 + "Paris",
    "Arabic and Devanagari": "التقى أنجيلا ميركل بتيم كوك في برلين । नरेंद्र मोदी दिल्ली में",
}


def test_hostile_texts_each_get_an_answer_in_one_batch(tiny_model):
    texts = list(HOSTILE.values())
    together = tiny_model.batch_predict_entities(texts, LABELS, threshold=0.3)
    alone = [tiny_model.predict_entities(t, LABELS, threshold=0.3) for t in texts]
    for name, text, a, b in zip(HOSTILE, texts, together, alone):
        assert [(e["start"], e["end"], e["label"]) for e in a] == [(e["start"], e["end"], e["label"]) for e in b], name
        assert all(text[e["start"]:e["end"]] == e["text"] and e["text"].strip() for e in a), name


def test_hostile_texts_with_the_cjk_splitter(minilm_path):
    model = make_tiny_model(minilm_path, words_splitter_type="cjk")
    for name, text in HOSTILE.items():
        assert isinstance(model.predict_entities(text, LABELS, threshold=0.3), list), name


# ------------------------------------------------------------------------------------ loading keywords
@pytest.fixture
def local_backbone_ckpt(minilm_path, tmp_path):
    """A checkpoint whose config names a backbone that is on this machine (as a hub id would be, online)."""
    model = make_tiny_model(minilm_path, model_name=str(minilm_path))
    model.save_pretrained(tmp_path / "ckpt")
    return model, tmp_path / "ckpt"


def test_the_keywords_gliner_spacy_and_presidio_pass(local_backbone_ckpt):
    model, ckpt = local_backbone_ckpt
    for kwargs in ({"map_location": "cpu", "load_onnx_model": False, "load_tokenizer": False, "onnx_model_file": "model.onnx"},
                   {"map_location": "cpu", "load_onnx_model": False, "onnx_model_file": "model.onnx"}):
        assert _scores(GLiNER.from_pretrained(str(ckpt), **kwargs)) == _scores(model)


def test_hub_keywords_reach_snapshot_download_and_model_keywords_do_not(local_backbone_ckpt, monkeypatch):
    import huggingface_hub

    model, ckpt = local_backbone_ckpt
    seen = {}

    def fake_download(repo_id, **kwargs):
        seen.update(kwargs, repo_id=repo_id)
        return str(ckpt)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    loaded = GLiNER.from_pretrained("someone/gliner-model", revision="v1", local_files_only=True, cache_dir="/tmp/c",
                                    map_location="cpu", load_onnx_model=False, load_tokenizer=False, max_length=512)
    assert seen == {"repo_id": "someone/gliner-model", "revision": "v1", "local_files_only": True, "cache_dir": "/tmp/c",
                    "force_download": False}
    assert loaded.config.max_len == 512 and _scores(loaded) == _scores(model)


def test_local_files_only_reaches_every_hub_lookup(tiny_model, tmp_path, monkeypatch):
    """local_files_only / cache_dir must reach the snapshot download and the backbone tokenizer a
    checkpoint without its own tokenizer falls back to (else offline loads retry the network)."""
    import huggingface_hub
    import transformers

    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: calls.append(kw) or 1 / 0)
    with pytest.raises(OSError, match="could not be downloaded"):
        GLiNER.from_pretrained("nobody/not-cached", local_files_only=True, cache_dir=tmp_path / "cache")
    tiny_model.save_pretrained(tmp_path / "ckpt")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / "ckpt" / name).unlink()
    real = transformers.AutoTokenizer.from_pretrained.__func__

    def spy(cls, source, *args, **kwargs):
        calls.append(kwargs)
        return real(cls, source, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", classmethod(spy))
    with pytest.raises(OSError, match="the checkpoint has no tokenizer files, so the tokenizer comes from model_name"):
        GLiNER.from_pretrained(tmp_path / "ckpt", local_files_only=True, cache_dir=tmp_path / "cache")
    assert [(c.get("local_files_only"), c.get("cache_dir")) for c in calls] == [(True, tmp_path / "cache")] * 2


def test_config_overrides_and_dtype(local_backbone_ckpt):
    _, ckpt = local_backbone_ckpt
    loaded = GLiNER.from_pretrained(ckpt, max_length=768, max_width=8, dtype="bf16")
    assert (loaded.config.max_len, loaded.config.max_width) == (768, 8)
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}
    bf16 = [(e["start"], e["end"], e["label"]) for e in loaded.predict_entities(TEXT, LABELS, threshold=0.2)]
    fp32 = GLiNER.from_pretrained(ckpt, max_length=768, max_width=8).predict_entities(TEXT, LABELS, threshold=0.2)
    assert bf16 and len(set(bf16) & {(e["start"], e["end"], e["label"]) for e in fp32}) >= len(fp32) // 2  # bf16 predicts, close to fp32
    assert {p.dtype for p in GLiNER.from_pretrained(ckpt, dtype=torch.float16).parameters()} == {torch.float16}
    assert GLiNER.from_pretrained(ckpt, dtype="auto").dtype == fastest_dtype(torch.device("cpu"))
    int8 = GLiNER.from_pretrained(ckpt, max_length=768, max_width=8, quantize="int8")
    quantized = {name for name, m in int8.model.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)}
    assert any(name.endswith("attention.self.query") for name in quantized)  # the encoder's layers are int8
    assert "prompt_rep_layer.0" in quantized and not any(".out_project." in name for name in quantized)
    int8_found = {(e["start"], e["end"], e["label"]) for e in int8.predict_entities(TEXT, LABELS, threshold=0.2)}
    assert int8_found and len(int8_found & {(e["start"], e["end"], e["label"]) for e in fp32}) >= len(fp32) // 2


def test_dtype_auto_is_bf16_only_where_the_cpu_has_the_units(monkeypatch):
    import gliner.loading

    monkeypatch.setattr(gliner.loading, "cpu_has_bf16", lambda: True)
    assert parse_dtype("auto", None, torch.device("cpu")) == torch.bfloat16
    assert parse_dtype("auto", "fp16", torch.device("cpu")) == torch.float16  # a variant names its dtype
    monkeypatch.setattr(gliner.loading, "cpu_has_bf16", lambda: False)
    assert fastest_dtype(torch.device("cpu")) == torch.float32 == parse_dtype("AUTO", None, torch.device("cpu"))
    with pytest.warns(UserWarning, match="without bfloat16 units .* emulates it"):
        assert parse_dtype("bf16", None, torch.device("cpu")) == torch.bfloat16  # asked for: honoured, with a warning


@pytest.mark.parametrize("kwargs, error, match", [
    ({"made_up": 1}, TypeError, "made_up"),
    ({"load_onnx_model": True}, NotImplementedError, "load_onnx_model"),
    ({"quantize": "int4"}, ValueError, "quantize"),
    ({"compile_torch_model": True}, NotImplementedError, "compile_torch_model"),
    ({"runtime": "onnxruntime"}, NotImplementedError, "runtime"),
    ({"dtype": "int4"}, ValueError, "dtype"),
    ({"post_fusion_schema": "l2l-l2t"}, ValueError, "post_fusion_schema"),
    ({"max_length": -3}, ValueError, "max_len"),
    ({"map_location": "gpu9"}, ValueError, "map_location"),
])
def test_keywords_that_cannot_be_honoured_fail_naming_them(local_backbone_ckpt, kwargs, error, match):
    with pytest.raises(error, match=match):
        GLiNER.from_pretrained(local_backbone_ckpt[1], **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_on_a_machine_without_one_says_so(local_backbone_ckpt):
    with pytest.raises(RuntimeError, match="no usable CUDA device"):
        GLiNER.from_pretrained(local_backbone_ckpt[1], map_location="cuda")


def test_strict_false_keeps_what_is_missing_with_a_warning(local_backbone_ckpt):
    from safetensors.torch import load_file, save_file

    _, ckpt = local_backbone_ckpt
    state = load_file(ckpt / "model.safetensors")
    save_file({k: v for k, v in state.items() if not k.startswith("rnn.")}, ckpt / "model.safetensors")
    with pytest.raises(ValueError, match="missing.*rnn"):
        GLiNER.from_pretrained(ckpt)
    with pytest.warns(UserWarning, match="strict=False"):
        GLiNER.from_pretrained(ckpt, strict=False)


def test_a_checkpoint_without_its_vocabulary_fails_naming_it(local_backbone_ckpt):
    _, ckpt = local_backbone_ckpt
    (ckpt / "tokenizer.json").unlink()  # transformers then builds a tokenizer of a few special tokens
    with pytest.raises(ValueError, match="tokenizer.json is missing"):
        GLiNER.from_pretrained(ckpt)


def test_the_reference_tokenizer_attribute_path(tiny_model):
    assert tiny_model.data_processor.transformer_tokenizer is tiny_model.tokenizer


@pytest.mark.parametrize("threshold", [np.float32(0.5), np.float64(0.5), torch.tensor(0.5), 0.5])
def test_numpy_and_torch_thresholds(tiny_model, threshold):
    assert tiny_model.predict_entities(TEXT, LABELS, threshold=threshold) == tiny_model.predict_entities(TEXT, LABELS, threshold=0.5)


@pytest.mark.parametrize("threshold", [True, "0.5", torch.tensor([0.5, 0.6]), np.float32(1.5)])
def test_thresholds_that_are_not_a_probability_are_refused(tiny_model, threshold):
    with pytest.raises((TypeError, ValueError), match="threshold"):
        tiny_model.predict_entities(TEXT, LABELS, threshold=threshold)


# ------------------------------------------------------------------------------------ threads
def test_threads_sharing_one_model_get_the_sequential_answers(tiny_model):
    texts = [TEXT, "Berlin " * 40, "Tim Cook", "Apple and Paris " * 15]
    pairs = [[texts[i % 4], texts[(i * 3 + 1) % 4]] for i in range(8)]
    expected = [tiny_model.batch_predict_entities(p, LABELS, threshold=0.3) for p in pairs]
    failures = []

    def work(offset):
        for i in range(40):
            k = (i + offset) % len(pairs)
            try:
                if tiny_model.batch_predict_entities(pairs[k], LABELS, threshold=0.3) != expected[k]:
                    failures.append(("different", k))
            except Exception as err:  # noqa: BLE001 - collected and asserted below
                failures.append((type(err).__name__, str(err)[:80]))

    threads = [threading.Thread(target=work, args=(o,)) for o in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_tokenizer_calls_from_threads_do_not_share_padding_settings(tiny_model):
    """The race behind "Unable to create tensor": one thread's padded batch tokenised while another
    thread's unpadded call (the prompt budget) has rewritten the fast tokenizer's settings."""
    from gliner.processing import encode

    cfg, failures = tiny_model.config, []
    words = [["Berlin"] * 3, ["Tim", "Cook", "in", "Paris"] * 20]

    def padded():
        for _ in range(400):
            try:
                encode(tiny_model.tokenizer, words, [LABELS, LABELS[:1]], cfg.ent_token, cfg.sep_token)
            except ValueError as err:
                failures.append(str(err)[:60])

    def unpadded():
        for _ in range(2000):
            tiny_model.text_token_budget(LABELS)

    threads = [threading.Thread(target=f) for f in (padded, padded, unpadded, unpadded)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# ------------------------------------------------------------------------------------ clients
def test_gliner_spacy_runs_on_this_package(local_backbone_ckpt):
    """gliner-spacy 0.0.11 (installed with --no-deps by `make setup`, so the reference is not pulled
    in) imports `gliner.model.GLiNER`, loads with its fixed keywords and chunks the text itself."""
    spacy = pytest.importorskip("spacy")
    pytest.importorskip("gliner_spacy", reason="make setup installs gliner-spacy==0.0.11 --no-deps")
    model, ckpt = local_backbone_ckpt
    text = "Angela Merkel met Tim Cook in Berlin . " * 12  # longer than one 250-character chunk
    for style in ("ent", "span"):
        nlp = spacy.blank("en")
        nlp.add_pipe("gliner_spacy", config={"gliner_model": str(ckpt), "labels": LABELS, "threshold": 0.3,
                                             "style": style})
        doc = nlp(text)
        found = doc.ents if style == "ent" else doc.spans["sc"]
        chunk = text[:text.index(" ", 250)]  # gliner-spacy's first chunk ends at the first space after 250 chars
        expected = model.predict_entities(chunk, LABELS, flat_ner=style == "ent", threshold=0.3)
        first = [(s.start_char, s.end_char, s.label_) for s in found if s.end_char <= len(chunk)]
        assert first == [(e["start"], e["end"], e["label"]) for e in expected] and first
