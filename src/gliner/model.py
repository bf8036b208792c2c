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

import os
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from tqdm.auto import tqdm

from .atomic import checkpoint_to_read, write_checkpoint
from .config import GLiNERConfig
from .decoding import candidates, greedy_decode
from . import loading
from .processing import SURROGATE, Window, check_labels, check_threshold, encode, plan_windows, prompt_words, split_words, tokenize


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
        """Logits (B, L, K, C) = span vectors . type vectors, the numbers of `forward` + a dot product without
        building the span vectors: relu(cat(s, e)) @ W1.T = relu(s) @ W1s.T + relu(e) @ W1e.T runs the first layer
        per word, not per span, and (g @ W2.T + b2) . t = g . (t @ W2) + b2 . t folds the last layer into the
        type vectors. Spans running past the text end at the last word, as the reference's clamped indices."""
        B, L, K = words.size(0), words.size(1), self.max_width
        from_start, from_end, types_in, type_bias = self.factors(words, types)
        dropout = self.out_project[2]
        logits = words.new_empty(B, L, K, types.size(1))
        for width in range(K):
            inside = max(L - width, 0)  # spans of this width that end inside the text
            logits[:, :inside, width] = dropout((from_start[:, :inside] + from_end[:, width:]).relu_()) @ types_in
            logits[:, inside:, width] = dropout((from_start[:, inside:] + from_end[:, -1:]).relu_()) @ types_in
        return logits + type_bias[:, None, None, :]

    def factors(self, words: torch.Tensor, types: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The head as `score` splits it: the first layer's start and end parts per word (B, L, 4D) each, the
        last layer folded into the types (B, 4D, C), and its bias per type (B, C)."""
        first, last = self.out_project[0], self.out_project[3]
        w_start, w_end = first.weight.chunk(2, dim=1)  # (4D, D) each
        from_start = self.project_start(words).relu() @ w_start.T + first.bias
        from_end = self.project_end(words).relu() @ w_end.T
        return from_start, from_end, (types @ last.weight).transpose(1, 2), types @ last.bias


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

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, input_ids, attention_mask, words_mask, text_lengths):
        return self.model(input_ids, attention_mask, words_mask, text_lengths)

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def from_backbone(cls, backbone: str, model_name: str | None = None, **config_fields) -> "GLiNER":
        """A new model on a pretrained encoder (path or hub id), GLiNER layers random. The config records
        `model_name` (give the hub id for a local `backbone`, so checkpoints do not name this machine's files)."""
        from transformers import AutoModel, AutoTokenizer

        config = GLiNERConfig(model_name=model_name or backbone, **config_fields)
        return cls.from_config(config, AutoTokenizer.from_pretrained(backbone), AutoModel.from_pretrained(backbone))

    @classmethod
    def from_config(cls, config: GLiNERConfig, tokenizer, encoder: nn.Module | None = None) -> "GLiNER":
        """A new model: adds <<ENT>>/<<SEP>> to the tokenizer and the encoder's embeddings and records
        their ids and the encoder's config, so the checkpoint is self-contained. Without `encoder`,
        one is built, randomly initialised, from `config.encoder_config`."""
        tokenizer = loading.prepare_tokenizer(tokenizer)
        tokenizer.add_tokens([config.ent_token, config.sep_token], special_tokens=True)
        encoder = encoder if encoder is not None else loading.encoder_from_config(config, Path("."))
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

        The keywords are the reference's (gliner 0.2.29), so its clients' calls run unchanged; those selecting
        what this package does not implement (ONNX/OpenVINO runtimes, torch.compile) raise naming the keyword.
        Unlike the reference, `strict` defaults to True: a checkpoint missing weights fails."""
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
        device = loading.check_device(map_location)
        torch_dtype = loading.parse_dtype(dtype, variant, device)
        if model_dir is not None:
            directory = Path(model_dir)
        elif Path(model_id).is_dir():
            directory = Path(model_id)
        else:
            directory = loading.download(str(model_id), revision=revision, cache_dir=cache_dir, force_download=force_download,
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
            tokenizer = loading.load_tokenizer(directory, config, load_tokenizer is not False, hub)
            encoder = loading.encoder_from_config(config, directory, hub, _attn_implementation)
            model = cls(config, tokenizer, encoder)
            if config.class_token_index == -1:  # an untrained config: the markers are added now
                tokenizer.add_tokens([config.ent_token, config.sep_token], special_tokens=True)
                config.class_token_index = tokenizer.convert_tokens_to_ids(config.ent_token)
            loading.check_tokenizer(directory, config, tokenizer, encoder, resize_token_embeddings is not False)
            weights = loading.load_weights(directory, model.model, str(device), strict, variant)
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
        """Write gliner_config.json, the weights (model.safetensors; or pytorch_model.bin, the reference's default)
        and the tokenizer files, replacing only the checkpoint's own files, all at once (gliner.atomic)."""
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
        threshold = check_threshold(threshold)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        # a lone surrogate cannot reach the tokenizer; U+FFFD stands in for it, one code point for one
        docs = [split_words(SURROGATE.sub("\ufffd", text), self.config.words_splitter_type) for text in texts]
        found = self.window_candidates([[w for w, _, _ in words] for words in docs], [labels] * len(docs),
                                       threshold, batch_size)
        results = []
        for text, words, cands in zip(texts, docs, found):
            results.append([
                {"start": words[s][1], "end": words[e][2], "text": text[words[s][1] : words[e][2]],
                 "label": labels[label], "score": score}
                for s, e, label, score in greedy_decode(cands, flat_ner, multi_label)
            ])
        return results

    # ------------------------------------------------------------------------------ the windowed scorer
    # Prediction, evaluation and the benchmark all score through these three methods.
    def encoder_rows(self, docs: list[list[str]], labels: list[list[str]]) -> list[tuple]:
        """One (document, window, first label index, label group) per encoder input, shortest first
        (similar lengths share a batch: less padding); each document has its own label list."""
        step, budgets, rows = self.config.max_types, {}, []
        for d, (words, doc_labels) in enumerate(zip(docs, labels, strict=True)):
            for g in range(0, len(doc_labels), step):
                group = tuple(doc_labels[g : g + step])
                if group not in budgets:
                    budgets[group] = self.text_token_budget(list(group))
                rows += [(d, win, g, group) for win in self.windows(words, budgets[group]) if win.end > win.start]
        rows.sort(key=lambda row: (row[1].end - row[1].start, row[2]))
        return rows

    def encode_rows(self, docs: list[list[str]], rows: list[tuple]) -> dict:
        """The encoder inputs of `rows` (from `encoder_rows`), on the model's device."""
        inputs = encode(self.tokenizer, [docs[d][win.start : win.end] for d, win, _, _ in rows],
                        [list(group) for *_, group in rows], self.config.ent_token, self.config.sep_token)
        return {k: v.to(self.device) for k, v in inputs.items()}

    @torch.inference_mode()
    def window_candidates(self, docs: list[list[str]], labels: list[list[str]], threshold: float,
                          batch_size: int = 8, progress: bool = False) -> list[torch.Tensor]:
        """Per document, every (start word, end word, label index, score) above `threshold`, before decoding;
        a span is scored in the one window that owns its start word."""
        self.eval()
        rows = self.encoder_rows(docs, labels)
        found = [[] for _ in docs]
        for i in tqdm(range(0, len(rows), batch_size), desc="predict", disable=not progress, leave=False):
            batch = rows[i : i + batch_size]
            logits, _ = self(**self.encode_rows(docs, batch))
            scores = logits.float().sigmoid().cpu()
            for row, (d, win, g, group) in enumerate(batch):
                cands = candidates(scores[row, :, :, : len(group)], win.end - win.start, threshold)
                cands[:, :2] += win.start
                cands[:, 2] += g
                owned = (cands[:, 0] >= win.own_start) & (cands[:, 0] < win.own_end)
                found[d].append(cands[owned])
        return [torch.cat(c) if c else torch.empty(0, 4, dtype=torch.float64) for c in found]

    def text_token_budget(self, labels: list[str]) -> int:
        """Sub-tokens left for the text once the prompt for `labels` and the special tokens are in."""
        tokenizer = self.tokenizer
        prompt = tokenize(tokenizer, prompt_words(labels, self.config.ent_token, self.config.sep_token),
                          is_split_into_words=True, add_special_tokens=False)["input_ids"]
        limit = min(tokenizer.model_max_length, loading.max_positions(self.config)) - tokenizer.num_special_tokens_to_add()
        if limit - len(prompt) <= self.config.max_width:
            raise ValueError(f"the prompt for {len(labels)} labels takes {len(prompt)} of {limit} tokens; "
                             "lower max_types so label groups leave room for text")
        return limit - len(prompt)

    def windows(self, words: list[str], budget: int) -> list[Window]:
        """Plan encoder windows for one text; a short text gets a single window and no extra work."""
        # an upper bound on sub-tokens per word (a sub-token covers at least one UTF-8 byte) avoids
        # tokenising words twice when the text surely fits
        if len(words) <= self.config.max_len and sum(len(w.encode()) + 1 for w in words) <= budget:
            return plan_windows([1] * len(words), len(words) or 1, len(words) or 1, self.config.max_width)
        counts = [len(ids) for ids in tokenize(self.tokenizer, words, add_special_tokens=False)["input_ids"]]
        return plan_windows(counts, self.config.max_len, budget, self.config.max_width)

