"""The offline multilingual sets: each reader on a small input in its real on-disk format, the
package unpacking, and the silver labelling with a stand-in pipeline (no network, no models)."""

import gzip
import io
import json
import struct
import tarfile
import zipfile
import zlib
from collections import Counter
from types import SimpleNamespace

import pytest

from gliner.corpora import multilingual as ml
from gliner.data import validate_example

HIRONSAN = (
    "2005\tZDIGIT\t名詞\t数\t*\t*\t*\t*\t*\tB-DAT\n"
    "年\tOTHER\t名詞\t接尾\t助数詞\t*\t*\t*\t年\tネン\tネン\tI-DAT\n"
    "、\tOTHER\t記号\t読点\t*\t*\t*\t*\t、\t、\t、\tO\n"
    "ジョン\tKATAK\t名詞\t固有名詞\t人名\t*\t*\t*\tジョン\tジョン\tジョン\tB-PSN\n"
    "\u3000\tZSPACE\t記号\t空白\t*\t*\t*\t*\t\u3000\t\u3000\t\u3000\tI-PSN\n"
    "万次郎\tOTHER\t名詞\t固有名詞\t人名\t*\t*\t*\t万次郎\tマンジロウ\tマンジロー\tI-PSN\n"
    "が\tHIRAG\t助詞\t格助詞\t一般\t*\t*\t*\tが\tガ\tガ\tO\n"
    "土佐\tOTHER\t名詞\t固有名詞\t地域\t*\t*\t*\t土佐\tトサ\tトサ\tI-LOC\n"
    "\n"
    "ユネスコ\tKATAK\t名詞\t固有名詞\t組織\t*\t*\t*\tユネスコ\tユネスコ\tユネスコ\tB-ORG\n"
    "\n"
)


def test_read_hironsan(tmp_path):
    path = tmp_path / "iob_sents.txt"
    path.write_text(HIRONSAN, encoding="utf-8")
    first, second = ml.read_hironsan(path)
    assert first["tokenized_text"] == ["2005", "年", "、", "ジョン", "万次郎", "が", "土佐"]  # U+3000 dropped
    assert first["ner"] == [[0, 1, "date"], [3, 4, "person"], [6, 6, "location"]]  # I- after O starts one
    assert second["ner"] == [[0, 0, "organization"]]
    assert (first["lang"], first["silver"], first["split"]) == ("ja", False, "test")
    assert first["labels"] == ["person", "location", "organization", "artifact", "date", "time", "money", "percentage"]


def test_read_hironsan_names_the_bad_line(tmp_path):
    path = tmp_path / "iob_sents.txt"
    path.write_text("年\tB-DAT\nno-tab-here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{path}:2: columns"):
        ml.read_hironsan(path)


def write_ztext(directory, testaments):
    """A SWORD zText module: one zlib block per testament, verses indexed into it."""
    for name, verses in testaments.items():
        block = "".join(verses).encode("utf-8")
        packed = zlib.compress(block)
        (directory / f"{name}.bzz").write_bytes(packed)
        (directory / f"{name}.bzs").write_bytes(struct.pack("<III", 0, len(packed), len(block)))
        index, offset = b"", 0
        for verse in verses:
            size = len(verse.encode("utf-8"))
            index += struct.pack("<IIH", 0, offset, size)
            offset += size
        (directory / f"{name}.bzv").write_bytes(index)


def test_sword_verses(tmp_path):
    write_ztext(tmp_path, {
        "ot": ['<div type="book"/>', "", '<w lemma="strong:H7225">En el principio</w> crió Dios  los cielos.'],
        "nt": ['<w lemma="strong:G976">Libro</w> de la generación de Jesucristo.']})
    assert ml.sword_verses(tmp_path) == [("ot:2", "En el principio crió Dios los cielos."),
                                         ("nt:0", "Libro de la generación de Jesucristo.")]


