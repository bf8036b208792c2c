"""Render reports/benchmark.json: a Markdown table (the README's) and the figure.

    .venv/bin/python -m bench.report reports/benchmark.json        # prints the Markdown
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _f(x, digits=2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _row(cells) -> str:
    return "|" + "".join(f" {c} |" if c != "" else " |" for c in cells)


def _table(columns: list[str], align: str, rows) -> list[str]:
    """A Markdown table's lines: the header, its alignment (`align`: l or r per column), one line per row of cells."""
    return [_row(columns), "|" + "".join("---:|" if a == "r" else "---|" for a in align), *map(_row, rows)]


def _by_batch(speeds: dict) -> list[tuple[str, dict]]:
    """The rows of a speed table in batch-size order (the other keys, if any, describe the run)."""
    return [(bs, speeds[bs]) for bs in sorted((k for k in speeds if k.isdigit()), key=int)]


def main_speeds(r: dict, key: str) -> dict:
    """Batch size -> ours (float32), the reference and float32's bare encoder, from the precision speed table
    `key` (speed_sentences or speed_long_documents): the benchmark times every contender in one table."""
    return {bs: {"ours_texts_per_s": v["fp32_texts_per_s"], "reference_texts_per_s": v["reference_texts_per_s"],
                 "encoder_texts_per_s": v["encoder_fp32_texts_per_s"], "ours_vs_encoder": v["fp32_vs_encoder"],
                 "ours_vs_reference": v["fp32_vs_reference"], "mac_ceiling_vs_encoder": v["mac_ceiling_vs_encoder"],
                 **({"ours_forward_texts_per_s": v["ours_forward_texts_per_s"],
                     "ours_forward_vs_encoder": v["ours_forward_vs_encoder"]} if "ours_forward_texts_per_s" in v else {})}
            for bs, v in r["precision"][key].items()}


def texts_timed(speeds: dict) -> str:
    """Which sentences each batch size of a speed table timed (rows from before the count was kept: all of them)."""
    counts = {bs: v.get("texts") for bs, v in _by_batch(speeds)}
    if len(set(counts.values())) < 2:
        return ""
    return " Sentences timed: " + ", ".join(f"the first {n} at batch {bs}" for bs, n in counts.items()) + "."


