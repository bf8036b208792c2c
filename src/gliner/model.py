"""The GLiNER model (paper section 2) and the user API (`from_pretrained`, `predict_entities`).

Modules and parameter names follow the reference (gliner 0.2.29, `UniEncoderSpanModel` with
span_mode=markerV0), so its state dict loads here as it is and ours loads there:

    token_rep_layer.bert_layer.model.*   the Hugging Face encoder
    token_rep_layer.projection.*         encoder width -> hidden_size (only if they differ)
    rnn.lstm.*                           BiLSTM over word vectors
    span_rep_layer.span_rep_layer.{project_start, project_end, out_project}.*
    prompt_rep_layer.*                   FFN over the <<ENT>> vectors
"""

from __future__ import annotations

import numbers
import os
import re
import warnings
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .atomic import checkpoint_to_read, write_checkpoint
from .config import GLiNERConfig
from .decoding import candidates, greedy_decode
from .processing import check_labels, encode, plan_windows, prompt_words, split_words, tokenize


def projection(in_dim: int, dropout: float, out_dim: int | None = None) -> nn.Sequential:
    """The reference's two-layer FFN: Linear(in, 4*out) -> ReLU -> Dropout -> Linear(4*out, out)."""
    out_dim = in_dim if out_dim is None else out_dim
    return nn.Sequential(nn.Linear(in_dim, out_dim * 4), nn.ReLU(), nn.Dropout(dropout), nn.Linear(out_dim * 4, out_dim))


