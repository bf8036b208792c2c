"""GLiNERConfig: the reference's `gliner_config.json`, read and written field for field.

Known fields are typed attributes with the reference's names and defaults (gliner 0.2.29,
`BaseGLiNERConfig`); unknown fields (transformers bookkeeping, options of model variants we do not
build) are kept in `extra` and written back unchanged, so a checkpoint round-trips. Fields that
select behaviour this package does not implement raise a ValueError naming the field and value.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_json

# model_type values the reference writes for the one architecture we implement (uni-encoder, spans).
SPAN_MODEL_TYPES = (None, "gliner", "gliner_uni_encoder_span")
WORD_SPLITTERS = ("whitespace", "cjk")


@dataclass
class GLiNERConfig:
    model_name: str = "microsoft/deberta-v3-small"  # backbone id or path (tokenizer source if none saved)
    name: str = "gliner"
    max_width: int = 12  # K: longest span, in words
    hidden_size: int = 512  # width of span / type vectors (encoder output is projected to it)
    dropout: float = 0.4
    fine_tune: bool = True
    subtoken_pooling: str = "first"  # the first sub-token stands for its word
    span_mode: str = "markerV0"
    post_fusion_schema: str = ""
    num_post_fusion_layers: int = 1
    vocab_size: int = -1  # encoder vocabulary after adding <<ENT>>/<<SEP>>; -1 = not yet resized
    max_neg_type_ratio: int = 1
    max_types: int = 25  # most labels per forward pass (more are split into groups)
    max_len: int = 384  # most words per forward pass (longer texts are windowed)
    words_splitter_type: str = "whitespace"
    num_rnn_layers: int = 1  # BiLSTM layers over word vectors; 0 switches it off
    fuse_layers: bool = False
    embed_ent_token: bool = True  # type vector = the <<ENT>> token's vector (False: the token after it)
    class_token_index: int = -1  # token id of <<ENT>>
    encoder_config: dict | None = None  # the backbone's HF config, so checkpoints need no hub access
    span_encoder_config: dict | None = None
    ent_token: str = "<<ENT>>"
    sep_token: str = "<<SEP>>"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        unsupported = {
            "span_mode": (self.span_mode, ("markerV0",)),
            "subtoken_pooling": (self.subtoken_pooling, ("first",)),
            "post_fusion_schema": (self.post_fusion_schema, ("",)),
            "fuse_layers": (self.fuse_layers, (False,)),
            "span_encoder_config": (self.span_encoder_config, (None,)),
            "words_splitter_type": (self.words_splitter_type, WORD_SPLITTERS),
            "labels_encoder": (self.extra.get("labels_encoder"), (None,)),
            "labels_decoder": (self.extra.get("labels_decoder"), (None,)),
            "precomputed_prompts_mode": (self.extra.get("precomputed_prompts_mode"), (None, False)),
        }
        for key, (value, allowed) in unsupported.items():
            if value not in allowed:
                raise ValueError(
                    f"GLiNERConfig.{key}={value!r} is not implemented here (supported: {list(allowed)}); "
                    "this package implements the paper's uni-encoder span model only"
                )
        for key in ("max_width", "hidden_size", "max_types", "max_len"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) <= 0:
                raise ValueError(f"GLiNERConfig.{key} must be a positive integer, got {getattr(self, key)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GLiNERConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.num_rnn_layers, int) or self.num_rnn_layers < 0:
            raise ValueError(f"GLiNERConfig.num_rnn_layers must be an integer >= 0, got {self.num_rnn_layers!r}")
        if self.hidden_size % 2 and self.num_rnn_layers:
            raise ValueError(f"GLiNERConfig.hidden_size must be even with a BiLSTM, got {self.hidden_size}")

    # ----------------------------------------------------------------------------- (de)serialisation
    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "GLiNERConfig":
        values = dict(values)
        model_type = values.pop("model_type", None)
        if model_type not in SPAN_MODEL_TYPES:
            raise ValueError(f"GLiNERConfig.model_type={model_type!r} is not implemented here "
                             f"(supported: {list(SPAN_MODEL_TYPES)}); this is the uni-encoder span model")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in values.items() if k in names}
        extra = {k: v for k, v in values.items() if k not in names}
        if isinstance(known.get("encoder_config"), dict):
            known["encoder_config"] = dict(known["encoder_config"])
        return cls(**known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out.update(self.extra)
        out["model_type"] = "gliner_uni_encoder_span"  # what the reference dispatches on
        return out

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "GLiNERConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(values).__name__}")
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from None

    def to_json_file(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_dict())
