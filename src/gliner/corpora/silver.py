"""spaCy-shaped pipelines as silver labellers: their character spans mapped onto the reference's
words, and spaCy's entities as a baseline on an evaluation set's own words."""

from __future__ import annotations

from collections import Counter

from ..data import load_label_map
from ..params import SPACY_MODEL
from ..processing import split_words



def silver_sentences(nlp, docs, tag_map, counts: Counter, min_words, max_words, batch_size):
    """Yield (doc id, source, example) sentence by sentence; spaCy's character spans are mapped
    onto the reference splitter's words, and entities that do not start and end on word
    boundaries (or cross a sentence boundary) are dropped and counted."""
    stream = ((para, (doc_id, source)) for doc_id, source, paras in docs for para in paras)
    for doc, (doc_id, source) in nlp.pipe(stream, as_tuples=True, batch_size=batch_size):
        ents = list(doc.ents)
        for sent in doc.sents:
            text = sent.text
            words = split_words(text)
            if not min_words <= len(words) <= max_words:
                counts["sentences dropped: length"] += 1
                continue
            starts = {s: i for i, (_, s, _) in enumerate(words)}
            ends = {e: i for i, (_, _, e) in enumerate(words)}
            spans = []
            for ent in ents:
                if not sent.start_char <= ent.start_char < sent.end_char:
                    continue
                label = tag_map[ent.label_]
                s, e = ent.start_char - sent.start_char, ent.end_char - sent.start_char
                if e > len(text):
                    counts[f"entities dropped: cross sentence: {label}"] += 1
                elif s not in starts or e not in ends:
                    counts[f"entities dropped: word boundary: {label}"] += 1
                else:
                    spans.append([starts[s], ends[e], label])
            yield doc_id, source, {"tokenized_text": [w for w, _, _ in words], "ner": spans, "text": text,
                                   "offsets": [[s, e] for _, s, e in words]}


def spacy_predictions(examples: list[dict], spacy_model: str = SPACY_MODEL, label_map: str = "ontonotes_to_wnut16",
                      batch_size: int = 64) -> list[set[tuple[int, int, str]]]:
    """The silver labeller as a baseline: spaCy's entities on each example's own words (a spaCy
    Doc built from `tokenized_text`, so spans align exactly), its types mapped by `label_map`."""
    import spacy
    from spacy.tokens import Doc

    mapping = load_label_map(label_map)["tags"]
    nlp = spacy.load(spacy_model)
    docs = (Doc(nlp.vocab, words=ex["tokenized_text"]) for ex in examples)
    return [{(ent.start, ent.end - 1, mapping[ent.label_]) for ent in doc.ents if ent.label_ in mapping}
            for doc in nlp.pipe(docs, batch_size=batch_size)]
