"""Figures as registered units (gan.report.registry): a figure is one decorated function; the DAG's plan
(figures_stage) and make_figures read the same registrations, a plugin file adds one, and each objective is drawn
in the colour and marker its own registration declares."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import yaml

from gan import objectives as objective_registry
from gan.layout import Layout
from gan.report import registry
from gan.report.inputs import Benchmark
from workflow_helpers import ROOT

PLUGIN = '''
from pathlib import Path

from gan.report.figures.style import empty_panel, figure_style, plt, save_figures
from gan.report.registry import register_figure


@register_figure(stem="last_samples_{dataset}_{objective}_seed{seed}", per="run", inputs=("samples",),
                 caption=str(Path(__file__).with_name("last_samples.rst")))
def last_samples(out_paths, planned, options, *, samples):
    with figure_style():
        fig, ax = plt.subplots(figsize=(3, 3))
        found = samples.get(planned.datasets[0], planned.objective, planned.seed)
        reason = "no samples" if found is None else found.get("reason", "")
        empty_panel(ax, f"{planned.objective} seed {planned.seed}: {reason}")
        return save_figures(fig, out_paths)
'''


@pytest.fixture
def fresh_registry(monkeypatch):
    """Registrations made by a test stay in the test."""
    registry.figure_specs()  # the package's figures, registered once
    monkeypatch.setattr(registry, "FIGURES", dict(registry.FIGURES))
    monkeypatch.setattr(objective_registry, "OBJECTIVES", dict(objective_registry.OBJECTIVES))


def _noop(out_paths, planned, options):
    return out_paths


def test_a_stem_registered_twice_is_refused(fresh_registry):
    with pytest.raises(ValueError, match="'samples_{dataset}'.*already registered by gan.report.figures.samples"):
        registry.register_figure(stem="samples_{dataset}", per="dataset", caption="samples.rst")(_noop)
    with pytest.raises(ValueError, match="unknown input 'checkpoints'"):
        registry.register_figure(stem="other", per="benchmark", inputs=("checkpoints",), caption="x.rst")(_noop)
    with pytest.raises(ValueError, match=r"per dataset has a stem with exactly \{dataset\}"):
        registry.register_figure(stem="no_placeholder", per="dataset", caption="x.rst")(_noop)
    with pytest.raises(ValueError, match="per 'checkpoint'; valid: benchmark, dataset, run"):
        registry.register_figure(stem="other", per="checkpoint", caption="x.rst")(_noop)
    assert "other" not in registry.FIGURES and "no_placeholder" not in registry.FIGURES


def test_two_figures_drawing_one_file_are_refused_when_planned(fresh_registry):
    # "samples_{dataset}" of dataset "strip_x" is "samples_strip_{dataset}" of dataset "x"
    with pytest.raises(ValueError, match="'samples_{dataset}' and 'samples_strip_{dataset}' both draw "
                                         "'samples_strip_x'"):
        registry.plan_figures(["x", "strip_x"])


def test_the_package_plan_is_the_figures_of_before():
    """The stems the figure family list of gan.layout used to give (now: the registrations)."""
    plan = registry.plan_figures(["8gaussians", "digits"], ["8gaussians"])
    assert sorted(p.stem for p in plan) == sorted(
        ["convergence_steps", "convergence_wallclock", "final_distribution", "critic_8gaussians", "critic_digits",
         "samples_8gaussians", "samples_digits", "samples_strip_8gaussians", "samples_strip_digits",
         "toy_critics"])
    assert "toy_critics" not in {p.stem for p in registry.plan_figures(["digits"])}
    assert registry.figure_spec("critic_{dataset}").caption == "critic.rst"
    # the samples figures' real-data panel reads the prepared data file, a declared input like the samples
    for stem in ("samples_{dataset}", "samples_strip_{dataset}"):
        assert registry.figure_spec(stem).inputs == ("runs", "samples", "real_data")
    # Figure 1(a) is registered the same way, as the figure of a stage of its own
    assert "figure1a" not in {p.stem for p in plan} and registry.figure_spec("figure1a").stage == "figure1a"


def test_a_plugin_figure_is_planned_by_the_dags_helper_and_drawn_by_make_figures(fresh_registry, tmp_path):
    from gan.grid import BenchmarkGrid
    from gan.report import make_figures

    plugin = tmp_path / "plugin" / "last_samples.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN)
    plugin.with_name("last_samples.rst").write_text("The final samples of one run.\n")
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config.update(plugins=[str(plugin)], results_dir=str(tmp_path / "results"), seeds=[0, 1],
                  datasets={"8gaussians": config["datasets"]["8gaussians"]})  # a small grid: few figures to draw
    grid = BenchmarkGrid(config)  # loads the plugin, as common.smk's grid does
    stage = registry.figures_stage(Benchmark.from_grid(grid), formats=("png",))  # what common.smk asks

    mine = [p for p in stage.plan if p.spec.draw.__name__ == "last_samples"]
    assert [(p.datasets[0], p.objective, p.seed) for p in mine] == grid.runs()  # one per run
    layout = Layout(str(tmp_path / "results"))
    first = layout.figure("last_samples_8gaussians_gan_seed0", "png")
    reported = {out.path: out for out in stage.outputs}
    assert reported[first].caption == str(plugin.with_name("last_samples.rst"))  # beside the plugin
    assert reported[first].labels == {"figure": "last_samples_8gaussians_gan_seed0", "format": "png"}
    assert reported[layout.figure("convergence_steps", "png")].caption == "../report/convergence_steps.rst"

    from gan.datasets import prepare_dataset

    assert stage.inputs["real_data"] == [layout.prepared("8gaussians")]  # prepare_data's output
    prepare_dataset(grid.dataset_entries["8gaussians"].spec, layout.downloads, layout.prepared("8gaussians"))
    out = make_figures(root=layout.root, datasets=grid.datasets, toy_datasets=grid.toy_datasets, runs=grid.runs(),
                       inputs=stage.values, formats=("png",))
    written = {str(p) for paths in out.values() for p in paths}
    assert written == set(reported)  # exactly the declared files, the plugin's among them
    assert (tmp_path / "results" / "figures" / "last_samples_8gaussians_wgan-gp_seed1.png").stat().st_size > 0


def test_the_dag_reads_the_registrations_without_plotting_libraries(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from gan.layout import Layout
        from gan.report.inputs import Benchmark
        from gan.report.registry import figures_stage
        b = Benchmark(layout=Layout({str(tmp_path)!r}), datasets=["8gaussians"], toy_datasets=["8gaussians"],
                      runs=[("8gaussians", "gan", 0)], checkpoint_steps={{"8gaussians": [10, 20]}},
                      references={{"8gaussians": "ref.npz"}})
        assert figures_stage(b).outputs
        print(sorted(m for m in ("matplotlib", "pandas", "seaborn", "scipy", "torch") if m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]"


# --- objectives are drawn as their registrations say -----------------------------------------------------------


def test_builtin_objectives_keep_their_colours_markers_and_order():
    from gan.report.aggregate import objective_order
    from gan.report.figures.style import markers_for, palette_for

    objs = ["wgan-gp", "gan", "zeta", "wgan", "gan-minimax", "alpha"]
    assert objective_order(objs) == ["gan", "gan-minimax", "wgan", "wgan-gp", "alpha", "zeta"]
    assert palette_for(["gan", "gan-minimax", "wgan", "wgan-gp"]) == {
        "gan": "#0072B2", "gan-minimax": "#CC79A7", "wgan": "#E69F00", "wgan-gp": "#009E73"}
    assert markers_for(["gan", "gan-minimax", "wgan", "wgan-gp"]) == {
        "gan": "o", "gan-minimax": "v", "wgan": "s", "wgan-gp": "D"}


def test_a_registered_display_is_drawn_and_an_objective_without_one_gets_a_stable_fallback(fresh_registry,
                                                                                           tmp_path):
    from gan.report.aggregate import objective_order
    from gan.report.figures.convergence import plot_convergence
    from gan.report.figures.style import SPARE_COLOURS, markers_for, palette_for

    @objective_registry.register_objective
    @dataclass
    class Plotted(objective_registry.WGAN):
        name: ClassVar[str] = "plotted"
        display: ClassVar = objective_registry.Display(colour="#AA0000", marker="p", order=-1)

    @objective_registry.register_objective
    @dataclass
    class Plain(objective_registry.WGAN):  # declares no display: not drawn in its parent's orange
        name: ClassVar[str] = "plain"

    assert objective_order(["gan", "plain", "plotted"]) == ["plotted", "gan", "plain"]
    assert palette_for(["plotted"]) == {"plotted": "#AA0000"} and markers_for(["plotted"]) == {"plotted": "p"}
    fallback = palette_for(["plain"])["plain"]
    assert fallback in SPARE_COLOURS and fallback != palette_for(["wgan"])["wgan"]
    # from the name alone: the same colour whichever objectives it is drawn with
    assert palette_for(["plain", "gan", "variant-a", "variant-b"])["plain"] == fallback

    import pandas as pd

    scores = pd.DataFrame([{"dataset": "d", "objective": o, "seed": s, "step": step, "wall_clock_s": step,
                            "fid": 10.0 / step + s} for o in ("plotted", "gan") for s in (0, 1)
                           for step in (1, 2, 3)])
    plot_convergence(scores, [tmp_path / "c.png"], primary="fid")
    from PIL import Image

    pixels = np.asarray(Image.open(tmp_path / "c.png").convert("RGB")).reshape(-1, 3)
    assert (pixels == (0xAA, 0, 0)).all(axis=1).sum() > 50  # the declared colour is on the page
