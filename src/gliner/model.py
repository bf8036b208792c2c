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
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .config import GLiNERConfig, replace_dir
from .decoding import candidates, greedy_decode
from .processing import check_labels, encode, plan_windows, prompt_words, split_words


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
    def __init__(self, hidden_size: int, num_layers: int):
        super().__init__()
        self.lstm = nn.LSTM(hidden_size, hidden_size // 2, num_layers=num_layers, bidirectional=True, batch_first=True)

    def forward(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(words, lengths.cpu(), batch_first=True, enforce_sorted=False)
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
    def from_pretrained(cls, path_or_hub_id: str | os.PathLike, map_location: str = "cpu", **hub_kwargs) -> "GLiNER":
        """Load a checkpoint directory (ours or the reference's), or download one from the hub."""
        directory = Path(path_or_hub_id)
        if not directory.is_dir():
            directory = _download(str(path_or_hub_id), **hub_kwargs)
        config = GLiNERConfig.from_json_file(directory / "gliner_config.json")
        tokenizer = _load_tokenizer(directory, config)
        model = cls(config, tokenizer, _encoder_from_config(config, directory))
        if config.class_token_index == -1 or tokenizer.convert_tokens_to_ids(config.ent_token) == tokenizer.unk_token_id:
            tokenizer.add_tokens([config.ent_token, config.sep_token], special_tokens=True)
            config.class_token_index = tokenizer.convert_tokens_to_ids(config.ent_token)
        if tokenizer.convert_tokens_to_ids(config.ent_token) != config.class_token_index:
            raise ValueError(
                f"{directory / 'gliner_config.json'}: class_token_index={config.class_token_index} but the saved "
                f"tokenizer maps {config.ent_token!r} to {tokenizer.convert_tokens_to_ids(config.ent_token)}"
            )
        model.model.load_state_dict(_load_weights(directory, model.model, map_location), strict=True)
        return model.to(map_location).eval()

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write gliner_config.json, model.safetensors and the tokenizer files, all or nothing."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp-"))
        try:
            state = {k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
            save_file(state, tmp / "model.safetensors", metadata={"format": "pt"})
            self.config.to_json_file(tmp / "gliner_config.json")
            self.tokenizer.save_pretrained(tmp)
            replace_dir(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

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
        if not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.eval()

        groups = [labels[i : i + self.config.max_types] for i in range(0, len(labels), self.config.max_types)]
        docs = [split_words(text, self.config.words_splitter_type) for text in texts]
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
        prompt = tokenizer(prompt_words(labels, self.config.ent_token, self.config.sep_token),
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
        counts = [len(ids) for ids in self.tokenizer(words, add_special_tokens=False)["input_ids"]]
        return plan_windows(counts, self.config.max_len, budget, self.config.max_width)


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


def _download(hub_id: str, **hub_kwargs) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=hub_id, **hub_kwargs))
    except Exception as err:  # offline, unknown id, ...: say what was tried
        raise OSError(f"{hub_id!r} is not a local directory and could not be downloaded from the Hugging Face hub "
                      f"({type(err).__name__}: {err}). Offline? Pass the path of a checkpoint directory.") from err


def _load_tokenizer(directory: Path, config: GLiNERConfig):
    from transformers import AutoTokenizer

    source = directory if (directory / "tokenizer_config.json").is_file() else config.model_name
    try:
        return _prepare_tokenizer(AutoTokenizer.from_pretrained(source))
    except Exception as err:
        raise OSError(f"{directory}: could not load the tokenizer from {str(source)!r} "
                      f"({type(err).__name__}: {err})") from err


def _encoder_from_config(config: GLiNERConfig, directory: Path) -> nn.Module:
    """Build the (randomly initialised) encoder from the saved encoder_config; weights come after."""
    from transformers import AutoConfig, AutoModel

    if config.encoder_config is None:  # old checkpoints: the backbone's config from the hub
        encoder_config = AutoConfig.from_pretrained(config.model_name)
        if config.vocab_size != -1:
            encoder_config.vocab_size = config.vocab_size
    else:
        values = dict(config.encoder_config)
        model_type = values.pop("model_type", "deberta-v2")  # the reference's default
        try:
            encoder_config = AutoConfig.for_model(model_type, **values)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{directory / 'gliner_config.json'}: encoder_config: {err}") from None
    return AutoModel.from_config(encoder_config)


def _load_weights(directory: Path, model: nn.Module, map_location: str) -> dict:
    """Read model.safetensors (or the reference's pytorch_model.bin) and check it fits the model."""
    safetensors_file, torch_file = directory / "model.safetensors", directory / "pytorch_model.bin"
    path = safetensors_file if safetensors_file.is_file() else torch_file
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no weights (expected model.safetensors or pytorch_model.bin)")
    try:
        if path == safetensors_file:
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
        raise ValueError(f"{path}: weights do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ValueError(f"{path}: {key} has shape {tuple(tensor.shape)}, the config needs {tuple(expected[key].shape)}")
    return state


