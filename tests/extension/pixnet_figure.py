"""A figure in one file (and its caption, pixnet_figure.rst beside it): the plugin metric `pixnet_gap` of every
run against generator iterations, one panel per dataset that has it."""
from pathlib import Path

from gan.report.figures.style import figure_style, palette_for, plt, save_figures
from gan.report.registry import register_figure


@register_figure(stem="pixnet_gap", per="benchmark", inputs=("scores",),
                 caption=str(Path(__file__).with_suffix(".rst").resolve()))
def pixnet_gap_figure(out_paths, planned, options, *, scores):
    data = scores[scores["pixnet_gap"].notna()] if "pixnet_gap" in scores else scores.iloc[0:0]
    datasets = sorted(data["dataset"].unique()) or ["(none)"]
    with figure_style():
        fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3), squeeze=False)
        pal = palette_for(sorted(data["objective"].unique()))
        for ax, ds in zip(axes[0], datasets):
            for (obj, seed), run in data[data["dataset"] == ds].groupby(["objective", "seed"]):
                run = run.sort_values("step")
                ax.plot(run["step"], run["pixnet_gap"], marker="o", color=pal[obj], label=f"{obj} seed {seed}")
            ax.set_title(ds)
            ax.set_xlabel("generator iterations")
            ax.set_ylabel("mean pixnet embedding gap")
            if len(data):
                ax.legend(fontsize=7)
        return save_figures(fig, out_paths)
