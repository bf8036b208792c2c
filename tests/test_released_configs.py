"""Released GLiNER checkpoints: their gliner_config.json, as published, loads here or fails naming the field.

tests/fixtures/released/<name>.json holds the gliner_config.json of a released model (where each value
comes from, and which ones are uncertain: tests/fixtures/released/README.md). Nothing is downloaded:
each test builds, in tmp, a checkpoint of that config with random weights of the right shapes on a
tiny DeBERTa-v2 (hidden 32, 2 layers, 2 heads), in two layouts:

* "self-contained": the released JSON with `encoder_config` replaced by the tiny DeBERTa-v2 config
  (vocab_size = the released vocab_size, so the embedding has the released 128004 / 250105 rows) and
  `hidden_size` scaled with it (768 -> 32; 24 for the large model, whose 1024-wide encoder is projected
  to 768); every other field as released. Weights in model.safetensors, the tokenizer saved next to them.
* "as on the hub" (configs with encoder_config null or absent: v1, v2.1): the released JSON with only
  `hidden_size` scaled, weights in pytorch_model.bin, no tokenizer files. The encoder config and the
  tokenizer come from `model_name` through a Hugging Face hub cache built in tmp
  (models--microsoft--deberta-v3-base/snapshots/...: config.json, spm.model, tokenizer_config.json, the
  files the real backbone repos hold), loaded with cache_dir=..., local_files_only=True.

The tokenizer is a SentencePiece unigram model trained on a few hundred generated sentences and padded
with unused pieces to the real backbone's size (128000 pieces for DeBERTa-v3, 250101 for mDeBERTa-v3;
DebertaV2Tokenizer adds [MASK] after them), so the markers the reference adds, "[FLERT]", <<ENT>>,
<<SEP>>, get the released ids: class_token_index 128002 / 250103 is kept as released, not rewritten.
Reading spm.model is what needs `sentencepiece` and `protobuf` (pyproject.toml dependencies).
"""

import json
import random
import shutil
import socket
from pathlib import Path

import pytest
import torch

from gliner import GLiNER, GLiNERConfig
from gliner.processing import encode

FIXTURES = Path(__file__).parent / "fixtures" / "released"
LOADABLE = ["gliner_base", "gliner_multi", "gliner_small-v2.1", "gliner_medium-v2.1", "gliner_large-v2.1",
            "gliner_multi-v2.1", "gliner_multi_pii-v1"]
UNSUPPORTED = {"nuner_zero": "span_mode", "gliner-bi-small-v1.0": "labels_encoder",
               "gliner-poly-small-v1.0": "post_fusion_schema"}
# the real backbones: SentencePiece pieces, config.json vocab_size (embedding rows), hidden size
BACKBONES = {
    "microsoft/deberta-v3-small": (128000, 128100, 768),
    "microsoft/deberta-v3-base": (128000, 128100, 768),
    "microsoft/deberta-v3-large": (128000, 128100, 1024),
    "microsoft/mdeberta-v3-base": (250101, 251000, 768),
}
TINY = 32
REVISION = "0123456789abcdef0123456789abcdef01234567"
TEXT = "Angela Merkel met Emmanuel Macron in Paris on Tuesday, then Google hired Barack Obama in Berlin."
LABELS = ["person", "location", "organization", "date"]


def released(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_every_fixture_is_tested():
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(LOADABLE + list(UNSUPPORTED))


# ------------------------------------------------------------------------------ building blocks
def _spm_model(pieces: int) -> bytes:
    """A DeBERTa-v3-like SentencePiece model ([PAD] 0, [CLS] 1, [SEP] 2, [UNK] 3) with `pieces` pieces."""
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    rng = random.Random(0)
    words = ("the a of in on at and to then from with met hired visited flew company river city person location "
             "organization date Angela Merkel Emmanuel Macron Barack Obama Paris Berlin France Google Apple London "
             "Tokyo Tuesday May 2020 , .").split()
    sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 15))) for _ in range(400)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=150, hard_vocab_limit=False,
        model_type="unigram", character_coverage=1.0, pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]",
        bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]", num_threads=1, minloglevel=2)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    for i in range(pieces - len(proto.pieces)):  # unused pieces up to the real size, never chosen
        piece = proto.pieces.add()
        piece.piece, piece.score, piece.type = f"\u2581\u01c2{i:06d}", -1000.0, 1
    return proto.SerializeToString()


