"""ONNX export of the full model (encoder, BiLSTM, span and type heads) and onnxruntime inference.

`SpanModel.forward` sizes its outputs from tensor *values* (the longest text, the most types) and
builds the span scores one width at a time with Python slices; a tracer freezes those numbers
into the graph. `ExportForward` computes the same logits from the same modules and weights with
every size taken from a tensor *shape*: it gets each word's first sub-token position
(`word_index`, B x L) and each type's <<ENT>> position (`type_index`, B x C) as inputs, runs the
BiLSTM on packed sequences (exported as an ONNX LSTM with sequence lengths), and gathers span
ends with clamped indices instead of slicing. Decoding stays in Python (`gliner.decoding`), as
the reference's ONNX runtime does.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from gliner.atomic import atomic_write
from gliner.decoding import candidates, greedy_decode
from gliner.processing import encode, split_words

INPUTS = ["input_ids", "attention_mask", "word_index", "text_lengths", "type_index", "type_mask"]
REFERENCE_INPUTS = ["input_ids", "attention_mask", "words_mask", "text_lengths", "span_idx", "span_mask"]
SAMPLE_WORDS = [["Angela", "Merkel", "visited", "Paris", "."], ["Apple", "hired", "Tim"]]
SAMPLE_LABELS = ["person", "location", "organization"]


class ExportForward(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.span_model = model.model  # SpanModel: its modules and weights, unchanged

    def forward(self, input_ids, attention_mask, word_index, text_lengths, type_index, type_mask):
        m = self.span_model
        tokens = m.token_rep_layer(input_ids, attention_mask)  # (B, T, D)
        D = tokens.size(-1)
        words = torch.gather(tokens, 1, word_index.unsqueeze(-1).expand(-1, -1, D))
        L = word_index.size(1)
        words = words * (torch.arange(L, device=words.device)[None, :] < text_lengths[:, None]).unsqueeze(-1)
        types = torch.gather(tokens, 1, type_index.unsqueeze(-1).expand(-1, -1, D)) * type_mask.unsqueeze(-1)
        if hasattr(m, "rnn"):
            words = m.rnn(words, text_lengths)
        return span_logits(m, words, types)


def span_logits(m, words, types, span_idx=None):
    """SpanMarkerV0.score's logits (B, L, K, C) with every size from a tensor shape: span ends come from
    span_idx (B, L*K, 2), or else from clamped indices (spans past the text end at its last word, as
    the reference pads them), not from Python slices."""
    head = m.span_rep_layer.span_rep_layer
    from_start, from_end, types_in, type_bias = head.factors(words, m.prompt_rep_layer(types))
    B, L, K = words.size(0), words.size(1), head.max_width
    if span_idx is None:
        ends = torch.clamp(torch.arange(L)[:, None] + torch.arange(K)[None, :], max=L - 1)  # (L, K)
        hidden = (from_start.unsqueeze(2) + from_end[:, ends]).relu()  # (B, L, K, 4D)
    else:
        pick = lambda x, i: torch.gather(x, 1, i.unsqueeze(-1).expand(-1, -1, x.size(-1)))  # noqa: E731
        hidden = (pick(from_start, span_idx[..., 0]) + pick(from_end, span_idx[..., 1])).relu().view(B, L, K, -1)
    return hidden @ types_in.unsqueeze(1) + type_bias[:, None, None, :]


class ReferenceFormatForward(nn.Module):
    """The graph the reference's `convert_to_onnx.py` writes (inputs input_ids, attention_mask, words_mask,
    text_lengths (B, 1), span_idx (B, L*K, 2), span_mask (B, L*K); logits (B, L, K, C)), which ONNX engines
    such as fast-gliner read. Word and type vectors are picked with one-hot matrices built from
    words_mask and the <<ENT>> positions, so no size is read from a tensor's values; the spans are
    those span_idx lists, (start, start + width) for every start and width, and those outside span_mask
    score -1e4."""

    def __init__(self, model):
        super().__init__()
        self.span_model, self.ent_id = model.model, model.config.class_token_index
        self.shift = 0 if model.config.embed_ent_token else 1

    def forward(self, input_ids, attention_mask, words_mask, text_lengths, span_idx, span_mask):
        m = self.span_model
        tokens = m.token_rep_layer(input_ids, attention_mask)  # (B, T, D)
        K = m.span_rep_layer.span_rep_layer.max_width
        L = span_mask.size(1) // K
        pick_words = (words_mask[:, None, :] == torch.arange(1, L + 1)[None, :, None]).to(tokens.dtype)  # (B, L, T)
        words = pick_words @ tokens
        is_ent = (input_ids == self.ent_id) & attention_mask.bool()
        rank = torch.cumsum(is_ent.long(), 1) * is_ent  # 1, 2, ... at the <<ENT>> tokens
        rank = torch.cat([rank[:, : self.shift].zero_(), rank[:, : rank.size(1) - self.shift]], 1) if self.shift else rank
        C = is_ent.sum(1).max()
        pick_types = (rank[:, None, :] == torch.arange(1, C + 1)[None, :, None]).to(tokens.dtype)  # (B, C, T)
        types = pick_types @ tokens
        if hasattr(m, "rnn"):
            words = m.rnn(words, text_lengths.view(-1))
        logits = span_logits(m, words, types, span_idx)
        return logits.masked_fill(~span_mask.bool().view(logits.shape[:3])[..., None], -1e4)


def reference_inputs(model, words: list[list[str]], labels: list[str]) -> dict:
    """The reference's ONNX inputs for a batch of pre-split texts (what fast-gliner feeds the graph)."""
    cfg = model.config
    batch = encode(model.tokenizer, words, [labels] * len(words), cfg.ent_token, cfg.sep_token)
    L, K = max(1, int(batch["text_lengths"].max())), cfg.max_width
    starts = torch.arange(L).repeat_interleave(K)
    span_idx = torch.stack([starts, starts + torch.arange(K).repeat(L)], -1)  # (L*K, 2): (start, end) word indices
    span_mask = span_idx[None, :, 1] < batch["text_lengths"][:, None]
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
            "words_mask": batch["words_mask"], "text_lengths": batch["text_lengths"][:, None],
            "span_idx": (span_idx[None] * span_mask[..., None]).expand(len(words), -1, -1), "span_mask": span_mask}


