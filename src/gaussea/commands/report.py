"""``gaussea report RUN_DIR``: one self-contained HTML page (and a Markdown twin) describing a finished run.

Why a report: a run directory holds everything needed to judge a run (losses per epoch, split, embeddings,
learned variances) but as machine files. The report turns them into the four pictures one looks at first:

1. **losses per epoch**, one panel per loss, with stage 2 (variances freed) shaded: did training converge,
   did freeing the variances disturb it?
2. **Hits@k for k = 1..50** on the test links, per candidate mode of the run's eval config, from the ranks the
   run saved beside its metrics (``ranks.npz``, so Hits@1/5/10 equal ``metrics.json``); for a run made before
   runs saved them (or decoded with the Hungarian assignment, which ranks nothing), recomputed from the saved
   embeddings with the run's similarity and CSLS k;
3. **learned variance per space** (histograms, both graphs): which modalities the model learned to distrust;
4. on the synthetic benchmark, **variance of corrupted vs clean entities** (ground truth from the generator):
   the paper's claim, visible.

The HTML embeds the images as base64 PNG so the single file can be mailed or attached to an issue; the Markdown
file references the PNGs written next to it under ``figures/``. Plotting needs matplotlib (the optional extra
``plot``); without it the command fails with a one-line message naming the install command.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaussea.errors import MissingDependencyError
from gaussea.ioutil import atomic_write_bytes, atomic_write_text
from gaussea.metrics_layout import split_results
from gaussea.run_files import RunDirectory

MAX_K = 50
FIG_DPI = 100
STAGE2_COLOUR = "#fbe3c2"
SIDE_COLOURS = {"left": "#1f77b4", "right": "#ff7f0e"}
GROUP_COLOURS = {"clean": "#2ca02c", "corrupted": "#d62728"}


def _require_matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            "gaussea report draws its plots with matplotlib: pip install 'gaussea[plot]'") from None
    return Figure


@dataclass
class Report:
    """The written report: paths of the HTML, the Markdown and each figure (name -> PNG path)."""

    out_dir: Path
    html: Path
    markdown: Path
    figures: dict[str, Path] = field(default_factory=dict)


# --- data --------------------------------------------------------------------------------------------
def hits_curve(run_dir: Path, max_k: int = MAX_K) -> dict[str, np.ndarray]:
    """Hits@k for ``k = 1..max_k`` on the run's test links, per candidate mode of its eval config: from the ranks
    the run saved, else recomputed (:func:`recomputed_ranks`)."""
    ranks = RunDirectory(run_dir).read_ranks() or recomputed_ranks(run_dir)
    ks = np.arange(1, max_k + 1)
    return {mode: (r[None, :] <= ks[:, None]).mean(1) for mode, r in ranks.items()}


def recomputed_ranks(run_dir: Path) -> dict[str, np.ndarray]:
    """Ranks of the test links per candidate mode, from the saved embeddings with the run's similarity, CSLS k
    and chunk size (the per-query decoder): for runs that saved no ranks."""
    from gaussea.alignment import RunEmbeddings
    from gaussea.evaluate import EvalSettings, alignment_ranks

    run = RunEmbeddings.load(run_dir)
    links = RunDirectory(run_dir).read_links("test")
    if not links:
        return {}
    pairs = np.stack([run.ids("left", [a for a, _ in links]), run.ids("right", [b for _, b in links])], axis=1)
    ev = run.eval_config
    modes = run.config.get("eval", {}).get("modes", ["test", "all"])
    left, right = run.embeddings("left"), run.embeddings("right")
    return {mode: alignment_ranks(left, right, pairs, EvalSettings(mode=mode, **ev))[0].numpy() for mode in modes}


# --- figures -----------------------------------------------------------------------------------------
def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIG_DPI)
    return buf.getvalue()


def plot_losses(log: list[dict]) -> bytes | None:
    """One panel per loss (their scales differ by orders of magnitude), stage 2 shaded, valid MRR if logged."""
    if not log:
        return None
    Figure = _require_matplotlib()
    from matplotlib.ticker import MaxNLocator

    names = list(dict.fromkeys(k for r in log for k in r.get("loss", {})))
    panels = names + (["valid_mrr"] if any("valid_mrr" in r for r in log) else [])
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    epochs = np.array([r["epoch"] for r in log])
    stage2 = [r["epoch"] for r in log if r.get("stage") == 2]
    for i, name in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        if name == "valid_mrr":
            pts = [(r["epoch"], r["valid_mrr"]) for r in log if "valid_mrr" in r]
            x, y = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
            ax.set_title("validation MRR")
        else:
            x = epochs
            y = np.array([r.get("loss", {}).get(name, np.nan) for r in log], dtype=float)
            ax.set_title(f"loss: {name}")
            if np.nanmin(y) > 0 and np.nanmax(y) / np.nanmin(y) > 20:
                ax.set_yscale("log")
        if stage2:
            ax.axvspan(min(stage2) - 0.5, max(stage2) + 0.5, color=STAGE2_COLOUR, zorder=0,
                       label="stage 2 (variances free)")
        ax.plot(x, y, marker="o" if len(x) <= 30 else None, markersize=3, color="#333333", label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if i == 0 and stage2:
            ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("training losses per epoch (stage 1: means only; shaded: stage 2)")
    return _png(fig)


def plot_hits(curves: dict[str, np.ndarray], metrics: dict) -> bytes | None:
    if not curves:
        return None
    Figure = _require_matplotlib()
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for mode, y in curves.items():
        m = split_results(metrics).get(mode, {})
        label = f"{mode} candidates ({m.get('num_candidates', '?')}), MRR {m.get('mrr', float('nan')):.3f}"
        ax.plot(np.arange(1, len(y) + 1), 100 * y, marker="o", markersize=2.5, label=label)
    ax.set_xlabel("k")
    ax.set_ylabel("Hits@k (%) on test links")
    ax.set_xlim(1, len(next(iter(curves.values()))))
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Hits@k, left to right")
    return _png(fig)


def plot_variances(var: dict[str, dict[str, np.ndarray]], var_init: float) -> bytes | None:
    from gaussea.commands.explain import SPACES

    spaces = [s for s in SPACES if s in var["left"]]
    if not spaces:
        return None
    Figure = _require_matplotlib()
    cols = min(2, len(spaces))
    rows = -(-len(spaces) // cols)
    fig = Figure(figsize=(5.0 * cols, 3.2 * rows), layout="constrained")
    for i, s in enumerate(spaces):
        ax = fig.add_subplot(rows, cols, i + 1)
        data = {side: var[side][s][~np.isnan(var[side][s])] for side in ("left", "right")}
        allv = np.concatenate(list(data.values()))
        bins = np.histogram_bin_edges(allv, bins=40) if len(allv) else 10
        for side, v in data.items():
            ax.hist(v, bins=bins, alpha=0.55, color=SIDE_COLOURS[side], label=f"{side} (n={len(v)})")
        ax.axvline(var_init, color="black", linestyle="--", linewidth=1, label=f"init {var_init}")
        ax.set_title(f"{s} space")
        ax.set_xlabel("per-entity mean variance")
        ax.set_ylabel("entities")
        ax.legend(fontsize=8)
    fig.suptitle("learned variances (lower = more trusted)")
    return _png(fig)


def plot_corruption(var: dict[str, dict[str, np.ndarray]], masks: dict[str, dict[str, np.ndarray]]
                    ) -> bytes | None:
    spaces = [s for s in masks if s in var["left"]]
    if not spaces:
        return None
    Figure = _require_matplotlib()
    fig = Figure(figsize=(5.0 * len(spaces), 3.4), layout="constrained")
    for i, s in enumerate(spaces):
        ax = fig.add_subplot(1, len(spaces), i + 1)
        v = np.concatenate([var[side][s] for side in ("left", "right")])
        mask = np.concatenate([masks[s][side] for side in ("left", "right")])
        has = ~np.isnan(v)
        groups = {"clean": v[has & ~mask], "corrupted": v[has & mask]}
        bins = np.histogram_bin_edges(v[has], bins=40)
        for g, x in groups.items():
            if len(x):
                ax.hist(x, bins=bins, density=True, alpha=0.55, color=GROUP_COLOURS[g],
                        label=f"{g}: n={len(x)}, mean {x.mean():.3f}")
                ax.axvline(x.mean(), color=GROUP_COLOURS[g], linewidth=1.5)
        ax.set_title(f"{s} variance: corrupted vs clean")
        ax.set_xlabel("per-entity mean variance")
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
    fig.suptitle("synthetic ground truth: do corrupted modalities get larger variances?")
    return _png(fig)


# --- text ----------------------------------------------------------------------------------------------
def _metrics_rows(metrics: dict) -> list[list[str]]:
    rows = []
    for mode, m in split_results(metrics).items():
        hits = [f"{100 * m[k]:.2f}" for k in sorted((k for k in m if k.startswith("hits@")),
                                                    key=lambda k: int(k[5:]))]
        rows.append([mode, str(m.get("num_queries")), str(m.get("num_candidates")), m.get("similarity", ""),
                     str(m.get("csls_k")), *hits, f"{m['mr']:.1f}", f"{m['mrr']:.4f}"])
    return rows


def _metrics_header(metrics: dict) -> list[str]:
    first = next(iter(split_results(metrics).values()), {})
    ks = sorted((k for k in first if k.startswith("hits@")), key=lambda k: int(k[5:]))
    return ["candidates", "queries", "pool", "similarity", "csls_k", *[k.replace("hits", "H") + " %" for k in ks],
            "MR", "MRR"]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


FIGURE_TITLES: dict[str, str] = {
    "losses": "Losses per epoch", "hits_at_k": "Hits@k", "variances": "Learned variances",
    "corruption": "Corrupted vs clean entities (synthetic ground truth)",
}
FIGURE_CAPTIONS: dict[str, str] = {
    "losses": "Training losses per epoch. Stage 1 learns means only; the shaded part is stage 2, where "
              "variances are freed and clamped to [C_min, C_max].",
    "hits_at_k": "Hits@k on the test links for k = 1..50, from the ranks behind the test metrics (test "
                 "candidates = the standard protocol; all = every entity of the other graph).",
    "variances": "Per-entity mean variance in each space, both graphs. The dashed line is the initial value; "
                 "a modality whose variance grows pulls less on the entity's common embedding.",
    "corruption": "Synthetic ground truth: learned variance of entities whose image / numbers the generator "
                  "corrupted vs the clean ones (vertical lines: means).",
}


def build_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Report:
    """Write ``report.html`` (self-contained), ``report.md`` and ``figures/*.png`` for a finished run."""
    from gaussea.commands.explain import corruption_masks, format_summary, variance_summary
    from gaussea.models.gaussian_params import paper_model_params

    _require_matplotlib()
    run_dir = Path(run_dir)
    files = RunDirectory(run_dir)
    metrics = files.read_metrics()
    out = Path(out_dir) if out_dir else files.report_dir
    config = files.read_config()
    var_init = paper_model_params(config).var_init

    pngs: dict[str, bytes | None] = {
        "losses": plot_losses(files.read_train_log()),
        "hits_at_k": plot_hits(hits_curve(run_dir), metrics),
    }
    summary_text = ""
    if files.variances_path.exists():
        var = files.read_variances()
        pngs["variances"] = plot_variances(var, var_init)
        masks = corruption_masks(run_dir)
        if masks:
            pngs["corruption"] = plot_corruption(var, masks)
        summary_text = format_summary(variance_summary(run_dir))
    figures: dict[str, Path] = {}
    for name, data in pngs.items():
        if data:
            figures[name] = out / "figures" / f"{name}.png"
            atomic_write_bytes(figures[name], data)

    title = f"gaussea run report: {run_dir.name or run_dir}"
    facts = _facts(metrics, config, run_dir)
    header, rows = _metrics_header(metrics), _metrics_rows(metrics)
    per_space = [[s, f"{100 * m['hits@1']:.2f}", f"{100 * m['hits@10']:.2f}", f"{m['mrr']:.4f}"]
                 for s, m in (metrics.get("per_space_test") or {}).items()]
    ps_header = ["space (alone, test candidates)", "H@1 %", "H@10 %", "MRR"]

    md = [f"# {title}", "", *[f"- **{k}**: {v}" for k, v in facts], "", "## Test metrics", "",
          _md_table(header, rows), ""]
    if per_space:
        md += ["Per-space diagnostics (each modality space alone, cosine + CSLS):", "",
               _md_table(ps_header, per_space), ""]
    for name, path in figures.items():
        md += [f"## {FIGURE_TITLES[name]}", "", f"![{name}](figures/{path.name})", "", FIGURE_CAPTIONS[name], ""]
    if summary_text:
        md += ["## Variance summary (`gaussea explain`)", "", "```", summary_text, "```", ""]
    atomic_write_text(out / "report.md", "\n".join(md))

    body = [f"<h1>{html.escape(title)}</h1>", "<ul>" + "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in facts) + "</ul>",
        "<h2>Test metrics</h2>", _html_table(header, rows)]
    if per_space:
        body += ["<p>Per-space diagnostics (each modality space alone, cosine + CSLS):</p>",
                 _html_table(ps_header, per_space)]
    for name, data in pngs.items():
        if data:
            b64 = base64.b64encode(data).decode("ascii")
            body += [f"<h2>{html.escape(FIGURE_TITLES[name])}</h2>",
                     f'<figure><img alt="{name}" src="data:image/png;base64,{b64}">'
                     f"<figcaption>{html.escape(FIGURE_CAPTIONS[name])}</figcaption></figure>"]
    if summary_text:
        body += ["<h2>Variance summary (<code>gaussea explain</code>)</h2>", f"<pre>{html.escape(summary_text)}</pre>"]
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    atomic_write_text(out / "report.html", page)
    return Report(out, out / "report.html", out / "report.md", figures)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "th{background:#f3f3f3}img{max-width:100%}figcaption{color:#555;font-size:90%}"
        "pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:85%}")


def _facts(metrics: dict, config: dict, run_dir: Path) -> list[tuple[str, str]]:
    split = metrics.get("split", {})
    prov = metrics.get("provenance", {})
    tr = config.get("train", {})
    return [
        ("run directory", str(run_dir)),
        ("dataset", str(metrics.get("dataset"))),
        ("model", f"{metrics.get('model')} (modalities {','.join(metrics.get('modalities', []))}, "
                  f"dim {config.get('model', {}).get('dim')})"),
        ("split", f"{split.get('kind')} ratio {split.get('ratio')} index {split.get('index')}: "
                  f"train {split.get('train')} / valid {split.get('valid')} / test {split.get('test')} links"),
        ("training", f"{metrics.get('epochs_completed')} epochs (stage 1: {tr.get('stage1_epochs')}, "
                     f"stage 2: {tr.get('stage2_epochs')}), {metrics.get('train_seconds', 0):.1f} s"),
        ("labels", f"iterative={metrics.get('iterative')}, uses_names={metrics.get('uses_names')}"),
        ("revision", f"{prov.get('revision')} ({prov.get('date')})"),
    ]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser(
        "report", help="write an HTML + Markdown report with plots for a finished run (needs matplotlib)",
        description="Loss curves per stage, Hits@k curve, variance histograms and (synthetic data) corrupted vs "
                    "clean variances, as a self-contained HTML page and a Markdown file with PNGs.")
    s.add_argument("run_dir", help="a finished `gaussea run` directory")
    s.add_argument("--out", help="output folder (default RUN_DIR/report)")
    s.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    rep = build_report(args.run_dir, args.out)
    print(f"wrote {rep.html} and {rep.markdown} ({len(rep.figures)} figures: {', '.join(rep.figures)})")
    return 0