def markdown(r: dict) -> str:
    """The benchmark as Markdown tables; every number comes from the JSON."""
    m = r["machine"]
    lines = [f"Benchmark against the reference `gliner` {r['reference'].get('version', '?')} "
             f"({r['setting']} setting, {r['backbone']} backbone, {m['device']}: {m.get('cpu', 'CPU not recorded')}, {m['threads']} threads, "
             f"load average {m['load_average_at_start']:.1f} at start; ratios are from runs taken in turns).", ""]

    lines += _table(["inputs", "batch", "ours texts/s", "reference texts/s", "bare encoder texts/s", "ours / encoder",
                     "ours forward / encoder", "MAC ceiling", "ours / reference"], "lrrrrrrrr",
                    [[name, bs, _f(v["ours_texts_per_s"]), _f(v["reference_texts_per_s"]), _f(v["encoder_texts_per_s"]),
                      _f(v["ours_vs_encoder"]), _f(v.get("ours_forward_vs_encoder")), _f(v.get("mac_ceiling_vs_encoder")),
                      _f(v["ours_vs_reference"])]
                     for key, name in (("speed_sentences", "sentences"), ("speed_long_documents", "2,000-word documents"))
                     for bs, v in _by_batch(main_speeds(r, key))])
    lines += ["", f"On the trained model `{r['precision']['model']}`, float32, and the reference on the same checkpoint. "
              "*ours / encoder*: end to end (`batch_predict_entities`: words, tokens, forward, decoding) against a "
              "bare encoder forward on the same tokenised prompt + text batches. *ours forward*: our whole forward "
              "on those batches. *MAC ceiling*: the encoder's share of the multiply-accumulates of our forward "
              "(bench/flops.py), the best ratio any implementation could reach at the encoder's efficiency per MAC."
              + texts_timed(r["precision"]["speed_sentences"])]
    if "speed_wide_encoder" in r:
        w = r["speed_wide_encoder"]
        enc = w["encoder"]
        lines += ["", f"The same forward on a randomly initialised encoder of the paper's size ({enc['num_hidden_layers']} "
                  f"layers, {enc['hidden_size']} wide; GLiNER hidden size {w['hidden_size']}), on the first {w['texts']} of the "
                  "sentences (the MiniLM rows repeat the sentence table's):", ""]
        rows = [(r["backbone"], main_speeds(r, "speed_sentences")), (f"random {enc['num_hidden_layers']} x {enc['hidden_size']}", w)]
        lines += _table(["encoder", "batch", "bare encoder texts/s", "ours forward texts/s", "ours forward / encoder",
                         "MAC ceiling"], "lrrrrr",
                        [[name, bs, _f(v["encoder_texts_per_s"]), _f(v["ours_forward_texts_per_s"]),
                          _f(v["ours_forward_vs_encoder"]), _f(v["mac_ceiling_vs_encoder"])]
                         for name, speeds in rows for bs, v in _by_batch(speeds)])

    d = r["long_document_entities"]
    lines += ["", f"Long document ({d['words']} words, {d['gold']} gold '{d['gold_label']}' mentions, threshold "
              f"{d.get('threshold', 0.5)}; the reference scores only the first {d['reference']['words_scored']} words):", ""]
    lines += _table(["", "gold reachable", "gold found (right label)", "gold span found (any label)", "last entity at word"],
                    "lrrrr", [[name, f"{d[name]['gold_reachable']} / {d['gold']}", d[name]["gold_found"],
                               d[name]["gold_found_any_label"], d[name]["last_entity_word"]] for name in ("ours", "reference")])

    lines += ["", *_table(["parity", "texts", "spans and labels equal", "max entity score diff",
                           "max span score diff (all spans)"], "lrlrr",
                          [[name.replace("_", " "), v["texts"], v["spans_equal"], f"{v['max_entity_score_diff']:.1e}",
                            f"{v['max_span_score_diff']:.1e}"] for name, v in r["parity"].items()])]

    t = r["training"]
    lines += ["", f"Training: {r['settings']['steps']} steps of {r['settings']['batch_size']} examples, same data "
              f"({r['data']['train_examples']} training / {r['data']['eval_examples']} evaluation examples), "
              "same initial checkpoint; each run in a process of its own, one after another.", ""]
    lines += _table(["", "steps/s (wall)", "CPU s / step", "peak RSS (MB)", "F1 @0.5", "precision @0.5", "recall @0.5",
                     "best F1 (threshold)"], "lrrrrrrr",
                    [[f"{name.replace('_', ' ')}{' (reused run)' if v.get('reused') else ''}", _f(v["steps_per_s"]),
                      _f(v["cpu_s_per_step"]), f"{v['peak_rss_mb']:.0f}", _f(v["f1"]["f1"], 3), _f(v["f1"]["precision"], 3),
                      _f(v["f1"]["recall"], 3), f"{_f(v['f1'].get('best_f1'), 3)} ({v['f1'].get('best_threshold', '–')})"]
                     for name, v in ((name, t[name]) for name in ("ours", "reference", "ours_no_lstm"))])
    diffs = f"F1 difference {t['f1_diff_points']:+.1f} points at 0.5"
    if "best_f1_diff_points" in t:
        diffs += f", {t['best_f1_diff_points']:+.1f} points at each one's best threshold"
    lines += ["", f"Ours / reference over the full runs: {_f(t['ours_vs_reference_steps_per_s'])}× steps/s (wall), "
              f"{_f(t['ours_vs_reference_cpu_s_per_step'])}× (CPU time per step); {diffs}."]
    if "replay" in t:
        lines += replay_markdown(t)
    if "replay_bf16" in t:
        b = t["replay_bf16"]
        if "skipped" in b:
            lines += ["", f"Training in bf16: not measured ({b['skipped']})."]
        else:
            lines += ["", f"Training in bf16 (`train: bf16: true`, autocast; fp32 master weights): ours takes the same "
                      f"{b['steps']} recorded steps in float32 and in bf16, in turns of {b['steps_per_turn']}: "
                      f"{_f(b['bf16_steps_per_s'])} steps/s against {_f(b['fp32_steps_per_s'])}, "
                      f"{_f(b['bf16_vs_fp32'])}× (median over turns); last-step loss {b['losses']['bf16'][-1]:.4g} "
                      f"against {b['losses']['fp32'][-1]:.4g}; best F1 after these steps {_f(b['bf16_f1']['best_f1'], 3)} "
                      f"against {_f(b['fp32_f1']['best_f1'], 3)}."]
    parts = t.get("bf16_step_parts", {})
    if "configs" in parts:
        lines += ["", f"The bf16 training step part by part (the trained model, {parts['batches']} identical batches of "
                  f"{parts['batch_size']} from the training file, forward and backward, in turns):", "",
                  *_table(["configuration", "s / step", "× fp32"], "lrr",
                          [[name, f"{v['s_per_step']:.3f}", f"{v['speedup_vs_fp32']:.2f}"]
                           for name, v in parts["configs"].items()])]
    if "precision" in r:
        lines += ["", precision_markdown(r["precision"])]

    e = r["extras"]
    sizes = sorted({bs for v in e.values() for bs in v.get("texts_per_s", {})}, key=int)
    order = ["ours_fp32", "torch_compile", "onnx", "with_bilstm", "no_bilstm"]
    rows = []
    for name in sorted(e, key=lambda k: order.index(k) if k in order else len(order)):
        v = e[name]
        if "texts_per_s" not in v:
            rows.append([name, *["–"] * (2 * len(sizes)), v.get("error") or v.get("skipped"), "–", "–"])
            continue
        same = "(a short run)" if v.get("same_entities_as_fp32") is None else v["same_entities_as_fp32"]
        rows.append([name, *[_f(v[key][bs]) for bs in sizes for key in ("texts_per_s", "speedup_vs_fp32")], same,
                     _f(v.get("f1"), 3), _f(v.get("best_f1"), 3)])
    lines += ["", f"The users' asks on the trained model (F1 on the {r['data']['eval_examples']} evaluation examples). "
              "BiLSTM off: *no bilstm* is the short run trained without it, *with bilstm* its twin trained with it "
              "(the same config otherwise); *no bilstm*'s × is against *with bilstm*, and their F1 is the "
              "training section's:", ""]
    lines += [*_table(["variant", *[c for bs in sizes for c in (f"texts/s @{bs}", f"× fp32 @{bs}")],
                           "same entities as fp32 (threshold 0.2)", "F1 @0.5", "best F1"], "l" + "rr" * len(sizes) + "lrr", rows)]
    return "\n".join(lines) + "\n"


