"""The knowledge bases that name the entities: WordNet 3.1 (instance names with their class and
anchors, monosemous concept nouns), ISO 3166 (countries, subdivisions with their own types), the
stock-index companies of pytickersymbols and the basketball teams of nba_api."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..data import fail_at, text_lines


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
            fail_at(path, number, "not a WordNet data-file line (offset lex_filenum ss_type w_cnt word lex_id ...)")
    common = set()
    for pos in ("noun", "verb", "adj", "adv"):
        path = wordnet_dir / f"data.{pos}"
        for number, line in text_lines(path):
            if not line.startswith("  "):
                f = line.split(" | ")[0].split()
                try:
                    lemmas = [re.sub(r"\(\w+\)$", "", f[4 + 2 * i]) for i in range(int(f[3], 16))]  # adjectives carry (a)
                except (IndexError, ValueError):
                    fail_at(path, number, "not a WordNet data-file line (offset lex_filenum ss_type w_cnt word lex_id ...)")
                common.update(lemma.replace("_", " ") for lemma in lemmas if lemma.islower())
    return synsets, common


def lemma_name(lemma: str) -> str:
    return lemma.replace("_", " ")


def type_name(lemma: str) -> str:
    return lemma_name(lemma).lower()


def _class_names(synset: Synset) -> list[str]:
    """A class's type names: its first lemma and, if plain lower-case words, its second (writer,
    author): synonyms are right by definition and give a user's other wordings."""
    names = [type_name(synset.lemmas[0])]
    if len(synset.lemmas) > 1 and re.fullmatch(r"[a-z]+(?:[ -][a-z]+){0,2}", lemma_name(synset.lemmas[1])):
        names.append(lemma_name(synset.lemmas[1]))
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
    source: str  # 'wordnet-instance', 'wordnet-concept', 'iso-3166', 'companies' or 'sports-teams'


def plurals(word: str) -> list[str]:
    if re.search(r"(s|x|z|ch|sh)$", word):
        return [word + "es"]
    if re.search(r"[^aeiou]y$", word):
        return [word[:-1] + "ies"]
    return [word + "s"]


def wordnet_entries(synsets, common: set[str], other_pos: set[str], anchors: dict,
                    familiar: set[str] | None = None) -> dict[str, Entry]:
    """Names (instances) and concept nouns from WordNet, with their types, finest first.

    An instance name (Mozart) gets its class (composer; see `_class_names`; not one of the anchors'
    `vague_classes`), the class's nearest familiar hypernym below the anchors, and the nearest and
    farthest anchors on its chain (musician, person); a name that is the lemma of several synsets, or
    of a non-instance synset, is left out. A concept noun is a lower-case lemma of exactly one synset of
    any part of speech with a concept anchor on its chain; it gets its nearest familiar hypernym's
    names, the next familiar one below the anchors and the anchors (salicylate, salicylic acid, drug),
    and so do its regular plurals when they are not words of their own. Familiar names are the ones
    the corpora use (`familiar`: a wrist is a 'joint', not a 'gliding joint'); None takes every name.
    """
    inst_anchors, concept_anchors = anchors["instance_anchors"], anchors["concept_anchors"]
    vague = set(anchors.get("vague_classes", ()))
    senses = defaultdict(list)
    for offset, s in synsets.items():
        for lemma in s.lemmas:
            senses[lemma_name(lemma)].append(offset)
    lower_senses = Counter()
    for name, offsets in senses.items():
        lower_senses[name.lower()] += len(offsets)

    def known(o: str) -> bool:
        return familiar is None or type_name(synsets[o].lemmas[0]) in familiar

    def middle(chain: list[str], fine: int, anchors_here: dict) -> list[str]:
        """The first familiar hypernym between the fine type and the nearest anchor, unless it is vague
        (the ones above a vague one are vaguer still)."""
        stop = next((i for i, o in enumerate(chain) if o in anchors_here), len(chain))
        names = [type_name(synsets[o].lemmas[0]) for o in chain[fine + 1:stop] if known(o)][:1]
        return [n for n in names if n not in vague]

    entries = {}
    for name, offsets in senses.items():
        if len(offsets) != 1:
            continue
        singular = [name[:-1], name[:-2], name[:-3] + "y"] if name.endswith("s") else []
        if any(senses.get(w, offsets) != offsets for w in singular):
            continue  # the plant 'clocks' is mostly the plural of 'clock' 
        s, chain = synsets[offsets[0]], _chain(synsets, offsets[0])
        if s.instance_of:  # chain[0] is the class
            found = [inst_anchors[o] for o in chain if o in inst_anchors]
            types = ([t for t in _class_names(synsets[chain[0]]) if t not in vague] + middle(chain, 0, inst_anchors)
                     + found[:1] + found[-1:])
            if types:
                entries[name] = Entry(tuple(dict.fromkeys(types)), "wordnet-instance")
        else:
            found = [concept_anchors[o] for o in chain if o in concept_anchors]
            if (not found or lower_senses[name.lower()] != 1 or name.lower() in other_pos or not s.hypernyms
                    or len(name) < 4 or not name.islower()):  # capitalised: 'Mary Jane', 'Hall of Fame' 
                continue
            fine = next((i for i, o in enumerate(chain) if known(o) or o in concept_anchors), 0)
            types = _class_names(synsets[chain[fine]]) + middle(chain, fine, concept_anchors) + found[:1] + found[-1:]
            entry = Entry(tuple(dict.fromkeys(types)), "wordnet-concept")
            entries[name] = entry
            if name.islower() and len(name) >= 5:  # plurals of short words are too often other words
                for plural in plurals(name):
                    if plural not in common and plural not in lower_senses:
                        entries.setdefault(plural, entry)
    return entries


