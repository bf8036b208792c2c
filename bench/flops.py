"""Multiply-accumulates of one forward pass: the encoder's and the GLiNER layers' on top of it.

The bare encoder is the speed limit the benchmark compares against, but the GLiNER layers
(BiLSTM, span and type heads) are arithmetic no implementation can skip. Their share of a
forward pass, counted on the padded batches as they run, gives the best ours / encoder ratio any
implementation could reach at equal efficiency per multiply-accumulate:

    ceiling = encoder MACs / (encoder MACs + GLiNER-layer MACs)

Counted: every matrix product (linear layers, attention scores and mixing, LSTM gates), as our
forward runs it (span head factorised, see `SpanMarkerV0.score`). Not counted: element-wise work,
normalisation, softmax, embeddings lookups, gathers, the encoder's pooler (one token per text).
"""

from __future__ import annotations


def forward_macs(config, batch: dict) -> dict:
    """MACs of `SpanModel.forward` on one collated batch, split into encoder and GLiNER layers."""
    enc = config.encoder_config
    d, d_ff, layers = enc["hidden_size"], enc["intermediate_size"], enc["num_hidden_layers"]
    B, T = batch["input_ids"].shape
    L = int(batch["text_lengths"].max())  # words, padded to the longest text
    C = int((batch["input_ids"] == config.class_token_index).sum(1).max())  # types, padded
    D, K = config.hidden_size, config.max_width
    encoder = layers * (B * T * (4 * d * d + 2 * d * d_ff) + B * 2 * T * T * d)
    h, words = D // 2, int(batch["text_lengths"].sum())  # the packed BiLSTM skips padding
    lstm = config.num_rnn_layers * words * 2 * 4 * h * (D + h)  # per direction: 4 gates on [input; state]
    heads = (B * L * 2 * 8 * D * D      # project_start and project_end: D -> 4D -> D each
             + B * L * 2 * 4 * D * D    # out_project's first layer, split into start and end halves
             + B * C * 8 * D * D        # prompt_rep_layer: D -> 4D -> D per type
             + B * C * 4 * D * D        # out_project's last layer folded into the type vectors
             + B * L * K * 4 * D * C)   # every span's hidden layer . every folded type vector
    projection = B * T * d * D if d != D else 0
    return {"encoder": encoder, "gliner_layers": lstm + heads + projection,
            "lstm": lstm, "heads": heads, "projection": projection}


def ceiling(config, batches: list[dict]) -> dict:
    """Summed MACs over batches and the ours / encoder ratio at equal efficiency (see module doc)."""
    totals: dict = {}
    for batch in batches:
        for key, value in forward_macs(config, batch).items():
            totals[key] = totals.get(key, 0) + value
    totals["ceiling_ours_vs_encoder"] = totals["encoder"] / (totals["encoder"] + totals["gliner_layers"])
    return totals