def test_fortunes(tmp_path):
    (tmp_path / "knowledge").write_text("Знание - сила.\n\t\t-- Ф.Бэкон\n%\nНаука - это\nкладбище гипотез.\n%\n",
                                        encoding="utf-8")
    (tmp_path / "knowledge.dat").write_bytes(b"\x00\x01")
    assert ml.fortunes(tmp_path) == [("knowledge#0", "Знание - сила."), ("knowledge#1", "Наука - это кладбище гипотез.")]


def test_roff_paragraphs():
    page = "\n".join([
        '.TH LS 1 "Septembre 2022"', ".SH NOM", r"ls \- lister le contenu des répertoires", ".SH SYNOPSIS",
        r"\fBls\fP [\fI\,OPTION\/\fP]... [\fIFICHIER\fP]...", ".SH DESCRIPTION",
        r"Écrit par Richard\ Stallman pour la \(Fo Free Software Foundation \(Fc\ ;",
        "avec l'aide de David MacKenzie.", ".nf", "ls -l /etc/passwd > liste.txt", ".fi",
        ".PP", "Trois mots seulement"])
    assert ml.roff_paragraphs(page) == [
        "ls - lister le contenu des répertoires",
        "Écrit par Richard Stallman pour la « Free Software Foundation » ; avec l'aide de David MacKenzie."]