class Backbone(nn.Module):
    """Holds the Hugging Face encoder as `.model` (the reference's `bert_layer.model` name)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model


class Encoder(nn.Module):
    def __init__(self, backbone: nn.Module, hidden_size: int):
        super().__init__()
        self.bert_layer = Backbone(backbone)
        if backbone.config.hidden_size != hidden_size:
            self.projection = nn.Linear(backbone.config.hidden_size, hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tokens = self.bert_layer.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.projection(tokens) if hasattr(self, "projection") else tokens


class BiLSTM(nn.Module):
    """Under CPU bf16 autocast the LSTM runs in float32: torch's bf16 LSTM is slower there (benchmark: step parts)."""

    fp32_under_cpu_autocast = True

    def __init__(self, hidden_size: int, num_layers: int):
        super().__init__()
        self.lstm = nn.LSTM(hidden_size, hidden_size // 2, num_layers=num_layers, bidirectional=True, batch_first=True)

    def forward(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        fp32 = self.fp32_under_cpu_autocast and words.device.type == "cpu" and torch.is_autocast_enabled("cpu")
        with torch.autocast("cpu", enabled=False) if fp32 else nullcontext():
            packed = pack_padded_sequence(words.float() if fp32 else words, lengths.cpu(), batch_first=True,
                                          enforce_sorted=False)
            out, _ = self.lstm(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=words.size(1))[0]


class SpanMarkerV0(nn.Module):
    """Span vector = FFN([FFN_start(h_i); FFN_end(h_j)]) for every span (i, j) up to max_width words."""

    def __init__(self, hidden_size: int, max_width: int, dropout: float):
        super().__init__()
        self.max_width = max_width
        self.project_start = projection(hidden_size, dropout)
        self.project_end = projection(hidden_size, dropout)
        self.out_project = projection(2 * hidden_size, dropout, hidden_size)

    def forward(self, words: torch.Tensor, span_idx: torch.Tensor) -> torch.Tensor:
        """The reference's form: span vectors (B, L, K, D) for span_idx (B, L*K, 2). Used in tests."""
        B, L, D = words.shape
        gather = lambda x, idx: torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, D))  # noqa: E731
        start = gather(self.project_start(words), span_idx[..., 0])
        end = gather(self.project_end(words), span_idx[..., 1])
        return self.out_project(torch.cat([start, end], dim=-1).relu()).view(B, -1, self.max_width, D)

    def score(self, words: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, K, C) = span vectors . type vectors, without building the span vectors.

        The same numbers as `forward` followed by a dot product, computed in an order that avoids
        the two (B, L, K, 4D) x (4D, ...) matrix products of the reference, whose cost grows with
        every padded span:
          relu(cat(s, e)) @ W1.T = relu(s) @ W1s.T + relu(e) @ W1e.T   (split W1 = [W1s | W1e]),
          so the first layer runs per word (B, L, 4D), not per span;
          (g @ W2.T + b2) . t = g . (t @ W2) + b2 . t,
          so the last layer is folded into the C type vectors instead of applied to L*K spans.
        The remaining (B, L, 4D) hidden layer is built one width at a time (a slice, not a gather
        of L*K rows), so it stays in cache; spans running past the text use the last word as their
        end, as the reference's clamped span indices do (they are masked later).
        """
        B, L, K = words.size(0), words.size(1), self.max_width
        first, dropout, last = self.out_project[0], self.out_project[2], self.out_project[3]
        w_start, w_end = first.weight.chunk(2, dim=1)  # (4D, D) each
        from_start = self.project_start(words).relu() @ w_start.T + first.bias  # (B, L, 4D)
        from_end = self.project_end(words).relu() @ w_end.T  # (B, L, 4D)
        types_in = (types @ last.weight).transpose(1, 2)  # (B, 4D, C)
        logits = words.new_empty(B, L, K, types.size(1))
        for width in range(K):
            inside = max(L - width, 0)  # spans of this width that end inside the text
            logits[:, :inside, width] = dropout((from_start[:, :inside] + from_end[:, width:]).relu_()) @ types_in
            logits[:, inside:, width] = dropout((from_start[:, inside:] + from_end[:, -1:]).relu_()) @ types_in
        return logits + (types @ last.bias)[:, None, None, :]


class SpanRepLayer(nn.Module):
    def __init__(self, hidden_size: int, max_width: int, dropout: float):
        super().__init__()
        self.span_rep_layer = SpanMarkerV0(hidden_size, max_width, dropout)


class SpanModel(nn.Module):
    """Encoder -> word and type vectors -> span x type logits. The reference's UniEncoderSpanModel."""

    def __init__(self, config: GLiNERConfig, backbone: nn.Module):
        super().__init__()
        self.config = config
        self.token_rep_layer = Encoder(backbone, config.hidden_size)
        if config.num_rnn_layers > 0:
            self.rnn = BiLSTM(config.hidden_size, config.num_rnn_layers)
        self.span_rep_layer = SpanRepLayer(config.hidden_size, config.max_width, config.dropout)
        self.prompt_rep_layer = projection(config.hidden_size, config.dropout)

    def forward(self, input_ids, attention_mask, words_mask, text_lengths) -> tuple[torch.Tensor, torch.Tensor]:
        """Return logits (B, L, K, C) and the type mask (B, C); L = longest text, C = most types."""
        tokens = self.token_rep_layer(input_ids, attention_mask)  # (B, T, D)
        B, _, D = tokens.shape
        # word vectors: the first sub-token of each word (words_mask holds 1-based word indices)
        rows, cols = torch.nonzero(words_mask, as_tuple=True)
        words = tokens.new_zeros(B, int(text_lengths.max()), D)
        words[rows, words_mask[rows, cols] - 1] = tokens[rows, cols]
        # type vectors: the <<ENT>> tokens (or the token after each, if embed_ent_token is off)
        is_ent = (input_ids == self.config.class_token_index) & attention_mask.bool()
        num_types = is_ent.sum(1)
        type_mask = torch.arange(int(num_types.max()), device=tokens.device)[None, :] < num_types[:, None]
        ent_rows, ent_cols = torch.nonzero(is_ent, as_tuple=True)
        types = tokens.new_zeros(B, type_mask.size(1), D)
        types[type_mask] = tokens[ent_rows, ent_cols + (0 if self.config.embed_ent_token else 1)]
        if hasattr(self, "rnn"):
            words = self.rnn(words, text_lengths)
        logits = self.span_rep_layer.span_rep_layer.score(words, self.prompt_rep_layer(types))
        return logits, type_mask