def other_pos_lemmas(wordnet_dir) -> set[str]:
    """Lemmas (lower case) of verbs, adjectives and adverbs: a noun that is also one is not monosemous."""
    out = set()
    for pos in ("verb", "adj", "adv"):
        for _, line in text_lines(Path(wordnet_dir) / f"index.{pos}"):
            if not line.startswith("  "):
                out.add(lemma_name(line.split(" ", 1)[0]))
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
            fail_at(path, 1, f"not an iso-codes {key} database ({type(e).__name__}: {e})")
        if not isinstance(rows, list):
            fail_at(path, 1, f"not an iso-codes {key} database ({key} is a {type(rows).__name__}, not a list)")
        for n, row in enumerate(rows):
            if (not isinstance(row, dict) or not isinstance(row.get("name"), str)
                    or (key == "3166-2" and not isinstance(row.get("type"), str))):
                fail_at(path, 1, f"entry {n} of {key} lacks 'name'{' or type' if key == '3166-2' else ''}: {row!r}")
            if key == "3166-1":
                names, types = {row.get("common_name", row["name"]), row["name"]}, ("country", "location")
            else:
                names, types = {row["name"]}, (row["type"].lower(), "location")
            for name in names:
                if "," not in name and "(" not in name and len(name) > 2:
                    entries.setdefault(name, Entry(types, "iso-3166"))
    return entries


def python_literal(path, name: str):
    """The value of a package data module's top-level `name = <literal>`, read without running the module."""
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
                return ast.literal_eval(node.value)
    except (SyntaxError, ValueError, UnicodeDecodeError) as e:
        fail_at(path, getattr(e, "lineno", None) or 1, f"not a Python data module ({type(e).__name__}: {e})")
    fail_at(path, 1, f"has no top-level `{name} = ...`")


# a company's legal form, dropped for the name people write ('Danaher Corporation' -> 'Danaher')
LEGAL_FORM = re.compile(r",?\s+(?:Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.(?:,? Ltd\.?)?|Ltd\.?|Limited|"
                        r"plc|PLC|AG|SE|SA|S\.A\.|N\.V\.|NV|Holdings?|Group|Co)$")


def company_entries(companies_dir) -> dict[str, Entry]:
    """The companies of 20 stock indices (S&P 500, DAX, Nikkei 225, ...), under their listed name and
    without its legal form; one-word and ambiguous names meet the caller's filters."""
    path = Path(companies_dir) / "indices_data.py"
    indices = python_literal(path, "INDICES")
    if not isinstance(indices, dict):
        fail_at(path, 1, f"INDICES must be a dict of indices, got {type(indices).__name__}")
    entries = {}
    for index, value in indices.items():
        companies = value.get("companies") if isinstance(value, dict) else None
        if not isinstance(companies, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                                     for c in companies):
            fail_at(path, 1, f"index {index!r} lacks a list of companies with a 'name'")
        for company in companies:
            listed = company["name"].strip()
            for name in (listed.replace(",", ""), LEGAL_FORM.sub("", listed)):
                if len(name) > 2 and "(" not in name:
                    entries.setdefault(name, Entry(("company", "organization"), "companies"))
    return entries


def team_entries(nba_dir) -> dict[str, Entry]:
    """NBA and WNBA teams by full name ('Boston Celtics') and nickname ('Celtics'); the nickname meets
    the caller's filters (Heat, Magic and Jazz are words)."""
    path = Path(nba_dir) / "data.py"
    entries = {}
    for league in ("teams", "wnba_teams"):
        rows = python_literal(path, league)
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) > 5 and isinstance(r[2], str)
                                                 and isinstance(r[5], str) for r in rows):
            fail_at(path, 1, f"{league} must be a list of [id, abbreviation, nickname, founded, city, full name, ...]")
        for row in rows:
            for name in (row[5], row[2]):
                entries.setdefault(name, Entry(("basketball team", "sports team", "organization"), "sports-teams"))
    return entries