def tar_xz(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def deb(files):
    """A .deb: an ar archive holding debian-binary, control.tar.xz and data.tar.xz."""
    out = b"!<arch>\n"
    for name, body in [("debian-binary", b"2.0\n"), ("control.tar.xz", tar_xz({})), ("data.tar.xz", tar_xz(files))]:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode() + body + b"\n" * (len(body) & 1)
    return out


def test_package_files_and_members():
    files = ml.package_files(deb({"./usr/share/x/a.txt": b"a", "./usr/share/x/sub/b.txt": b"b", "./other": b"o"}),
                             "x_1_all.deb")
    assert ml.extract_members(files, {"./usr/share/x/": "raw/", "./other": "raw/other"}, "x.deb") == {
        "raw/a.txt": b"a", "raw/sub/b.txt": b"b", "raw/other": b"o"}
    with pytest.raises(ValueError, match=r"x\.deb: no member './missing'"):
        ml.extract_members(files, {"./missing": "raw/m"}, "x.deb")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pkg/data/m.tar", b"model")
    assert ml.package_files(buf.getvalue(), "pkg-1-py3-none-any.whl") == {"pkg/data/m.tar": b"model"}
    with pytest.raises(ValueError, match="y.deb: not a Debian package"):
        ml.package_files(b"PK\x03\x04", "y.deb")


def test_build_raw_atomic(tmp_path, monkeypatch):
    package = {"client": "apt", "spec": "fortunes-xx=1", "file": "fortunes-xx_1_all.deb", "sha256": "-",
               "members": {"./usr/share/games/fortunes/xx/": "xx-fortunes/"}}
    monkeypatch.setattr(ml, "pins", lambda: {"packages": {"xx": package}, "licenses": {"xx": "test"}})
    body = deb({"./usr/share/games/fortunes/xx/f": "Bonjour.\n%\n".encode()})
    raw = ml.build_raw(tmp_path / "raw", fetch=lambda pkg, dest: body)
    assert (raw / "xx-fortunes" / "f").read_text() == "Bonjour.\n%\n"
    assert list(json.loads((raw / "SOURCES.json").read_text())["files"]) == ["xx-fortunes/f"]

    def broken(pkg, dest):
        raise ValueError("fortunes-xx_1_all.deb has sha256 ..., pinned ...: refusing to use it")

    with pytest.raises(ValueError, match="refusing"):
        ml.build_raw(tmp_path / "raw2", fetch=broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # no half-built tree


class FakeNLP:
    """A spaCy-shaped stand-in: every capitalised word not first in its sentence is an entity;
    'Paris' is LOC, 'Unesco' ORG, 'Noël' MISC, others PER. Sentences end at '. '."""

    def get_pipe(self, name):
        return SimpleNamespace(labels=("PER", "LOC", "ORG", "MISC"))

    def pipe(self, stream, as_tuples=True, batch_size=1):
        for text, context in stream:
            sents, ents, start = [], [], 0
            for part in text.split(". "):
                sents.append(SimpleNamespace(text=part, start_char=start, end_char=start + len(part)))
                offset = start
                for i, word in enumerate(part.split(" ")):
                    if i and word[:1].isupper():
                        label = {"Paris": "LOC", "Unesco": "ORG", "Noël": "MISC"}.get(word.strip("."), "PER")
                        ents.append(SimpleNamespace(start_char=offset, end_char=offset + len(word.strip(".")), label_=label))
                    offset += len(word) + 1
                start += len(part) + 2
            yield SimpleNamespace(sents=sents, ents=ents), context


def test_silver_set():
    texts = [("doc1", "Hier Marie est allée à Paris pour Noël. Elle a vu Unesco et Pierre aussi"),
             ("doc2", "Une phrase sans aucune entité dedans"), ("doc3", "Court")]
    counts = Counter()
    rows = ml.silver_set(FakeNLP(), texts, "fr", "test-src", max_sentences=10, min_words=3, max_words=20,
                         batch_size=2, counts=counts)
    assert len(rows) == 3 and counts["sentences dropped: length"] == 1
    assert counts["entities dropped: MISC (dropped)"] == 1
    by_text = {r["text"]: r for r in rows}
    first = by_text["Hier Marie est allée à Paris pour Noël"]
    assert first["ner"] == [[1, 1, "person"], [5, 5, "location"]]  # MISC (Noël) dropped
    assert by_text["Elle a vu Unesco et Pierre aussi"]["ner"] == [[3, 3, "organization"], [5, 5, "person"]]
    for row in rows:
        validate_example(row)
        assert (row["lang"], row["source"], row["silver"], row["labels"]) == (
            "fr", "test-src", True, ["person", "location", "organization"])
    again = ml.silver_set(FakeNLP(), list(reversed(texts)), "fr", "test-src", max_sentences=2, min_words=3,
                          max_words=20, batch_size=2, counts=Counter())
    assert [r["text"] for r in again] == [r["text"] for r in rows[:2]]  # fixed order, capped


def test_prepare_checks_params_first(tmp_path):
    with pytest.raises(ValueError, match="multilingual.max_sentence: unknown parameter"):
        ml.prepare(tmp_path, tmp_path / "out", max_sentence=5)
    with pytest.raises(ValueError, match="multilingual.max_sentences: must be a positive integer"):
        ml.prepare(tmp_path, tmp_path / "out", max_sentences=0)
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}: no SOURCES.json"):
        ml.prepare(tmp_path, tmp_path / "out")
    (tmp_path / "SOURCES.json").write_text("{}")
    with pytest.raises(ValueError, match="multilingual.languages: 'xx'"):
        ml.prepare(tmp_path, tmp_path / "out", languages=("xx",))


def test_prepare_writes_the_same_bytes_however_long_it_takes(tmp_path, monkeypatch):
    """The multilingual stage depends on manifest.json: a build time in it would stale the stage on every re-run."""
    raw = tmp_path / "raw"
    (raw / "ja-hironsan").mkdir(parents=True)
    (raw / "SOURCES.json").write_text("{}")
    (raw / "ja-hironsan" / "iob_sents.txt").write_text(HIRONSAN, encoding="utf-8")
    clock = (t * t for t in range(1000))
    monkeypatch.setattr(ml.time, "perf_counter", lambda: float(next(clock)))  # each run takes longer
    outs = [ml.prepare(raw, tmp_path / f"out{i}", languages=("ja",)) for i in range(2)]
    for name in ("ja_gold", "stats", "manifest"):
        assert open(outs[0][name], "rb").read() == open(outs[1][name], "rb").read()
    assert json.loads(open(outs[0]["manifest"]).read())["languages"]["ja"]["file"] == "ja_gold.jsonl"