class GLiNER(nn.Module):
    """A GLiNER checkpoint: config + tokenizer + SpanModel, with the reference's user API."""

    def __init__(self, config: GLiNERConfig, tokenizer, backbone: nn.Module):
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.model = SpanModel(config, backbone)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, input_ids, attention_mask, words_mask, text_lengths):
        return self.model(input_ids, attention_mask, words_mask, text_lengths)

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def from_backbone(cls, backbone: str, model_name: str | None = None, **config_fields) -> "GLiNER":
        """A new model on a pretrained encoder (path or hub id); GLiNER layers randomly initialised.

        `model_name` is what the config records as the backbone (default: `backbone`); give the hub
        id when `backbone` is a local path, so checkpoints do not name this machine's files.
        """
        from transformers import AutoModel, AutoTokenizer

        config = GLiNERConfig(model_name=model_name or backbone, **config_fields)
        return cls.from_config(config, AutoTokenizer.from_pretrained(backbone), AutoModel.from_pretrained(backbone))

    @classmethod
    def from_config(cls, config: GLiNERConfig, tokenizer, encoder: nn.Module | None = None) -> "GLiNER":
        """A new model: adds <<ENT>>/<<SEP>> to the tokenizer and the encoder's embeddings and records
        their ids and the encoder's config, so the checkpoint is self-contained. Without `encoder`,
        one is built, randomly initialised, from `config.encoder_config`."""
        tokenizer = _prepare_tokenizer(tokenizer)
        tokenizer.add_tokens([config.ent_token, config.sep_token], special_tokens=True)
        encoder = encoder if encoder is not None else _encoder_from_config(config, Path("."))
        if encoder.get_input_embeddings().num_embeddings != len(tokenizer):
            encoder.resize_token_embeddings(len(tokenizer))
        config.vocab_size = len(tokenizer)
        config.class_token_index = tokenizer.convert_tokens_to_ids(config.ent_token)
        config.encoder_config = {k: v for k, v in encoder.config.to_dict().items() if k != "_name_or_path"}
        return cls(config, tokenizer, encoder)

    @classmethod
    def from_pretrained(
        cls, model_id: str | os.PathLike, model_dir: str | os.PathLike | None = None, revision: str | None = None,
        cache_dir: str | os.PathLike | None = None, force_download: bool = False, proxies: dict | None = None,
        resume_download: bool | None = None, local_files_only: bool = False, token: str | bool | None = None,
        map_location: str | torch.device = "cpu", strict: bool = True, load_tokenizer: bool | None = None,
        resize_token_embeddings: bool | None = True, compile_torch_model: bool | None = False,
        quantize: str | None = None, dtype: str | torch.dtype | None = None, low_cpu_mem_usage: bool = False,
        variant: str | None = None, load_onnx_model: bool | None = False, onnx_model_file: str | None = "model.onnx",
        session_options=None, max_length: int | None = None, max_width: int | None = None,
        post_fusion_schema: str | None = None, _attn_implementation: str | None = None, runtime: str | None = None,
        runtime_model_file: str | None = None, runtime_options: dict | None = None, **unknown,
    ) -> "GLiNER":
        """Load a checkpoint directory (ours or the reference's), or download one from the hub.

        The keywords are the reference's (gliner 0.2.29), so its clients' calls run unchanged
        (`dtype="bf16"`, `quantize="int8"` included); those that select something this package does
        not implement (ONNX/OpenVINO runtimes, torch.compile) raise naming the keyword, and an unknown keyword is refused. Deliberate
        differences: `strict` defaults to True (a checkpoint missing weights fails instead of keeping
        random ones); `low_cpu_mem_usage` is accepted and loads the usual way (same result).
        `load_tokenizer=False` takes the backbone's tokenizer from `config.model_name`, as the reference.
        """
        if unknown:
            raise TypeError(f"GLiNER.from_pretrained() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        for keyword, value, default in (("load_onnx_model", bool(load_onnx_model), False),
                                        ("runtime", runtime if runtime != "torch" else None, None),
                                        ("runtime_model_file", runtime_model_file, None),
                                        ("runtime_options", runtime_options, None),
                                        ("session_options", session_options, None),
                                        ("compile_torch_model", bool(compile_torch_model), False)):
            if value != default:
                raise NotImplementedError(f"from_pretrained({keyword}={value!r}): this package runs the PyTorch "
                                          "model in eager mode only (no ONNX/OpenVINO runtime or torch.compile)")
        if quantize not in (None, "int8"):
            raise ValueError(f"from_pretrained(quantize={quantize!r}): only 'int8' is supported (bf16: dtype='bf16')")
        device = _check_device(map_location)
        torch_dtype = _parse_dtype(dtype, variant)
        if model_dir is not None:
            directory = Path(model_dir)
        elif Path(model_id).is_dir():
            directory = Path(model_id)
        else:
            directory = _download(str(model_id), revision=revision, cache_dir=cache_dir, force_download=force_download,
                                  proxies=proxies, resume_download=resume_download, token=token,
                                  local_files_only=local_files_only)
        with checkpoint_to_read(directory) as directory:  # not while a save is swapping files in
            hub = {"cache_dir": cache_dir, "local_files_only": local_files_only}

            config = GLiNERConfig.from_json_file(directory / "gliner_config.json")
            overrides = {"max_len": max_length, "max_width": max_width, "post_fusion_schema": post_fusion_schema}
            for field_name, value in overrides.items():
                if value is not None:
                    setattr(config, field_name, value)
            try:
                config.validate()
            except ValueError as err:
                raise ValueError(f"from_pretrained overrides: {err}") from None
            tokenizer = _load_tokenizer(directory, config, load_tokenizer is not False, hub)
            encoder = _encoder_from_config(config, directory, hub, _attn_implementation)
            model = cls(config, tokenizer, encoder)
            if config.class_token_index == -1:  # an untrained config: the markers are added now
                tokenizer.add_tokens([config.ent_token, config.sep_token], special_tokens=True)
                config.class_token_index = tokenizer.convert_tokens_to_ids(config.ent_token)
            _check_tokenizer(directory, config, tokenizer, encoder, resize_token_embeddings is not False)
            weights = _load_weights(directory, model.model, str(device), strict, variant)
            if torch_dtype is not None:
                model.to(torch_dtype)
            model.model.load_state_dict(weights, strict=strict)
            model = model.to(device).eval()
            return model.quantize(quantize) if quantize else model

    def quantize(self, dtype: str = "int8") -> "GLiNER":
        """Dynamic int8 on CPU (the reference's call): every Linear gets int8 weights but the span head's
        out_project, whose weights the fused scorer reads directly. Check the F1 it keeps: README, Speed."""
        if dtype != "int8":
            raise ValueError(f"quantize({dtype!r}): only 'int8' is supported (bf16: from_pretrained(..., dtype='bf16'))")
        if self.device.type != "cpu":
            raise NotImplementedError(f"quantize('int8') on {self.device}: torch's dynamic int8 kernels are CPU only")
        linears = {name for name, module in self.model.named_modules()
                   if isinstance(module, nn.Linear) and ".out_project." not in name}
        self.model = torch.ao.quantization.quantize_dynamic(self.model, linears, dtype=torch.qint8)
        return self

    def save_pretrained(self, directory: str | os.PathLike, *, safe_serialization: bool = True) -> Path:
        """Write gliner_config.json, the weights and the tokenizer files into `directory`.

        Only the checkpoint's own files are replaced, all at once (see gliner.atomic); anything else
        in the directory is left alone. Saving onto an existing file is refused. Weights go to
        model.safetensors (safe_serialization=False: the reference's default pytorch_model.bin).
        """
        from safetensors.torch import save_file

        def write(staging: Path) -> None:
            state = {k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
            if safe_serialization:
                save_file(state, staging / "model.safetensors", metadata={"format": "pt"})
            else:
                torch.save(state, staging / "pytorch_model.bin")
            self.config.to_json_file(staging / "gliner_config.json")
            self.tokenizer.save_pretrained(staging)

        return write_checkpoint(directory, write)

    @property
    def data_processor(self):
        """The reference's attribute path to the tokenizer (`model.data_processor.transformer_tokenizer`),
        which clients such as presidio's tokenizer-based chunker read."""
        return SimpleNamespace(transformer_tokenizer=self.tokenizer, config=self.config)

    # ------------------------------------------------------------------------------ inference
    # Argument order as the reference's (text, labels, flat_ner, threshold, multi_label), so code
    # written for it, positional arguments included, runs here.
    def predict_entities(self, text: str, labels: list[str], flat_ner: bool = True, threshold: float = 0.5,
                         multi_label: bool = False) -> list[dict]:
        """Entities in `text` as [{"start", "end", "text", "label", "score"}], character offsets."""
        return self.batch_predict_entities([text], labels, flat_ner, threshold, multi_label, batch_size=1)[0]

    def inference(self, texts: str | list[str], labels: list[str], flat_ner: bool = True, threshold: float = 0.5,
                  multi_label: bool = False, batch_size: int = 8) -> list[list[dict]]:
        """The reference's newer name for batch prediction; a single text may be given as a str."""
        texts = [texts] if isinstance(texts, str) else texts
        return self.batch_predict_entities(texts, labels, flat_ner, threshold, multi_label, batch_size)

    @torch.inference_mode()
    def batch_predict_entities(self, texts: list[str], labels: list[str], flat_ner: bool = True,
                               threshold: float = 0.5, multi_label: bool = False, batch_size: int = 8) -> list[list[dict]]:
        """Predict for many texts. Long texts are windowed, long label lists split into groups."""
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
            raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
        labels = check_labels(labels)
        threshold = _check_threshold(threshold)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.eval()

        groups = [labels[i : i + self.config.max_types] for i in range(0, len(labels), self.config.max_types)]
        # a lone surrogate cannot reach the tokenizer; U+FFFD stands in for it, one code point for one
        docs = [split_words(SURROGATE.sub("\ufffd", text), self.config.words_splitter_type) for text in texts]
        rows = []  # (doc, window, group index): one encoder input each
        for group_index, group in enumerate(groups):
            budget = self._text_token_budget(group)
            for doc_index, words in enumerate(docs):
                for window in self._windows([w for w, _, _ in words], budget):
                    if window.end > window.start:
                        rows.append((doc_index, window, group_index))
        rows.sort(key=lambda row: row[1].end - row[1].start)  # similar lengths share a batch: less padding

        found = [[] for _ in texts]  # candidate tensors per document, in document word/label indices
        for i in range(0, len(rows), batch_size):
            batch = rows[i : i + batch_size]
            inputs = encode(
                self.tokenizer,
                [[w for w, _, _ in docs[d][win.start : win.end]] for d, win, _ in batch],
                [groups[g] for _, _, g in batch],
                self.config.ent_token,
                self.config.sep_token,
            )
            logits, _ = self(**{k: v.to(self.device) for k, v in inputs.items()})
            scores = logits.float().sigmoid().cpu()
            for row, (d, win, g) in enumerate(batch):
                cands = candidates(scores[row, :, :, : len(groups[g])], win.end - win.start, threshold)
                cands[:, :2] += win.start
                cands[:, 2] += g * self.config.max_types
                owned = (cands[:, 0] >= win.own_start) & (cands[:, 0] < win.own_end)
                found[d].append(cands[owned])

        results = []
        for text, words, cands in zip(texts, docs, found):
            spans = greedy_decode(torch.cat(cands) if cands else torch.empty(0, 4), flat_ner, multi_label)
            results.append([
                {"start": words[s][1], "end": words[e][2], "text": text[words[s][1] : words[e][2]],
                 "label": labels[label], "score": score}
                for s, e, label, score in spans
            ])
        return results

    def _text_token_budget(self, labels: list[str]) -> int:
        """Sub-tokens left for the text once the prompt for `labels` and the special tokens are in."""
        tokenizer = self.tokenizer
        prompt = tokenize(tokenizer, prompt_words(labels, self.config.ent_token, self.config.sep_token),
                          is_split_into_words=True, add_special_tokens=False)["input_ids"]
        limit = min(tokenizer.model_max_length, _max_positions(self.config)) - tokenizer.num_special_tokens_to_add()
        if limit - len(prompt) <= self.config.max_width:
            raise ValueError(f"the prompt for {len(labels)} labels takes {len(prompt)} of {limit} tokens; "
                             "lower max_types so label groups leave room for text")
        return limit - len(prompt)

    def _windows(self, words: list[str], budget: int):
        """Plan encoder windows for one text; a short text gets a single window and no extra work."""
        # an upper bound on sub-tokens per word (a sub-token covers at least one UTF-8 byte) avoids
        # tokenising words twice when the text surely fits
        if len(words) <= self.config.max_len and sum(len(w.encode()) + 1 for w in words) <= budget:
            return plan_windows([1] * len(words), len(words) or 1, len(words) or 1, self.config.max_width)
        counts = [len(ids) for ids in tokenize(self.tokenizer, words, add_special_tokens=False)["input_ids"]]
        return plan_windows(counts, self.config.max_len, budget, self.config.max_width)


SURROGATE = re.compile("[\ud800-\udfff]")


def _check_threshold(threshold) -> float:
    """A number in (0, 1): a Python, numpy or one-element torch scalar."""
    is_scalar_tensor = isinstance(threshold, torch.Tensor) and threshold.numel() == 1 and threshold.is_floating_point()
    if isinstance(threshold, bool) or not (isinstance(threshold, numbers.Real) or is_scalar_tensor):
        raise TypeError(f"threshold must be a number in (0, 1), got {type(threshold).__name__} {threshold!r}")
    value = float(threshold)
    if not 0.0 < value < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    return value


# ---------------------------------------------------------------------------------- loading helpers
def _max_positions(config: GLiNERConfig) -> int:
    encoder = config.encoder_config or {}
    positions = encoder.get("max_position_embeddings") or 10**9
    # XLM-R style encoders number positions from padding_idx + 1
    return positions - 2 if encoder.get("model_type") in ("xlm-roberta", "roberta") else positions


def _prepare_tokenizer(tokenizer):
    """As the reference: ask SentencePiece-style tokenizers for their bos/eos markers explicitly."""
    if hasattr(tokenizer, "add_bos_token") and tokenizer.bos_token_id is not None:
        tokenizer.add_bos_token = True
    if hasattr(tokenizer, "add_eos_token") and tokenizer.eos_token_id is not None:
        tokenizer.add_eos_token = True
    return tokenizer


def _check_device(map_location) -> torch.device:
    try:
        device = torch.device(map_location)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"map_location={map_location!r} is not a device ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"map_location={map_location!r} but this machine has no usable CUDA device "
                           "(torch.cuda.is_available() is False); use map_location='cpu'")
    return device


DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
          "half": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def _parse_dtype(dtype, variant: str | None) -> torch.dtype | None:
    """`dtype=` as the reference takes it (a torch dtype or a name); `variant` implies its dtype."""
    parsed = dtype
    if isinstance(dtype, str):
        parsed = DTYPES.get(dtype.lower().removeprefix("torch."))
    if dtype is not None and parsed not in DTYPES.values():
        raise ValueError(f"dtype={dtype!r} is not a floating-point dtype (known: {sorted(DTYPES)})")
    if variant is not None:
        if variant not in ("fp16", "bf16"):
            raise ValueError(f"variant={variant!r} is not one of 'fp16', 'bf16'")
        if parsed is not None and parsed != DTYPES[variant]:
            raise ValueError(f"variant={variant!r} needs dtype={DTYPES[variant]}, got dtype={dtype!r}")
        parsed = DTYPES[variant]
    return parsed


def _download(hub_id: str, **hub_kwargs) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=hub_id, **{k: v for k, v in hub_kwargs.items() if v is not None}))
    except Exception as err:  # offline, unknown id, ...: say what was tried
        raise OSError(f"{hub_id!r} is not a local directory and could not be downloaded from the Hugging Face hub "
                      f"({type(err).__name__}: {err}). Offline? Pass the path of a checkpoint directory.") from err