def replay_markdown(t: dict) -> list[str]:
    """The replay: ours on the reference's own training steps, loss by loss, and where the two end up."""
    v, w = t["replay"], t["replay"]["in_turns"]
    f64 = t.get("replay_float64")
    rows = [["loss, first step", f"{v['losses']['ours'][0]:.4g}", f"{v['losses']['reference'][0]:.4g}",
             f"{v['first_step_relative_loss_diff']:.1e} (relative)"],
            ["loss, last step", f"{v['losses']['ours'][-1]:.4g}", f"{v['losses']['reference'][-1]:.4g}",
             f"{v['last_step_relative_loss_diff']:.1e} (relative; worst step {v['max_relative_loss_diff']:.1e})"],
            *([[f"loss, float64 replay of the first {f64['steps']} steps", "–", "–",
                f"{f64['max_relative_loss_diff']:.1e} (relative, worst step; weights "
                f"{f64['max_relative_weight_diff']:.1e})"]] if f64 else []),
            ["F1 @0.5", _f(v["ours_f1"]["f1"], 3), _f(v["reference_f1"]["f1"], 3), f"{v['f1_diff_points']:+.2f} points"],
            ["best F1", _f(v["ours_f1"]["best_f1"], 3), _f(v["reference_f1"]["best_f1"], 3),
             f"{v['best_f1_diff_points']:+.2f} points"],
            ["steps/s, in turns on these batches", _f(w["ours_steps_per_s"]), _f(w["reference_steps_per_s"]),
             f"ours / reference {_f(w['ours_vs_reference'])}× (median of {w['turns']} turns)"]]
    return ["", f"Replay: ours takes the reference's own {v['steps']} training steps from the same checkpoint (the "
            "examples and prompt types its collator drew, its loss, its optimizer's parameter groups, the same "
            "learning rates; dropout off on both sides). In float64 the two agree to rounding over the steps "
            "replayed; in float32 they agree to rounding for the first steps, then drift apart:", "",
            *_table(["", "ours", "reference", "difference"], "lrrr", rows), "",
            f"After training, the largest relative difference of a weight tensor is {v['max_relative_weight_diff']:.1e} "
            f"(`{v['max_relative_weight_diff_tensor']}`; attention key biases, whose exact gradient is 0, "
            f"{v['max_relative_key_bias_diff']:.1e}), and of a span score over {v['score_texts']} texts "
            f"{v['max_span_score_diff']:.1e}."]


