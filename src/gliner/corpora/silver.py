"""spaCy-shaped pipelines as silver labellers: their character spans mapped onto the reference's
words, and spaCy's entities as a baseline on an evaluation set's own words."""

from __future__ import annotations

from collections import Counter

from ..data import MAX_WIDTH, load_label_map
from ..params import SPACY_MODEL
from ..processing import split_words
from .distant import TITLES



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


def spacy_entities(nlp, examples: list[dict], tag_map: dict, batch_size: int = 64, n_process: int = 1) -> list[list[list]]:
    """spaCy's entities on each example's own words (a Doc built from `tokenized_text`, so spans align
    exactly) as [start, end, type], its OntoNotes labels mapped by `tag_map` (others dropped)."""
    from spacy.tokens import Doc

    docs = (Doc(nlp.vocab, words=ex["tokenized_text"]) for ex in examples)
    with nlp.select_pipes(enable=[p for p in ("tok2vec", "ner") if p in nlp.pipe_names]):
        return [[[ent.start, ent.end - 1, tag_map[ent.label_]] for ent in doc.ents if ent.label_ in tag_map]
                for doc in nlp.pipe(docs, batch_size=batch_size, n_process=n_process)]


SENTENCE_END = {".", "!", "?", ":", ";", '"', "“", "”", "(", ")", "-", "--", "'", "’"}  # what may end a sentence before a name


def named_person(words: list[str], first_names: set[str], before: list[str] = (), after: list[str] = ()) -> bool:
    """A person's whole name as written: one to four capitalised words (initials allowed, but not last),
    the first a known first name (Danny Thomas, Miriam). What spaCy alone calls a person on diverse text
    is often not one (Solaris, CURRENT2, don), or a piece of a name, which the words around the span give
    away (`before`, `after`: up to two each): a capitalised word or an initial before it inside a sentence
    (Baby Face [Nelson], John F. [Kennedy], O'[Donnell], St. [Paul]; a title such as Mr. is fine), a
    capitalised word after it ([Mae] West), a first name after a comma ([Hunt], Bryan), or a contraction
    (Don ' t)."""
    if not (1 <= len(words) <= 4 and words[0] in first_names and (len(words) == 1 or len(words[-1]) > 1)
            and all(w[:1].isupper() and w.isalpha() and (len(w) == 1 or not w.isupper()) for w in words)):
        return False
    before, after = list(before[-2:]), list(after[:2])
    capital = lambda w: w[:1].isupper() and w.isalpha()  # noqa: E731
    if before:
        word, previous = before[-1], (before[-2] if len(before) > 1 else None)
        if capital(word) and word not in TITLES and previous is not None and previous not in SENTENCE_END:
            return False  # Baby Face [Nelson]
        if (capital(word) and len(word) == 1) or (word in (".", "'", "’") and previous is not None and capital(previous)
                                                  and len(previous) <= 2 and previous not in TITLES):
            return False  # John F. [Kennedy], O'[Donnell], St. [Paul]
    if after and (after in (["'", "t"], ["’", "t"]) or (capital(after[0]) and len(after[0]) > 1 and after[0] != "I")
                  or (after[0] == "," and len(after) > 1 and after[1] in first_names)):
        return False  # Don ' t, [Mae] West, [Hunt], Bryan
    return True


def spacy_on_passage(example: dict, found: list[list], first_names: set[str], max_width: int = MAX_WIDTH,
                     add_persons: bool = True, typed: bool = False) -> tuple[list[list], list[list]]:
    """What spaCy adds to a knowledge-base passage: the persons it finds that `named_person` confirms, as
    [start, end, "person"] (with `add_persons`), and every other entity it finds that the knowledge bases left
    unlabelled, as [start, end] to leave out of the loss, or with `typed` as [start, end, its type] to leave
    out for that type only (a negative for every other). Without either, a name the knowledge bases do not
    know is a negative for every type the passage is prompted with (README, "Silent negatives"). A person
    that runs over one of the passage's `sentence_starts` is never added: spaCy reads the passage as one
    text, and an nlp-corpus passage joins unrelated lines (Ellen Plummer | Bharti in talks with ...). A first
    name alone is added only where the passage also names that person in full (Danny Thomas ... Danny): alone,
    it is as often a title (Arthur), a place (Wayne), an animal or a common word (an ordinary Joe)."""
    labelled = {(s, e) for s, e, _ in example["ner"]}
    covered = {i for s, e in labelled for i in range(s, e + 1)}
    starts = set(example.get("sentence_starts", ()))
    words = example["tokenized_text"]
    persons, masked = [], []
    for s, e, label in found:
        if (s, e) in labelled or e - s >= max_width:  # the knowledge base's label stands; wider spans are never scored
            continue
        if (add_persons and label == "person" and not covered & set(range(s, e + 1)) and not starts & set(range(s + 1, e + 1))
                and named_person(words[s:e + 1], first_names, words[max(0, s - 2):s], words[e + 1:e + 3])):
            persons.append([s, e, "person"])
        elif (cell := [s, e, label] if typed else [s, e]) not in masked:
            masked.append(cell)
    named_in_full = {words[s] for s, e, _ in persons if e > s}
    added = [[s, e, t] for s, e, t in persons if e > s or words[s] in named_in_full]
    masked += [[s, e, t] if typed else [s, e] for s, e, t in persons if [s, e, t] not in added]
    return added, masked


SPACY_ON_PASSAGES = {  # prepare.spacy_on_passages: what each mode does (README, "Silent negatives")
    "mask": dict(add_persons=False, typed=False, labelled_only=False),           # every unlabelled entity out of the loss
    "mask_type": dict(add_persons=False, typed=True, labelled_only=False),       # out for spaCy's type only
    "persons": dict(add_persons=True, typed=False, labelled_only=False),         # confirmed persons labelled, the rest masked
    "labelled_persons": dict(add_persons=True, typed=True, labelled_only=True),  # persons where a label is; mask_type's mask
}


def spacy_on_passages(nlp, examples: list[dict], tag_map: dict, first_names: set[str], mode: str,
                      n_process: int = 2) -> list[tuple[list[list], list[list]]]:
    """`spacy_on_passage` for each example, as `mode` (a key of SPACY_ON_PASSAGES) says. spaCy reads only
    the passages where it can change training: those with a label (to mask their other entities) or, where
    the mode adds persons outside labelled passages, a first name (a person to add); the rest stay without
    entities, which training skips (`skip_empty`), and cost spaCy nothing."""
    flags = SPACY_ON_PASSAGES[mode]
    todo = [i for i, ex in enumerate(examples) if ex["ner"] or (
        flags["add_persons"] and not flags["labelled_only"] and not first_names.isdisjoint(ex["tokenized_text"]))]
    found = dict(zip(todo, spacy_entities(nlp, [examples[i] for i in todo], tag_map, 64, n_process)))
    return [spacy_on_passage(ex, found[i], first_names, add_persons=flags["add_persons"], typed=flags["typed"]) if i in found else ([], [])
            for i, ex in enumerate(examples)]


def spacy_predictions(examples: list[dict], spacy_model: str = SPACY_MODEL, label_map: str = "ontonotes_to_wnut16",
                      batch_size: int = 64) -> list[set[tuple[int, int, str]]]:
    """The silver labeller as a baseline: `spacy_entities` on each example, its types mapped by `label_map`."""
    import spacy

    nlp = spacy.load(spacy_model)
    return [{tuple(span) for span in row}
            for row in spacy_entities(nlp, examples, load_label_map(label_map)["tags"], batch_size)]