def _load_tokenizer(directory: Path, config: GLiNERConfig, from_directory: bool, hub: dict):
    """The checkpoint's own tokenizer, or (none saved, or load_tokenizer=False) the backbone's.

    A released checkpoint without tokenizer files (GLiNER v1 such as urchade/gliner_base; v2.1 ones
    loaded with load_tokenizer=False) uses `model_name`'s tokenizer plus the markers the reference
    adds, "[FLERT]", <<ENT>>, <<SEP>> in that order (v1 got "[FLERT]" from flair), so <<ENT>> is the
    backbone's size + 1 (class_token_index 128002 for DeBERTa-v3, 250103 for mDeBERTa-v3); our own
    checkpoints add only the two markers, and the config's class_token_index tells which. A config
    without class_token_index or vocab_size (v1) gets them as the reference sets them: the embeddings
    follow the tokenizer.
    """
    from transformers import AutoTokenizer

    saved = from_directory and (directory / "tokenizer_config.json").is_file()
    source = directory if saved else config.model_name
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **({} if saved else hub))
    except Exception as err:
        if saved:
            raise OSError(f"{directory}: could not load the tokenizer from {str(source)!r} "
                          f"({type(err).__name__}: {err})") from err
        why = "load_tokenizer=False" if not from_directory else "the checkpoint has no tokenizer files"
        raise OSError(f"{directory}: {why}, so the tokenizer comes from model_name={config.model_name!r} "
                      f"(Hugging Face hub or its cache{', local_files_only=True' if hub.get('local_files_only') else ''}), "
                      f"which could not be loaded ({type(err).__name__}: {_first_line(err)}). Offline? Put the backbone "
                      "into a hub cache (from_pretrained(..., cache_dir=..., local_files_only=True)), or save a "
                      "tokenizer into the checkpoint directory.") from None
    # a backbone's tokenizer lacks the markers (a saved one has them, unless the config is untrained)
    if (not saved or config.class_token_index == -1) and config.ent_token not in tokenizer.get_added_vocab():
        markers = [config.ent_token, config.sep_token]
        if config.class_token_index in (-1, len(tokenizer) + 1):  # the reference's (and v1's) "[FLERT]" first
            markers.insert(0, "[FLERT]")
        tokenizer.add_tokens(markers, special_tokens=True)
    if -1 in (config.vocab_size, config.class_token_index):  # v1: the reference resizes to the tokenizer
        config.vocab_size = len(tokenizer)
        if isinstance(config.encoder_config, dict):
            config.encoder_config["vocab_size"] = len(tokenizer)
    return _prepare_tokenizer(tokenizer)


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [""])[0]