def _tiny_deberta(vocab_size: int):
    from transformers import DebertaV2Config

    # DeBERTa-v3's own settings (microsoft/deberta-v3-base config.json), at tiny sizes
    return DebertaV2Config(vocab_size=vocab_size, hidden_size=TINY, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=2 * TINY, pooler_hidden_size=TINY, max_position_embeddings=512,
                           relative_attention=True, position_buckets=256, norm_rel_ebd="layer_norm",
                           share_att_key=True, pos_att_type=["p2c", "c2p"], position_biased_input=False,
                           type_vocab_size=0, layer_norm_eps=1e-7, max_relative_positions=-1, hidden_act="gelu")


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    """A Hugging Face hub cache holding tiny stand-ins of the four backbones (no weights: none are read)."""
    pytest.importorskip("sentencepiece", reason="make setup installs sentencepiece (DeBERTa-v3 tokenizers)")
    cache = tmp_path_factory.mktemp("hub")
    spm_files = {}
    for model_name, (pieces, vocab_size, _) in BACKBONES.items():
        repo = cache / f"models--{model_name.replace('/', '--')}"
        snapshot = repo / "snapshots" / REVISION
        snapshot.mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(REVISION)
        if pieces not in spm_files:
            spm_files[pieces] = _spm_model(pieces)
        (snapshot / "spm.model").write_bytes(spm_files[pieces])
        (snapshot / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "vocab_type": "spm"}))
        _tiny_deberta(vocab_size).save_pretrained(snapshot)
    return cache


def _hub_tokenizer(model_name: str, cache: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_name, cache_dir=cache, local_files_only=True)


def _tiny_hidden(values: dict) -> int:
    """The released hidden_size scaled as the encoder is (768 on a 768-wide encoder -> 32; on 1024 -> 24)."""
    return TINY * values["hidden_size"] // BACKBONES[values["model_name"]][2]


def _tiny_encoder_config(values: dict, vocab_size: int) -> dict:
    if isinstance(values.get("encoder_config"), dict):  # as released, only the sizes shrunk
        encoder = dict(values["encoder_config"])
        encoder.update(hidden_size=TINY, num_hidden_layers=2, num_attention_heads=2, intermediate_size=2 * TINY,
                       pooler_hidden_size=TINY, vocab_size=vocab_size)
        return encoder
    encoder = _tiny_deberta(vocab_size).to_dict()
    encoder.pop("_name_or_path", None)
    return encoder


