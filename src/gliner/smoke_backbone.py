"""A small, randomly initialised DeBERTa-v2 encoder with a SentencePiece tokenizer trained here.

The paper's backbones (microsoft/deberta-v3-*) cannot be downloaded offline, but the path they take
can be run: this writes a directory laid out as those hub repos are (config.json, the weights,
spm.model, tokenizer_config.json), so the `paper-smoke` profile loads it through the same
`AutoTokenizer` (SentencePiece) and `AutoModel` (DeBERTa-v2) code a GPU user's deberta-v3-large takes.

    python -m gliner.smoke_backbone OUT_DIR --text tests/fixtures/paper_smoke/pile-ner.json
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from .atomic import atomic_dir


def sentences(path) -> list[str]:
    """Training text for the tokenizer: span rows' words (a JSON list or JSONL), or plain lines."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        return [line for line in text.splitlines() if line.strip()]
    return [" ".join(row["tokenized_text"]) if isinstance(row, dict) and "tokenized_text" in row else str(row) for row in rows]


def build(out_dir, text_file, vocab_size: int = 800, hidden_size: int = 64, layers: int = 2, heads: int = 2,
          seed: int = 0) -> Path:
    """Train the SentencePiece model (DeBERTa-v3's special pieces and ids) and write tokenizer + encoder."""
    import sentencepiece
    import torch
    from transformers import AutoTokenizer, DebertaV2Config, DebertaV2Model

    lines = sentences(text_file)
    with atomic_dir(out_dir, replace=True) as out:
        spm = io.BytesIO()  # not a file: the model would record its path, and differ from build to build
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=spm, vocab_size=vocab_size, model_type="unigram",
            pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]",
            unk_piece="[UNK]", user_defined_symbols=["[MASK]"], hard_vocab_limit=False, minloglevel=2,
            num_threads=1)
        (out / "spm.model").write_bytes(spm.getvalue())
        (out / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": False,
                                                               "vocab_type": "spm", "model_max_length": 512}, indent=1) + "\n")
        tokenizer = AutoTokenizer.from_pretrained(out)  # through the SentencePiece conversion a deberta-v3 repo takes
        config = DebertaV2Config(  # deberta-v3's architecture flags, at toy size
            vocab_size=len(tokenizer),
            hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=4 * hidden_size,
            max_position_embeddings=512, relative_attention=True, position_buckets=256, norm_rel_ebd="layer_norm",
            share_att_key=True, pos_att_type=["p2c", "c2p"], position_biased_input=False, max_relative_positions=-1,
            type_vocab_size=0, layer_norm_eps=1e-7)
        torch.manual_seed(seed)
        DebertaV2Model(config).save_pretrained(out)
    return Path(out_dir)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gliner.smoke_backbone", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--text", required=True, help="span rows (JSON list or JSONL) or plain text lines")
    parser.add_argument("--vocab-size", type=int, default=800)
    args = parser.parse_args(argv)
    print(build(args.out_dir, args.text, args.vocab_size))


if __name__ == "__main__":
    main()