def _check_tokenizer(directory: Path, config: GLiNERConfig, tokenizer, encoder: nn.Module, check_size: bool) -> None:
    """A tokenizer that does not fit the checkpoint (a vocabulary file missing, another backbone's) fails
    here, naming the files, instead of predicting garbage."""
    ent_id = tokenizer.convert_tokens_to_ids(config.ent_token)
    rows = encoder.get_input_embeddings().num_embeddings
    files = sorted(p.name for p in directory.glob("*tok*")) + sorted(p.name for p in directory.glob("vocab*"))
    problem = None
    if ent_id != config.class_token_index:
        problem = (f"class_token_index={config.class_token_index} but the tokenizer maps {config.ent_token!r} "
                   f"to {ent_id}")
    elif check_size and len(tokenizer) > rows:
        problem = f"the tokenizer has {len(tokenizer)} tokens, more than the encoder's {rows} embeddings"
    elif check_size and len(tokenizer) < rows // 2:
        problem = f"the tokenizer has only {len(tokenizer)} tokens for the encoder's {rows} embeddings"
    if problem:
        hint = "" if (directory / "tokenizer.json").is_file() else " (tokenizer.json is missing)"
        raise ValueError(f"{directory / 'gliner_config.json'}: the saved tokenizer does not fit the checkpoint: "
                         f"{problem}{hint}; tokenizer files there: {files or 'none'}")