def export_inputs(model, words: list[list[str]], labels: list[str]) -> dict:
    """The ExportForward inputs for a batch of pre-split texts, as numpy-ready tensors."""
    cfg = model.config
    batch = encode(model.tokenizer, words, [labels] * len(words), cfg.ent_token, cfg.sep_token)
    B, L = len(words), max(1, int(batch["text_lengths"].max()))
    word_index = torch.zeros(B, L, dtype=torch.long)
    rows, cols = torch.nonzero(batch["words_mask"], as_tuple=True)
    word_index[rows, batch["words_mask"][rows, cols] - 1] = cols
    is_ent = (batch["input_ids"] == cfg.class_token_index) & batch["attention_mask"].bool()
    C = int(is_ent.sum(1).max())
    type_index = torch.zeros(B, C, dtype=torch.long)
    type_mask = torch.zeros(B, C)
    for b in range(B):
        positions = torch.nonzero(is_ent[b]).flatten() + (0 if cfg.embed_ent_token else 1)
        type_index[b, : len(positions)] = positions
        type_mask[b, : len(positions)] = 1.0
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "word_index": word_index,
            "text_lengths": batch["text_lengths"], "type_index": type_index, "type_mask": type_mask}


def export(model, path: Path) -> Path:
    """Write ExportForward's ONNX graph with dynamic batch, token, word and type axes (opset 17)."""
    sample = export_inputs(model, SAMPLE_WORDS, SAMPLE_LABELS)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "word_index": {0: "batch", 1: "words"}, "text_lengths": {0: "batch"},
            "type_index": {0: "batch", 1: "types"}, "type_mask": {0: "batch", 1: "types"},
            "logits": {0: "batch", 1: "words", 3: "types"}}
    return _export(ExportForward(model).eval(), sample, INPUTS, axes, path)