@pytest.fixture(scope="module")
def checkpoints(hub_cache, tmp_path_factory):
    """name -> (self-contained checkpoint dir, hub-layout checkpoint dir or None), built on first use."""
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModel

    built, tokenizers = {}, {}

    def tokenizer_for(values: dict):
        """The backbone's tokenizer with the markers the reference adds (and saves), in its order; its
        files saved once per backbone (reading the 128k/250k-piece tokenizer.json is the slow part)."""
        markers = ["[FLERT]", values.get("ent_token", "<<ENT>>"), values.get("sep_token", "<<SEP>>")]
        key = (BACKBONES[values["model_name"]][0], *markers)
        if key not in tokenizers:
            tokenizer = _hub_tokenizer(values["model_name"], hub_cache)
            tokenizer.add_tokens(markers, special_tokens=True)
            files = tmp_path_factory.mktemp("tokenizer")
            tokenizer.save_pretrained(files)
            tokenizers[key] = tokenizer, sorted(files.iterdir())
        return tokenizers[key]

    def build(name: str):
        if name in built:
            return built[name]
        values = released(name)
        tokenizer, tokenizer_files = tokenizer_for(values)
        vocab_size = values.get("vocab_size", -1)
        vocab_size = len(tokenizer) if vocab_size == -1 else vocab_size  # v1: the reference resizes to the tokenizer
        tiny = {**values, "hidden_size": _tiny_hidden(values), "encoder_config": _tiny_encoder_config(values, vocab_size)}
        encoder_values = dict(tiny["encoder_config"])
        torch.manual_seed(0)
        encoder = AutoModel.from_config(AutoConfig.for_model(encoder_values.pop("model_type"), **encoder_values))
        model = GLiNER(GLiNERConfig.from_dict(tiny), tokenizer, encoder)
        with torch.no_grad():  # spread the scores so thresholds matter
            model.model.prompt_rep_layer[3].weight.mul_(20.0)
        state = {k: v.contiguous() for k, v in model.model.state_dict().items()}

        self_contained = tmp_path_factory.mktemp(f"{name}-tiny")
        (self_contained / "gliner_config.json").write_text(json.dumps(tiny, indent=2))
        save_file(state, self_contained / "model.safetensors", metadata={"format": "pt"})
        for file in tokenizer_files:
            shutil.copy(file, self_contained)

        hub_layout = None
        if values.get("encoder_config") is None:
            hub_layout = tmp_path_factory.mktemp(f"{name}-hub")
            (hub_layout / "gliner_config.json").write_text(
                json.dumps({**values, "hidden_size": _tiny_hidden(values)}, indent=2))
            torch.save(state, hub_layout / "pytorch_model.bin")
        built[name] = self_contained, hub_layout
        return built[name]

    return build


@pytest.fixture(scope="module")
def loaded(checkpoints):
    """name -> GLiNER.from_pretrained(self-contained checkpoint), loaded once (tests only read it)."""
    models = {}

    def load(name: str) -> GLiNER:
        if name not in models:
            models[name] = GLiNER.from_pretrained(checkpoints(name)[0])
        return models[name]

    return load


def _scores(model) -> torch.Tensor:
    words = TEXT.replace(",", " ,").replace(".", " .").split()
    inputs = encode(model.tokenizer, [words], [LABELS], model.config.ent_token, model.config.sep_token)
    with torch.no_grad():
        return model(**inputs)[0]


# ------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("name", LOADABLE)
def test_released_config_parses_and_round_trips(name, tmp_path):
    values = released(name)
    config = GLiNERConfig.from_json_file(FIXTURES / f"{name}.json")
    for key, value in values.items():
        if key != "model_type":
            assert (getattr(config, key) if key in config.__dataclass_fields__ else config.extra[key]) == value, key
    config.to_json_file(tmp_path / "gliner_config.json")
    assert GLiNERConfig.from_json_file(tmp_path / "gliner_config.json") == config


@pytest.mark.slow
@pytest.mark.parametrize("name", LOADABLE)
def test_released_config_loads_predicts_and_round_trips(name, loaded, tmp_path):
    values = released(name)
    model = loaded(name)
    # v1 has none: set on load, after the backbone's tokenizer, [MASK] and "[FLERT]" (128002 / 250103)
    expected_index = values.get("class_token_index", BACKBONES[values["model_name"]][0] + 2)
    assert model.config.class_token_index == expected_index
    assert model.tokenizer.convert_tokens_to_ids("<<ENT>>") == expected_index
    assert model.model.token_rep_layer.bert_layer.model.get_input_embeddings().num_embeddings == len(model.tokenizer)
    entities = model.predict_entities(TEXT, LABELS, threshold=0.3)
    assert isinstance(entities, list) and entities  # the scaled random weights score some spans above 0.3
    assert all(TEXT[e["start"]:e["end"]] == e["text"] and e["label"] in LABELS for e in entities)

    model.save_pretrained(tmp_path / "again")
    again = GLiNER.from_pretrained(tmp_path / "again")
    assert torch.equal(_scores(again), _scores(model))
    assert again.predict_entities(TEXT, LABELS, threshold=0.3) == entities
    assert {k: again.config.extra[k] for k in model.config.extra} == model.config.extra  # training fields kept