def _encoder_from_config(config: GLiNERConfig, directory: Path, hub: dict | None = None,
                         attn_implementation: str | None = None) -> nn.Module:
    """Build the (randomly initialised) encoder from the saved encoder_config; weights come after."""
    from transformers import AutoConfig, AutoModel

    if config.encoder_config is None:  # released checkpoints (v1, v2.1): the backbone's config from the hub
        try:
            encoder_config = AutoConfig.from_pretrained(config.model_name, **(hub or {}))
        except Exception as err:
            offline = ", local_files_only=True" if (hub or {}).get("local_files_only") else ""
            raise OSError(f"{directory / 'gliner_config.json'}: encoder_config is null, so the encoder's config comes "
                          f"from model_name={config.model_name!r} (Hugging Face hub or its cache{offline}), which could "
                          f"not be loaded ({type(err).__name__}: {_first_line(err)}). Offline? Put the backbone into a "
                          "hub cache (from_pretrained(..., cache_dir=..., local_files_only=True)), or write the "
                          "backbone's config into gliner_config.json as encoder_config.") from None
        if config.vocab_size != -1:
            encoder_config.vocab_size = config.vocab_size
    else:
        values = dict(config.encoder_config)
        model_type = values.pop("model_type", "deberta-v2")  # the reference's default
        try:
            encoder_config = AutoConfig.for_model(model_type, **values)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{directory / 'gliner_config.json'}: encoder_config: {err}") from None
    if attn_implementation is None:
        return AutoModel.from_config(encoder_config)
    return AutoModel.from_config(encoder_config, attn_implementation=attn_implementation)


