"""Words, prompts and batches: everything between raw text and the tensors the model reads.

The encoder reads `<<ENT>> type1 <<ENT>> type2 ... <<SEP>> word1 word2 ...`, tokenised as
pre-split words (as the reference does), and each word is represented by its first sub-token.
"""

from __future__ import annotations

import numbers
import re
import threading
from dataclasses import dataclass

import torch

# The reference's whitespace splitter: words (with inner hyphens/underscores) or single symbols.
WORD_PATTERN = re.compile(r"\w+(?:[-_]\w+)*|\S")
# For scripts written without spaces every CJK character (Han, kana, Hangul) is a word of its own;
# runs of other word characters are still split as above.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
CJK_PATTERN = re.compile(rf"[{_CJK}]|(?:[^\W{_CJK}])+(?:[-_](?:[^\W{_CJK}])+)*|\S")


# A fast tokenizer keeps its padding/truncation settings in shared state that each call rewrites, so
# concurrent calls (threads sharing one model) can pad with another call's settings: calls are serialised.
TOKENIZER_LOCK = threading.RLock()


def tokenize(tokenizer, *args, **kwargs):
    """`tokenizer(*args, **kwargs)` under TOKENIZER_LOCK."""
    with TOKENIZER_LOCK:
        return tokenizer(*args, **kwargs)