@pytest.mark.slow
# encoder_config null or absent; gliner_small-v2.1 and gliner_multi (v1) load the same way as
# gliner_medium-v2.1 and gliner_base (each 128k/250k-entry tokenizer load costs a second or two)
@pytest.mark.parametrize("name", ["gliner_base", "gliner_medium-v2.1", "gliner_large-v2.1", "gliner_multi-v2.1"])
def test_released_layout_loads_from_the_hub_cache(name, checkpoints, loaded, hub_cache):
    """encoder_config null (or absent), no tokenizer files, pytorch_model.bin: the backbone's config and
    tokenizer come from model_name in the hub cache, and the scores are those of the self-contained copy."""
    model = GLiNER.from_pretrained(checkpoints(name)[1], cache_dir=hub_cache, local_files_only=True)
    assert model.config.class_token_index == loaded(name).config.class_token_index
    assert model.config.vocab_size == loaded(name).config.vocab_size
    assert torch.equal(_scores(model), _scores(loaded(name)))
    assert isinstance(model.predict_entities(TEXT, LABELS), list)


@pytest.fixture
def no_network(monkeypatch):
    """Hub offline mode off (conftest turns it on), and every connection attempt recorded and refused."""
    from huggingface_hub import constants

    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"test: no network ({address})")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_hub_id_backbone_offline_fails_early_and_clearly(checkpoints, tmp_path, no_network):
    """encoder_config null and model_name a hub id, no cache: an OSError naming model_name and the hub,
    and with local_files_only=True no connection is even tried."""
    _, hub_layout = checkpoints("gliner_medium-v2.1")
    with pytest.raises(OSError, match=r"model_name='microsoft/deberta-v3-base'.*hub.*Offline\?") as err:
        GLiNER.from_pretrained(hub_layout, cache_dir=tmp_path / "empty", local_files_only=True)
    assert "no tokenizer files" in str(err.value) and err.value.__cause__ is None  # no chained traceback
    assert no_network == []

    # the tokenizer saved but encoder_config still null: the encoder's config is what is missing
    with_tokenizer = tmp_path / "with_tokenizer"
    shutil.copytree(hub_layout, with_tokenizer)
    for tokenizer_file in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(checkpoints("gliner_medium-v2.1")[0] / tokenizer_file, with_tokenizer)
    with pytest.raises(OSError, match=r"encoder_config is null.*model_name='microsoft/deberta-v3-base'.*hub"):
        GLiNER.from_pretrained(with_tokenizer, cache_dir=tmp_path / "empty", local_files_only=True)
    assert no_network == []


def test_hub_id_backbone_in_offline_mode_fails_clearly(checkpoints, tmp_path, monkeypatch):
    """Not local_files_only, but HF_HUB_OFFLINE=1 (as conftest sets it): the same clear error, at once.
    (Offline mode off and no network, huggingface_hub retries for about a minute before failing.)"""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _, hub_layout = checkpoints("gliner_multi-v2.1")
    with pytest.raises(OSError, match=r"model_name='microsoft/mdeberta-v3-base'.*hub.*Offline\?"):
        GLiNER.from_pretrained(hub_layout, cache_dir=tmp_path / "empty")


@pytest.mark.parametrize("name, field", sorted(UNSUPPORTED.items()))
def test_unsupported_variant_fails_naming_the_field(name, field, tmp_path):
    with pytest.raises(ValueError, match=rf"{field}={released(name)[field]!r} is not implemented"):
        GLiNERConfig.from_json_file(FIXTURES / f"{name}.json")
    shutil.copy(FIXTURES / f"{name}.json", tmp_path / "gliner_config.json")
    with pytest.raises(ValueError, match=field):  # before any weights, tokenizer or hub are needed
        GLiNER.from_pretrained(tmp_path)