def export_reference_format(model, directory: Path) -> Path:
    """A folder the ONNX engines load: the checkpoint (config, tokenizer, weights) and onnx/model.onnx
    in the reference's input format. The engines tokenize word by word with tokenizer.json as it is, so
    a fixed padding or truncation saved in it (MiniLM's package pads every call to 128) is removed."""
    model.save_pretrained(directory)
    tokenizer_file = Path(directory) / "tokenizer.json"
    if tokenizer_file.is_file():
        spec = json.loads(tokenizer_file.read_text(encoding="utf-8"))
        atomic_write(tokenizer_file, json.dumps({**spec, "padding": None, "truncation": None}, ensure_ascii=False))
    sample = reference_inputs(model, SAMPLE_WORDS, SAMPLE_LABELS)
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "sequence_length"},
            "words_mask": {0: "batch_size", 1: "sequence_length"}, "text_lengths": {0: "batch_size", 1: "value"},
            "span_idx": {0: "batch_size", 1: "num_spans", 2: "idx"}, "span_mask": {0: "batch_size", 1: "num_spans"},
            "logits": {0: "position", 1: "batch_size", 2: "sequence_length", 3: "num_spans"}}
    _export(ReferenceFormatForward(model).eval(), sample, REFERENCE_INPUTS, axes, Path(directory) / "onnx" / "model.onnx")
    return Path(directory)


def quantize_int8(directory: Path) -> Path:
    """The export in `directory` with its ONNX graph's weights in int8 (onnxruntime's dynamic quantization:
    int8 weights, activations quantized per batch at run time), written in place, atomically."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(directory) / "onnx" / "model.onnx"
    partial = path.with_name("model.int8.partial.onnx")
    quantize_dynamic(str(path), str(partial), weight_type=QuantType.QInt8)
    partial.replace(path)
    return Path(directory)


def _export(module: nn.Module, sample: dict, names: list[str], axes: dict, path: Path) -> Path:
    """torch.onnx.export of a wrapper in eval mode: the export restores the wrapper's mode afterwards, into
    the model too, and a fresh wrapper's mode is training (`Wrapper(model.eval())` left dropout on)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, tuple(sample[k] for k in names), str(path), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)
    return path


class OnnxGLiNER:
    """batch_predict_entities on onnxruntime, for texts that fit one encoder window (no windowing)."""

    def __init__(self, model, path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        # onnxruntime's threads spin after each run by default, which steals the CPU from whatever
        # runs next (here: the other contenders, timed in turns)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.model = model

    def logits(self, words: list[list[str]], labels: list[str]) -> torch.Tensor:
        inputs = export_inputs(self.model, words, labels)
        return torch.from_numpy(self.session.run(None, {k: v.numpy() for k, v in inputs.items()})[0])

    def batch_predict_entities(self, texts, labels, flat_ner=True, threshold=0.5, multi_label=False, batch_size=8):
        results = []
        for i in range(0, len(texts), batch_size):
            docs = [split_words(t, self.model.config.words_splitter_type) for t in texts[i : i + batch_size]]
            if sum(len(d) > self.model.config.max_len for d in docs):
                raise ValueError("OnnxGLiNER handles texts of at most max_len words (no windowing)")
            scores = self.logits([[w for w, _, _ in d] for d in docs], labels).float().sigmoid()
            for row, (text, words) in enumerate(zip(texts[i : i + batch_size], docs)):
                spans = greedy_decode(candidates(scores[row], len(words), threshold), flat_ner, multi_label)
                results.append([{"start": words[s][1], "end": words[e][2], "text": text[words[s][1] : words[e][2]],
                                 "label": labels[c], "score": p} for s, e, c, p in spans])
        return results