def split_words(text: str, splitter: str = "whitespace") -> list[tuple[str, int, int]]:
    """Split text into (word, start_char, end_char) triples; text[start:end] == word."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    pattern = {"whitespace": WORD_PATTERN, "cjk": CJK_PATTERN}.get(splitter)
    if pattern is None:
        raise ValueError(f"unknown word splitter {splitter!r} (known: whitespace, cjk)")
    return [(m.group(), m.start(), m.end()) for m in pattern.finditer(text)]


def check_labels(labels) -> list[str]:
    """Labels must be a non-empty list of distinct, non-empty strings."""
    if isinstance(labels, str) or not isinstance(labels, (list, tuple)):
        raise TypeError(f"labels must be a list of strings, got {type(labels).__name__}")
    if not labels:
        raise ValueError("labels is empty: give at least one entity type")
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise TypeError(f"labels[{i}] must be a str, got {type(label).__name__}")
        if not label.strip():
            raise ValueError(f"labels[{i}] is empty or blank")
    seen = set()
    for label in labels:
        if label in seen:
            raise ValueError(f"duplicate label {label!r}: each entity type may be given once")
        seen.add(label)
    return list(labels)


def prompt_words(labels: list[str], ent_token: str, sep_token: str) -> list[str]:
    """['<<ENT>>', 'person', '<<ENT>>', 'city', '<<SEP>>'] for labels ['person', 'city']."""
    words = []
    for label in labels:
        words += [ent_token, label]
    return words + [sep_token]


def encode(tokenizer, words: list[list[str]], labels: list[list[str]], ent_token: str, sep_token: str) -> dict:
    """Tokenise prompt + words for a batch; one row per (words, labels) pair.

    Returns input_ids, attention_mask, words_mask (1-based word index at each word's first
    sub-token, 0 elsewhere, as the reference) and text_lengths (words per row).
    """
    prompts = [prompt_words(row_labels, ent_token, sep_token) for row_labels in labels]
    enc = tokenize(
        tokenizer,
        [p + w for p, w in zip(prompts, words)],
        is_split_into_words=True,
        truncation=True,
        padding="longest",
        return_tensors="pt",
    )
    words_mask = torch.zeros_like(enc["input_ids"])
    for row, (prompt, row_words) in enumerate(zip(prompts, words)):
        previous = None
        for position, word_id in enumerate(enc.word_ids(row)):
            if word_id is not None and word_id != previous and word_id >= len(prompt):
                words_mask[row, position] = word_id - len(prompt) + 1
            previous = word_id
        if row_words and int(words_mask[row].max()) < len(row_words):
            _check_not_truncated(tokenizer, row, row_words, words_mask[row], int(enc["attention_mask"][row].sum()))
    return {
        "input_ids": enc["input_ids"],
        "attention_mask": enc["attention_mask"],
        "words_mask": words_mask,
        "text_lengths": torch.tensor([len(w) for w in words], dtype=torch.long),
    }


def _check_not_truncated(tokenizer, row: int, words: list[str], row_mask: torch.Tensor, n_tokens: int) -> None:
    """A word without a position either has no sub-token (U+200B, a lone combining accent: it gets
    a zero vector, as in the reference) or was cut off by truncation, which is an error."""
    placed = set(row_mask[row_mask > 0].tolist())
    missing = [i for i in range(len(words)) if i + 1 not in placed]
    ids = tokenize(tokenizer, [words[i] for i in missing], add_special_tokens=False)["input_ids"]
    cut = [i for i, tokens in zip(missing, ids) if tokens]
    if cut:
        raise ValueError(f"row {row}: the tokenizer truncated the input at word {cut[0]} ({len(words)} words, "
                         f"{n_tokens} tokens); use shorter windows")


def span_targets(ner, num_words: int, labels: list[str], max_width: int) -> torch.Tensor:
    """Dense target (num_words, max_width, num_labels): 1 where span (start, start+k) has the label.

    Entities wider than max_width or past num_words cannot be scored and are left out.
    """
    target = torch.zeros(num_words, max_width, len(labels))
    index = {label: i for i, label in enumerate(labels)}
    for start, end, label in ner:
        width = end - start
        if label in index and 0 <= width < max_width and end < num_words:
            target[start, width, index[label]] = 1.0
    return target


# ---------------------------------------------------------------------------------- long texts
@dataclass(frozen=True)
class Window:
    start: int  # first word of the window
    end: int  # one past its last word
    own_start: int  # spans starting in [own_start, own_end) are taken from this window
    own_end: int


def plan_windows(word_token_counts: list[int], max_words: int, max_tokens: int, max_width: int) -> list[Window]:
    """Cover a text with overlapping windows that each fit the encoder.

    Consecutive windows overlap by up to 2 * max_width words; a span is taken from the window in
    whose "own" range its start word lies (ranges meet mid-overlap), so each span is scored once,
    with context on both sides, and a span of <= max_width words starting in the own range always
    fits inside that window. A word longer than `max_tokens` on its own gets a window of its own
    and is read from its first `max_tokens` sub-tokens (a word's vector is its first sub-token).
    """
    n = len(word_token_counts)
    if n == 0:
        return [Window(0, 0, 0, 0)]
    overlap = 2 * max_width
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end, tokens = start, 0
        while end < n and end - start < max_words and tokens + word_token_counts[end] <= max_tokens:
            tokens += word_token_counts[end]
            end += 1
        if end == start:  # one word longer than the window: alone, truncated
            end = start + 1
        spans.append((start, end))
        if end == n:
            break
        # step forward keeping `overlap` words of context, but always make progress
        start = max(end - overlap, start + max(1, (end - start) // 2)) if end - start <= overlap else end - overlap
    windows = []
    for i, (s, e) in enumerate(spans):
        own_start = 0 if i == 0 else (s + spans[i - 1][1]) // 2
        own_end = n if i == len(spans) - 1 else (spans[i + 1][0] + e) // 2
        windows.append(Window(s, e, own_start, own_end))
    return windows


# ---------------------------------------------------------------------------------- training batches
def collate(tokenizer, words: list[list[str]], labels: list[list[str]], ner: list[list], max_width: int,
            ent_token: str, sep_token: str) -> dict:
    """A training batch: `encode`'s inputs plus `targets` (B, L, K, C) and `span_mask` (B, L, K).

    Row b's targets use the order of labels[b]; rows with fewer labels are padded with zero
    columns (the model's type mask hides them). span_mask is True where span (start, start+k)
    lies inside row b's text, i.e. where a score is a real span rather than padding.
    """
    batch = encode(tokenizer, words, labels, ent_token, sep_token)
    lengths = batch["text_lengths"]
    L, C = int(lengths.max()), max(1, max(len(row) for row in labels))
    targets = torch.zeros(len(words), L, max_width, C)
    for b, (row_ner, row_labels) in enumerate(zip(ner, labels)):
        n = len(words[b])
        if n and row_labels:
            targets[b, :n, :, : len(row_labels)] = span_targets(row_ner, n, row_labels, max_width)
    ends = torch.arange(L)[:, None] + torch.arange(max_width)[None, :]  # (L, K): last word of each span
    batch["targets"] = targets
    batch["span_mask"] = ends[None] < lengths[:, None, None]
    return batch


# a lone surrogate cannot reach the tokenizer; prediction puts U+FFFD in its place
SURROGATE = re.compile("[\ud800-\udfff]")


def check_threshold(threshold) -> float:
    """A number in (0, 1): a Python, numpy or one-element torch scalar."""
    is_scalar_tensor = isinstance(threshold, torch.Tensor) and threshold.numel() == 1 and threshold.is_floating_point()
    if isinstance(threshold, bool) or not (isinstance(threshold, numbers.Real) or is_scalar_tensor):
        raise TypeError(f"threshold must be a number in (0, 1), got {type(threshold).__name__} {threshold!r}")
    value = float(threshold)
    if not 0.0 < value < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    return value