def _load_weights(directory: Path, model: nn.Module, map_location: str, strict: bool = True,
                  variant: str | None = None) -> dict:
    """Read model.safetensors (or model.<variant>.safetensors, or the reference's pytorch_model.bin) and
    check it fits the model; with strict=False what is missing keeps its initial value, with a warning."""
    safetensors_file, torch_file = directory / "model.safetensors", directory / "pytorch_model.bin"
    if variant is not None and (directory / f"model.{variant}.safetensors").is_file():
        safetensors_file = directory / f"model.{variant}.safetensors"
    elif variant is not None:
        warnings.warn(f"{directory}: no model.{variant}.safetensors; loading the default weights cast to {variant}",
                      stacklevel=3)
    path = safetensors_file if safetensors_file.is_file() else torch_file
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no weights (expected model.safetensors or pytorch_model.bin)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path, device=map_location)
        else:
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: unreadable or corrupt weights ({type(err).__name__}: {err})") from None
    state = {k.replace("_orig_mod.", ""): v for k, v in state.items()}  # torch.compile prefixes
    expected = model.state_dict()
    # buffers some transformers versions save and others do not (e.g. position_ids)
    optional = {k for k in set(expected) ^ set(state) if k.endswith(("position_ids", "token_type_ids"))}
    for key in optional:
        state.pop(key, None)
        if key in expected:
            state[key] = expected[key]
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        message = f"{path}: weights do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}"
        if strict:
            raise ValueError(message)
        warnings.warn(message + " (strict=False: missing ones keep their initial values)", stacklevel=3)
        state = {k: v for k, v in state.items() if k in expected}
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ValueError(f"{path}: {key} has shape {tuple(tensor.shape)}, the config needs {tuple(expected[key].shape)}")
    return state
