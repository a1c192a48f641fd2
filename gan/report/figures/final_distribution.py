"""Distribution of final scores (``final_distribution``): box + strip plot of the final-step headline score over
seeds per objective, one panel per dataset."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

from gan.report.figures.style import (aggregate, auto_log, datasets_in, empty_panel, figure_style, kilo, np,
                                      palette_for, panel_grid, pd, save_figures, sns, tables)
from gan.report.registry import register_figure


@register_figure(stem="final_distribution", per="benchmark", inputs=("scores",), caption="final_distribution.rst")
def final_distribution(out_paths, planned, options, *, scores):
    return plot_final_distribution(scores, out_paths, primary=options.primary, datasets=list(planned.datasets))


def plot_final_distribution(scores: pd.DataFrame, out_paths, *, primary=None,
                            datasets: Sequence[str] | None = None) -> list[Path]:
    """Box + strip plot of the final-step headline score over seeds, per objective; one panel per dataset.
    Diverged runs have no score; their count is written under the objective's name."""
    ds_list = datasets_in(scores, datasets)
    final = tables.final_step_rows(scores) if len(scores) else scores
    with figure_style():
        fig, axes = panel_grid(len(ds_list), extra_h=0.2)
        if not ds_list:
            empty_panel(axes.flat[0], "no scores")
        for ax, ds in zip(axes.flat, ds_list):
            m = aggregate.primary_metric(scores, ds, primary)
            sub = final[final["dataset"] == ds].copy()
            objs = aggregate.objective_order(sub["objective"].unique())
            pal = palette_for(objs)
            step = int(sub["step"].max()) if len(sub) else None
            ax.set_title(f"{ds}" + (f" · step {kilo(step)}" if step is not None else ""))
            if m is None:
                empty_panel(ax, "no scores")
                continue
            sub[m] = pd.to_numeric(sub[m], errors="coerce")
            labels = []
            for o in objs:
                s = sub[sub["objective"] == o]
                nd = int((s.get("run_status", pd.Series(dtype=object)) == "diverged").sum())
                nf = int(s[m].notna().sum())
                labels.append(f"{o}\nn={nf}" + (f", {nd} div." if nd else ""))
            fin = sub[np.isfinite(sub[m])]
            if fin.empty:
                empty_panel(ax, "no finite final scores")
                continue
            with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert`
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                sns.boxplot(data=fin, x="objective", y=m, order=objs, hue="objective", hue_order=objs,
                            palette=pal, legend=False, showfliers=False, width=0.55, boxprops={"alpha": 0.45},
                            linewidth=1.2, ax=ax)
            sns.stripplot(data=fin, x="objective", y=m, order=objs, hue="objective", hue_order=objs, palette=pal,
                          legend=False, jitter=0.12, size=6, linewidth=0.8, edgecolor="0.15", ax=ax)
            ax.set_xticks(range(len(objs)))
            ax.set_xticklabels(labels)
            ax.set_xlabel("objective (n = seeds with a final score)")
            ax.set_ylabel(aggregate.metric_spec(m).axis_label())
            auto_log(ax, fin[m])
        return save_figures(fig, out_paths)