NAMES = {"fp32": "float32", "bf16": "bf16", "int8": "int8", "fast_gliner": "fast-gliner (ONNX)",
         "fast_gliner_int8": "fast-gliner (ONNX, int8)", "reference": "reference"}


def precision_markdown(p: dict) -> str:
    """The precision check: F1 and identical entities per set, texts/s per contender, the recommendation."""
    columns = [k for k in NAMES if k != "reference" and any(k in row for row in p["accuracy"].values())]  # fast-gliner too
    lines = [f"Precision, on the trained model `{p['model']}` (F1 at threshold 0.5 on each set, its sentences and gold "
             "mentions in brackets; Δ: F1 points against float32 with its 95% paired bootstrap interval over the "
             "sentences; *same*: entities identical to float32's, |same| / |either|; fast-gliner, no candidate, on the "
             "test sets whose sentences share label lists: its API runs a sentence with its own list alone):", ""]

    def cell(v: dict) -> str:
        low, high = v.get("f1_diff_interval_points", (float("nan"),) * 2)
        return f"{v['f1']:.3f} ({v['f1_diff_points']:+.1f} [{low:+.1f}, {high:+.1f}], {v['same_entities_share']:.0%})"

    lines += _table(["set (sentences, gold)", *[NAMES[k] + (" F1" if k == "fp32" else " F1 (Δ [95%], same)")
                                                for k in columns]],
                    "l" + "r" * len(columns),
                    [[f"{name} ({row['sentences']:,}, {row['gold']:,})", f"{row['fp32']['f1']:.3f}",
                      *[cell(row[k]) if k in row else "–" for k in columns[1:]]] for name, row in p["accuracy"].items()])
    skipped = [f"{NAMES[k]}: {v.get('skipped') or v.get('error')}" for k, v in p["contenders"].items()
               if "skipped" in v or "error" in v]
    if skipped:
        lines += ["", "Not run: " + "; ".join(skipped) + "."]
    for key, inputs in (("speed_sentences", "sentences"), ("speed_long_documents", "2,000-word documents")):
        speeds = p[key]
        row = next(iter(speeds.values()))
        names = [k for k in NAMES if f"{k}_texts_per_s" in row]
        shares = [k for k in names if f"{k}_share_of_ceiling" in row]
        lines += ["", *_table([f"{inputs}: batch",
                               *[f"{NAMES[k]} texts/s" + (" (× reference)" if f"{k}_vs_reference" in row else "")
                                 for k in names], *[f"{NAMES[k]}: share of MAC ceiling" for k in shares]],
                              "r" * (1 + len(names) + len(shares)),
                              [[bs, *[f"{v[f'{k}_texts_per_s']:.1f}" + (f" ({v[f'{k}_vs_reference']:.2f}×)"
                                                                         if f"{k}_vs_reference" in v else "") for k in names],
                                *[f"{v[f'{k}_share_of_ceiling']:.2f}" for k in shares]] for bs, v in _by_batch(speeds)])]
    # end to end does the forward and more on the same batches, so a share above 1 can only be timing noise
    impossible = [f"batch {bs} ({NAMES[k]} {v[f'{k}_share_of_ceiling']:.2f})" for bs, v in _by_batch(p["speed_sentences"])
                  for k in NAMES if v.get(f"{k}_share_of_ceiling", 0) > 1]
    if impossible:
        lines += ["", "A share of the MAC ceiling above 1 cannot be (end to end runs the forward and more on the same "
                  "batches): " + ", ".join(impossible) + ": that row carries timing noise at least as large as the "
                  "excess over 1."]
    rec = p["recommended"]
    if rec.get("precision"):
        held = ", ".join(f"{NAMES[k]} {'holds' if rec['f1_holds_on_dev'][k] else 'does not hold'}"
                         for k in NAMES if k in rec["f1_holds_on_dev"])
        lines += ["", f"*Share of MAC ceiling*: (ours / its own bare encoder) / (the encoder's share of our forward's "
                  f"multiply-accumulates); 1.0 is as fast as the encoder's efficiency allows. Fastest precision whose F1 "
                  f"holds within {rec['tolerance_points']} points on every dev set: **{NAMES[rec['precision']]}**, "
                  f"{rec['speedup_vs_fp32']:.2f}× float32 at the largest batch ({held})."]
    else:
        lines += ["", f"No precision recommended: {rec.get('why')}."]
    return "\n".join(lines)


