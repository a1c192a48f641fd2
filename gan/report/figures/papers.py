"""The papers' small analytic experiments (gan.wgan_examples), each the figure of a stage of its own
(workflow/rules/papers.smk), drawn from the stage's npz with a CSV of its numbers beside it:

- ``wgan_example1``: WGAN Example 1 / Figure 1: W and JS against theta in closed form (KL and TV said), beside a
  trained WGAN-GP critic's W estimate and a trained GAN discriminator's JS estimate;
- ``wgan_figure2``: WGAN Figure 2: a GAN discriminator and a WGAN critic between two 1-D Gaussians, and the
  magnitude of the gradient a generator sample at x gets from each;
- ``wgangp_figure1b``: WGAN-GP Figure 1(b): per-layer gradient norms of deep critics (clipping at each c against
  the penalty) at the end and over training, and the critics' weight histograms.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from gan.atomic import write_text
from gan.report.figures.style import REAL_COLOUR, figure_style, np, palette_for, pd, plt, save_figures
from gan.report.registry import register_figure
from gan.wgan_examples import example1_closed_forms, load_npz

FAKE_COLOUR = "#0072B2"


def _colours() -> dict[str, str]:
    # the objectives' own colours: the GAN discriminator is objective gan's, the critics wgan's and wgan-gp's
    return palette_for(["gan", "wgan", "wgan-gp"])


# --- WGAN Example 1 / Figure 1 ------------------------------------------------------------------------------------

def example1_table(d: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"theta": d["theta"], "W": d["W"], "w_estimate_critic": d["w_estimate"], "JS": d["JS"],
                         "js_estimate_discriminator": d["js_estimate"], "KL": d["KL"], "TV": d["TV"]})


@register_figure(stem="wgan_example1", per="benchmark", stage="wgan_example1", caption="wgan_example1.rst")
def plot_wgan_example1(d: dict[str, Any], out_paths: Sequence[str | Path]) -> list[Path]:
    s, col = d["settings"], _colours()
    theta = np.asarray(d["theta"], dtype=float)
    lim = float(s["theta_max"])
    with figure_style():
        fig, (ax_w, ax_js) = plt.subplots(1, 2, figsize=(10, 3.9), layout="constrained")
        for side in (np.linspace(-lim, 0, 200)[:-1], np.linspace(0, lim, 200)[1:]):
            exact = example1_closed_forms(side)
            ax_w.plot(side, exact["W"], color="0.2", lw=1.6, label="W = |θ| (closed form)" if side[0] < 0 else None)
            ax_js.plot(side, exact["JS"], color="0.2", lw=1.6, label="JS (closed form)" if side[0] < 0 else None)
            ax_js.plot(side, exact["TV"], color="0.55", lw=1.2, ls="--", label="TV (closed form)" if side[0] < 0
                       else None)
        ax_js.plot([0], [0], "o", color="0.2", ms=5)  # the closed forms' value at theta = 0
        ax_w.plot(theta, d["w_estimate"], "D", color=col["wgan-gp"], ms=5, label="trained WGAN-GP critic")
        ax_js.plot(theta, d["js_estimate"], "o", color=col["gan"], ms=5, label="trained GAN discriminator")
        ax_js.text(0.03, 0.3, "KL(P_0 ‖ P_θ) = +∞ for θ ≠ 0, 0 at θ = 0", transform=ax_js.transAxes, fontsize=8.5)
        ax_w.set_title("Earth-Mover (Wasserstein-1) distance")
        ax_js.set_title("Jensen-Shannon divergence")
        for ax in (ax_w, ax_js):
            ax.set_xlabel("θ")
            ax.legend(loc="upper center", fontsize=8.5)
        ax_js.set_ylim(-0.05, 1.25)
        fig.suptitle(f"WGAN Figure 1 (Example 1): P_0 = (0, Z) vs P_θ = (θ, Z), Z ~ U[0, 1]; nets trained "
                     f"{s['steps']} updates at each of {len(theta)} θ", fontsize=10.5)
        return save_figures(fig, out_paths)


# --- WGAN Figure 2 ------------------------------------------------------------------------------------------------

def figure2_table(d: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"x": d["x"], "p_real": d["p_real"], "p_fake": d["p_fake"], "D": d["D"], "critic": d["f"],
                         "grad_minimax": d["grad_minimax"], "grad_nonsaturating": d["grad_nonsaturating"],
                         "grad_wgan": d["grad_wgan"]})


@register_figure(stem="wgan_figure2", per="benchmark", stage="wgan_figure2", caption="wgan_figure2.rst")
def plot_wgan_figure2(d: dict[str, Any], out_paths: Sequence[str | Path]) -> list[Path]:
    s, col = d["settings"], _colours()
    critic_colour = col["wgan" if s["constraint"] == "clipping" else "wgan-gp"]
    x = np.asarray(d["x"], dtype=float)
    with figure_style():
        fig, (ax, ax_g) = plt.subplots(2, 1, figsize=(7.5, 7), layout="constrained", sharex=True)
        scale = 1.0 / max(d["p_real"].max(), d["p_fake"].max())  # densities drawn on the [0, 1] axis
        ax.fill_between(x, d["p_real"] * scale, color=REAL_COLOUR, alpha=0.18, label="density real")
        ax.fill_between(x, d["p_fake"] * scale, color=FAKE_COLOUR, alpha=0.18, label="density fake")
        ax.plot(x, d["D"], color=col["gan"], lw=2, label="GAN discriminator D(x)")
        ax.set_ylabel("D(x), densities (scaled)")
        ax.set_ylim(-0.03, 1.05)
        twin = ax.twinx()
        twin.grid(False)
        setting = f"c = {s['clip_value']:g}" if s["constraint"] == "clipping" else f"λ = {s['gp_lambda']:g}"
        twin.plot(x, d["f"], color=critic_colour, lw=2, label=f"WGAN critic f(x) ({s['constraint']}, {setting})")
        twin.set_ylabel("critic f(x)")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="center left", fontsize=8.5)
        ax.set_title(f"JS estimate {d['js_estimate']:.3f} (log 2 = {np.log(2):.3f}); critic's W estimate "
                     f"{d['w_estimate']:.3g} (exact W1 {d['w1_exact']:g})", fontsize=9.5)
        for key, label, style in (("grad_minimax", "GAN, minimax: |d/dx log(1 − D(x))|", "-"),
                                  ("grad_nonsaturating", "GAN, non-saturating: |d/dx log D(x)|", ":"),
                                  ("grad_wgan", "WGAN: |d/dx f(x)|", "-")):
            g = np.abs(np.asarray(d[key], dtype=float))
            colour = critic_colour if key == "grad_wgan" else col["gan"]
            ax_g.plot(x, np.where(g > 0, g, np.nan), color=colour, ls=style, lw=2, label=label)
        ax_g.set_yscale("log")
        ax_g.axvspan(s["fake_mean"] - 2 * s["std"], s["fake_mean"] + 2 * s["std"], color=FAKE_COLOUR, alpha=0.1,
                     label="fake mean ± 2 std")
        ax_g.set_ylabel("generator's gradient at x (log)")
        ax_g.set_xlabel("x")
        ax_g.legend(loc="lower left", fontsize=8.5)
        fig.suptitle(f"WGAN Figure 2: N({s['real_mean']:g}, {s['std']:g}²) real vs N({s['fake_mean']:g}, "
                     f"{s['std']:g}²) fake; both nets trained {s['steps']} updates", fontsize=10.5)
        return save_figures(fig, out_paths)


# --- WGAN-GP Figure 1(b) ------------------------------------------------------------------------------------------

def figure1b_table(d: dict[str, Any]) -> pd.DataFrame:
    """The final per-layer gradient norms (layer 0 = the input) and weight statistics of every critic."""
    rows = []
    for i, label in enumerate(d["labels"]):
        w = np.asarray(d[f"weights_{i}"], dtype=float)
        c = float(d["clip_values"][i])
        at_bound = float(np.mean(np.isclose(np.abs(w), c, rtol=1e-3))) if np.isfinite(c) else float("nan")
        for layer, norm in enumerate(d["norms"][i, -1]):
            rows.append({"critic": str(label), "constraint": str(d["constraints"][i]), "clip_value": c,
                         "layer": layer, "grad_norm": float(norm), "weights_abs_max": float(np.abs(w).max()),
                         "weights_share_at_c": at_bound})
    return pd.DataFrame(rows)


def _log_positive(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(values > 0, values, np.nan)  # float32 underflow to exactly 0 has no place on a log axis


@register_figure(stem="wgangp_figure1b", per="benchmark", stage="wgangp_figure1b", caption="wgangp_figure1b.rst")
def plot_wgangp_figure1b(d: dict[str, Any], out_paths: Sequence[str | Path]) -> list[Path]:
    s = d["settings"]
    labels = [str(v) for v in d["labels"]]
    norms = np.asarray(d["norms"], dtype=float)
    colours = dict(zip(labels, ["#E69F00", "#D55E00", "#CC79A7", _colours()["wgan-gp"]]))
    if len(labels) > 4:
        colours = {lab: plt.get_cmap("tab10")(i) for i, lab in enumerate(labels)}
    with figure_style():
        fig = plt.figure(figsize=(12, 7.2), layout="constrained")
        gs = fig.add_gridspec(2, len(labels))
        top = gs[0, :].subgridspec(1, 2)
        ax_l, ax_t = fig.add_subplot(top[0, 0]), fig.add_subplot(top[0, 1])
        layers = np.arange(norms.shape[2])
        for i, lab in enumerate(labels):
            ax_l.plot(layers, _log_positive(norms[i, -1]), "o-", color=colours[lab], ms=4, label=lab)
            ax_t.plot(d["steps_measured"], _log_positive(norms[i, :, 0]), "-", color=colours[lab], label=lab)
        for ax in (ax_l, ax_t):
            ax.set_yscale("log")
        ax_l.set_xlabel("layer (0 = the input x; k = the k-th hidden ReLU layer's output)")
        ax_l.set_ylabel("mean ‖∂D(x)/∂h_k‖ at real points")
        ax_l.set_title(f"per-layer gradient norms after {s['steps']} updates")
        ax_l.legend(fontsize=8.5)
        ax_t.set_xlabel("critic updates")
        ax_t.set_ylabel("mean ‖∇_x D(x)‖ (layer 0)")
        ax_t.set_title("gradient norm at the input over training")
        for i, lab in enumerate(labels):
            ax = fig.add_subplot(gs[1, i])
            w = np.asarray(d[f"weights_{i}"], dtype=float)
            c = float(d["clip_values"][i])
            if np.isfinite(c):
                ax.hist(w, bins=61, color=colours[lab], alpha=0.85)
                share = np.mean(np.isclose(np.abs(w), c, rtol=1e-3))
                ax.set_title(f"{lab}: {share:.0%} of weights at ±c", fontsize=9.5)
            else:  # the middle 99.8 %: the few large output-layer weights would squeeze the rest into a few bins
                lo, hi = np.quantile(w, [0.001, 0.999])
                ax.hist(w, bins=61, range=(lo, hi), color=colours[lab], alpha=0.85)
                ax.set_title(f"{lab} (λ = {s['gp_lambda']:g}), middle 99.8 %", fontsize=9.5)
            ax.set_xlabel("weight")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
            if i == 0:
                ax.set_ylabel("count (every weight matrix)")
        fig.suptitle(f"WGAN-GP Figure 1(b): {s['depth']}-layer ReLU critics (width {s['width']}) on {s['dataset']} "
                     f"+ N(0, {s['noise_std']:g}²) noise, weight clipping vs gradient penalty", fontsize=10.5)
        return save_figures(fig, out_paths)


#: stage -> (draw, table)
DRAW = {"wgan_example1": (plot_wgan_example1, example1_table),
        "wgan_figure2": (plot_wgan_figure2, figure2_table),
        "wgangp_figure1b": (plot_wgangp_figure1b, figure1b_table)}


def stage_files(layout, stage: str) -> dict[str, str]:
    """{pdf, png, table_csv, table_html}: the files of `stage`'s registered figure (gan.layout's paths, the
    registry's stem); the table's .html is its page in the report."""
    from gan.report.registry import figure_spec

    spec = figure_spec(stage)
    return {**{fmt: layout.figure(spec.stem, fmt, spec.stage) for fmt in ("pdf", "png")},
            **{f"table_{fmt}": layout.figure_table(spec.stem, spec.stage, fmt) for fmt in ("csv", "html")}}


def make_paper_figure(stage: str, data: str | Path, *, figure_paths: Sequence[str | Path],
                      table_csv: str | Path, table_html: str | Path | None = None) -> dict[str, list[Path]]:
    """The figure, its CSV and the CSV's page (`table_html`) from the stage's npz (what the stage's figure rule
    calls)."""
    if stage not in DRAW:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(DRAW)}")
    draw, table = DRAW[stage]
    d = load_npz(data)
    rows = table(d)
    write_text(table_csv, rows.to_csv(index=False, lineterminator="\n"))
    written = [Path(table_csv)]
    if table_html is not None:
        from gan.report.tables import write_html

        written.append(write_html(rows, table_html, f"{stage}: the numbers behind the figure"))
    return {"figure": draw(d, figure_paths), "table": written}
