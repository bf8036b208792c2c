"""The text that distant supervision labels: the Brown corpus, nlp-corpus (offensive sentences and
ones repeating the SOTU text dropped) and the SpamAssassin ham e-mails (prose only), as documents of
sentences, grouped into passages."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..data import fail_at, read_json, text_lines
from ..processing import split_words

# Abbreviations after which a full stop does not end a sentence.
_ABBREV = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "gov", "sen", "rep", "rev", "col", "lt", "capt",
           "vs", "etc", "inc", "co", "corp", "ltd", "no", "vol", "fig", "e.g", "i.e", "u.s", "u.k", "mt", "ft", "jan",
           "feb", "mar", "apr", "aug", "sept", "sep", "oct", "nov", "dec"}
_SENTENCE_END = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph: split after . ! ? before a capital or digit, not after an abbreviation."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        last = re.search(r"(?:^|(?<=\s))([\w.]+)\.[\"')\]]*$", text[start:m.start()].rstrip())
        if last and (last[1].lower() in _ABBREV or len(last[1]) == 1):
            continue  # Mr. Smith, J. S. Bach ('McDonald's.' is no initial)
        out.append(text[start:m.end(1)].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


@dataclass
class Document:
    id: str  # '<source>/<name>': the unit of the train / dev / test split
    source: str
    genre: str
    sentences: list[str] = field(default_factory=list)


def brown_documents(brown_dir, tags: Counter | None = None) -> list[Document]:
    """The Brown corpus: one document per text, `word/tag` tokens, one sentence per line. `tags`,
    if given, counts (lower-case word, is it tagged a common noun): how a word is mostly used."""
    brown_dir = Path(brown_dir)
    genres = {}
    for number, line in text_lines(brown_dir / "cats.txt"):
        if line.strip():
            parts = line.split()
            if len(parts) != 2:
                fail_at(brown_dir / "cats.txt", number, f"expected '<file> <genre>', got {line!r}")
            genres[parts[0]] = parts[1]
    docs = []
    for name, genre in sorted(genres.items()):
        doc = Document(f"brown/{name}", "brown", genre)
        path = brown_dir / name
        for number, line in text_lines(path):
            if not line.strip():
                continue
            words = []
            for token in line.split():
                word, sep, tag = token.rpartition("/")
                if not sep or not word or not tag:
                    fail_at(path, number, f"token {token!r} is not word/tag")
                words.append({"``": '"', "''": '"'}.get(word, word))
                if tags is not None and word.islower():  # 'Player/np' is the golfer
                    tags[word, tag.startswith("nn")] += 1
            doc.sentences.append(" ".join(words))
        docs.append(doc)
    return docs


def _blocked(sentence: str, blocklist: set[str], phrases: list[str]) -> bool:
    """A sentence with a blocked word, or a blocked phrase ('carpet muncher') among `phrases`,
    the blocklist's multi-word entries."""
    words = [w.lower() for w, _, _ in split_words(sentence)]
    if any(w in blocklist for w in words):
        return True
    joined = f" {' '.join(words)} "
    return any(f" {phrase} " in joined for phrase in phrases)


def shingles(text: str, n: int = 8) -> set[int]:
    """Hashes of every n-word run, to find sentences that repeat another text."""
    words = [w.lower() for w, _, _ in split_words(text)]
    return {hash(tuple(words[i:i + n])) for i in range(len(words) - n + 1)}


def nlp_corpus_documents(corpus_dir, blocklist: set[str], seen: set[int]) -> tuple[list[Document], Counter]:
    """nlp-corpus: each builds/doc-N.json (a list of sentences in random order) is one document.

    Sentences that hit the blocklist, or share an 8-word run with `seen` (the SOTU text already
    used), are dropped and counted.
    """
    docs, dropped = [], Counter()
    phrases = [entry for entry in blocklist if " " in entry]
    for path in sorted(Path(corpus_dir).glob("doc-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        sentences = read_json(path)
        if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
            fail_at(path, 1, "must be a JSON list of sentences")
        doc = Document(f"nlp-corpus/{path.stem}", "nlp-corpus", "web")
        for s in sentences:
            s = re.sub(r"\s+", " ", s).strip()
            if _blocked(s, blocklist, phrases):
                dropped["offensive"] += 1
            elif shingles(s) & seen:
                dropped["repeats sotu"] += 1
            elif s:
                doc.sentences.append(s)
        docs.append(doc)
    return docs, dropped


_QUOTE_HEADER = re.compile(r"^(on .* wrote:|.* writes:|-----\s*original message\s*-----)$", re.I)


def email_body(raw: bytes) -> str:
    """The text/plain parts of an RFC-822 message, without headers, quoted lines, signatures or list footers."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.is_attachment():
            try:
                parts.append(part.get_content())
            except (LookupError, UnicodeError, AssertionError):
                parts.append(part.get_payload(decode=True).decode("latin-1"))
    lines = []
    for line in "\n".join(parts).splitlines():
        stripped = line.strip()
        if stripped in ("--", "-- ") or stripped.startswith("_____") or stripped.startswith("-----BEGIN PGP"):
            break  # a signature or a mailing-list footer: nothing after it is the message
        if stripped.startswith((">", "|")) or _QUOTE_HEADER.match(stripped):
            continue
        lines.append(stripped)
    return "\n".join(lines)


def email_documents(spam_dir) -> list[Document]:
    """SpamAssassin ham: one document per message; paragraphs that are mostly not prose are dropped."""
    docs = []
    for path in sorted(Path(spam_dir).glob("easy-ham-*/*.txt")):
        doc = Document(f"email/{path.parent.name}/{path.name.split('.')[0]}", "email", "email")
        for para in re.split(r"\n\s*\n", email_body(path.read_bytes())):
            para = re.sub(r"\s+", " ", para).strip()
            letters = sum(c.isalpha() or c == " " for c in para)
            if len(para) < 20 or letters < 0.85 * len(para) or "http" in para or "@" in para:
                continue
            doc.sentences += split_sentences(para)
        if doc.sentences:
            docs.append(doc)
    return docs


def read_blocklist(path) -> set[str]:
    """badwords-list's lib/array.js: `module.exports = [...]`, a JSON list once the wrapper is gone."""
    text = "\n".join(line for _, line in text_lines(path))
    m = re.search(r"=\s*(\[.*\])\s*;?\s*$", text, re.S)
    if not m:
        fail_at(path, 1, "expected `module.exports = [ ... ]`")
    try:
        words = json.loads(m[1])
    except json.JSONDecodeError as e:
        fail_at(path, text.count("\n", 0, m.start(1)) + e.lineno, f"the list is not valid JSON ({e.msg})")
    if not all(isinstance(w, str) for w in words):
        fail_at(path, 1, f"the list must hold strings only, got {next(w for w in words if not isinstance(w, str))!r}")
    return {w.lower() for w in words}


def passages(doc: Document, max_words: int = 80) -> list[tuple[str, list[str]]]:
    """Consecutive sentences grouped into passages of 2-5 (a size drawn from the document id),
    fewer when max_words is reached; one sentence longer than max_words is a passage alone."""
    out, i, n = [], 0, 0
    while i < len(doc.sentences):
        size = 2 + int(hashlib.sha256(f"{doc.id}#{n}".encode()).hexdigest(), 16) % 4
        group, words = [], 0
        while i < len(doc.sentences) and len(group) < size:
            count = len(split_words(doc.sentences[i]))
            if group and words + count > max_words:
                break
            group.append(doc.sentences[i])
            words += count
            i += 1
        out.append((f"{doc.id}#{n}", group))
        n += 1
    return out