def figure(r: dict, path: Path) -> Path:
    """Nine panels: texts/s on sentences and on long documents, training, the users' asks, the replay
    (loss of ours and the reference on the same steps, and their relative difference), and the precision
    check (texts/s and F1 per precision; loss curves of our bf16 and fp32 training on the same steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colors = {"ours": "tab:blue", "reference": "tab:orange", "encoder": "tab:gray"}
    fig, axes = plt.subplots(3, 3, figsize=(19, 13.5))
    for ax, key, title in ((axes[0, 0], "speed_sentences", f"Sentences (~27 words, {r['speed_inputs']['labels']} labels)"),
                           (axes[0, 1], "speed_long_documents",
                            f"Long documents ({r['speed_inputs']['long_document_words']} words; the reference reads "
                            f"only the first {r['long_document_entities']['reference']['words_scored']})")):
        speeds = main_speeds(r, key)
        sizes = sorted(speeds, key=int)
        x = np.arange(len(sizes))
        for i, name in enumerate(("ours", "reference", "encoder")):
            values = [speeds[bs][f"{name}_texts_per_s"] for bs in sizes]
            bars = ax.bar(x + (i - 1) * 0.27, values, 0.27, label="bare encoder (limit)" if name == "encoder" else name,
                          color=colors[name])
            ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_ylim(0, 1.4 * max(speeds[bs][f"{n}_texts_per_s"] for bs in sizes for n in ("ours", "reference", "encoder")))
        ax.set_xticks(x, [f"{bs}\nours / encoder {speeds[bs]['ours_vs_encoder']:.2f}"
                          f"\nMAC ceiling {speeds[bs]['mac_ceiling_vs_encoder']:.2f}" for bs in sizes], fontsize=8)
        ax.set(xlabel="batch size (texts per call)", ylabel="throughput, trained model, float32 (texts/s)", title=title)
        ax.legend(loc="upper left", ncol=3, fontsize=8)

    t = r["training"]
    names = ["ours", "reference", "ours_no_lstm"]
    ax = axes[1, 0]
    x = np.arange(len(names))
    bars = ax.bar(x - 0.2, [t[n]["steps_per_s"] for n in names], 0.4, color="tab:green", label="steps/s (wall, full run)")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_ylabel("training speed (steps/s)")
    ax.set_ylim(0, 1.35 * max(t[n]["steps_per_s"] for n in names))
    ax2 = ax.twinx()
    bars = ax2.bar(x + 0.1, [t[n]["f1"]["f1"] for n in names], 0.2, color="tab:purple", label="F1 at threshold 0.5")
    ax2.bar_label(bars, fmt="%.2f", fontsize=8)
    bars = ax2.bar(x + 0.3, [t[n]["f1"].get("best_f1", np.nan) for n in names], 0.2, color="plum",
                   label="F1 at its best threshold")
    ax2.bar_label(bars, fmt="%.2f", fontsize=8)
    ax2.set_ylabel("exact-match micro F1")
    ax2.set_ylim(0, 1.35)
    ax2.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xticks(x, ["ours", "reference", "ours, no BiLSTM"])
    title = f"Training: {r['settings']['steps']} steps × {r['settings']['batch_size']} examples, same data"
    if "replay" in t:
        title += f"\nsteps timed in turns: ours / reference = {t['replay']['in_turns']['ours_vs_reference']:.2f}×"
    ax.set_title(title)
    ax.legend(handles=ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0], loc="upper left", ncol=2)

    ax = axes[1, 1]
    order = ["ours_fp32", "torch_compile", "onnx", "with_bilstm", "no_bilstm"]
    e = {k: r["extras"][k] for k in sorted(r["extras"], key=lambda k: order.index(k) if k in order else len(order))
         if "speedup_vs_fp32" in r["extras"][k]}
    sizes = sorted({bs for v in e.values() for bs in v["speedup_vs_fp32"]}, key=int)
    x = np.arange(len(e))
    width = 0.8 / len(sizes)
    for i, bs in enumerate(sizes):
        bars = ax.bar(x + (i - (len(sizes) - 1) / 2) * width, [v["speedup_vs_fp32"].get(bs, np.nan) for v in e.values()],
                      width, label=f"batch {bs}")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_ylim(0, 1.2 * max(x for v in e.values() for x in v["speedup_vs_fp32"].values()))
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(x, [k.replace("_", " ") + (f"\n(× {e[k]['speedup_against'].replace('_', ' ')})"
                                             if "speedup_against" in e[k] else "") for k in e], fontsize=8)
    ax.set_ylabel("speed relative to ours, eager fp32 (×)")
    ax.set_title("Users' asks: throughput vs eager fp32 on sentences (the trained model)")
    ax.legend()

    if "replay" in t:
        v = t["replay"]
        steps = np.arange(1, v["steps"] + 1)
        ax = axes[0, 2]
        ax.plot(steps, v["losses"]["reference"], color=colors["reference"], lw=4, alpha=0.5, label="reference")
        ax.plot(steps, v["losses"]["ours"], color=colors["ours"], lw=1.2, label="ours, on the reference's steps")
        ax.set_yscale("log")
        ax.set(xlabel="training step", ylabel="training loss (sum over span-type cells)",
               title=f"Replay: ours takes the reference's own steps\n(its examples, prompt types, loss, optimizer; "
                     f"no dropout)\nF1 @0.5: ours {v['ours_f1']['f1']:.3f}, reference {v['reference_f1']['f1']:.3f}")
        ax.legend()
        ax = axes[1, 2]
        floor = 1e-17
        ax.semilogy(steps, np.maximum(v["relative_loss_diff"], floor), ".", color="tab:red", label="float32 replay")
        if "replay_float64" in t:
            w = t["replay_float64"]
            ax.semilogy(np.arange(1, w["steps"] + 1), np.maximum(w["relative_loss_diff"], floor), "x", color="black",
                        label="float64 replay")
        ax.axhline(1.2e-7, color="gray", lw=0.8, ls="--", label="float32 rounding (1.2e-7)")
        ax.axhline(2.2e-16, color="gray", lw=0.8, ls=":", label="float64 rounding (2.2e-16)")
        ax.set_ylim(floor / 3, 3)
        ax.set(xlabel="training step", ylabel=f"|ours - reference| / reference loss (0 drawn at {floor:.0e})",
               title=f"Replay: relative loss difference per step\nfloat32 weights after {v['steps']} steps: "
                     f"up to {v['max_relative_weight_diff']:.1e} apart (relative)")
        ax.legend()
    else:
        axes[0, 2].axis("off")
        axes[1, 2].axis("off")

    precision_panels(r, axes[2])

    m = r["machine"]
    fig.suptitle(f"GLiNER re-implementation vs reference gliner {r['reference'].get('version', '?')}, {r['setting']} setting\n"
                 f"{r['backbone']}; {m.get('cpu', m['device'])}, {m['threads']} threads, load average {m['load_average_at_start']:.1f} "
                 "at start; contenders timed in turns, best run each")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def precision_panels(r: dict, axes) -> None:
    import numpy as np

    p, b = r.get("precision"), r["training"].get("replay_bf16", {})
    if p is None:
        for ax in axes[:2]:
            ax.axis("off")
    else:
        speeds = p["speed_sentences"]
        sizes = sorted(speeds, key=int)
        names = [k for k in NAMES if f"{k}_texts_per_s" in speeds[sizes[0]]]
        x, width = np.arange(len(sizes)), 0.8 / len(names)
        for i, name in enumerate(names):
            bars = axes[0].bar(x + (i - (len(names) - 1) / 2) * width, [speeds[bs][f"{name}_texts_per_s"] for bs in sizes],
                               width, label=NAMES[name])
            axes[0].bar_label(bars, fmt="%.0f", fontsize=7)
        axes[0].set_xticks(x, sizes)
        axes[0].set(xlabel="batch size (texts per call)", ylabel="throughput on sentences (texts/s)",
                    title=f"Precision: the trained model, in turns\nrecommended (fastest whose dev F1 holds): "
                          f"{NAMES.get(p['recommended'].get('precision'), 'none')}")
        axes[0].legend(fontsize=8)
        sets = list(p["accuracy"])
        columns = [k for k in NAMES if any(k in p["accuracy"][s] for s in sets)]
        y, height = np.arange(len(sets)), 0.8 / len(columns)
        for i, name in enumerate(columns):
            axes[1].barh(y + (i - (len(columns) - 1) / 2) * height, [p["accuracy"][s].get(name, {}).get("f1", np.nan) for s in sets], height,
                         label=NAMES[name])
        axes[1].set_yticks(y, [f"{s} ({p['accuracy'][s]['gold']} gold)" for s in sets], fontsize=8)
        axes[1].set_xlabel("exact-match micro F1 at threshold 0.5")
        axes[1].set_title("Precision: F1 per set (dev sets choose, test sets report)")
        axes[1].legend(fontsize=8)
    if "losses" in b:
        steps = np.arange(1, b["steps"] + 1)
        axes[2].plot(steps, b["losses"]["fp32"], lw=3, alpha=0.5, label=f"float32 ({b['fp32_steps_per_s']:.2f} steps/s)")
        axes[2].plot(steps, b["losses"]["bf16"], lw=1.2, label=f"bf16 autocast ({b['bf16_steps_per_s']:.2f} steps/s)")
        axes[2].set_yscale("log")
        axes[2].set(xlabel="training step (the reference's recorded steps)", ylabel="training loss",
                    title=f"Training in bf16 against float32 on the same steps, in turns\nbf16 / fp32 = "
                          f"{b['bf16_vs_fp32']:.2f}× steps/s (median over turns)")
        axes[2].legend()
    else:
        axes[2].axis("off")


if __name__ == "__main__":
    print(markdown(json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "reports/benchmark.json").read_text())))
