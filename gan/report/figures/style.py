"""What every figure shares: the style, the objectives' colours and markers, saving, panel helpers, and the
declared input files (read with their identity as data, never parsed from a path).

Every helper takes data frames / arrays in and output paths out (the suffix of each path picks the format),
tolerates NaN scores (diverged runs), a single seed and a single dataset, and never raises on a missing run
file: the panel says what is missing instead. matplotlib, seaborn and pandas are imported on first use
(:func:`lazy`): the DAG imports the figure modules for their registrations only.
"""
from __future__ import annotations

import contextlib
import importlib
import math
import warnings
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from gan.atomic import save_figure
from gan.objectives import objective_display


class lazy:  # noqa: N801 (reads as the module it stands for)
    """A module imported on first attribute access."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


np = lazy("numpy")
pd = lazy("pandas")
matplotlib = lazy("matplotlib")
plt = lazy("matplotlib.pyplot")
sns = lazy("seaborn")
mlines = lazy("matplotlib.lines")
patches = lazy("matplotlib.patches")
ticker = lazy("matplotlib.ticker")
aggregate = lazy("gan.report.aggregate")
stats = lazy("gan.report.stats")
tables = lazy("gan.report.tables")

#: spare colours (Okabe-Ito's others) and markers of an objective whose registration declares none
SPARE_COLOURS = ("#D55E00", "#56B4E9", "#000000", "#F0E442", "#999999")
SPARE_MARKERS = ("^", "P", "X", "*", "h")
REAL_COLOUR = "#222222"
DPI = 150
PANEL_W, PANEL_H = 4.3, 3.3


def _fallback(objective: str, spares: Sequence[str]) -> str:
    # from the name, so that an objective keeps its colour in every figure, whichever others it is drawn with
    return spares[zlib.crc32(objective.encode()) % len(spares)]


def palette_for(objectives: Iterable[str]) -> dict[str, str]:
    """Colour of every objective: its registration's (gan.objectives.Display), else a spare one from its name."""
    return {o: objective_display(o).colour or _fallback(o, SPARE_COLOURS)
            for o in aggregate.objective_order(objectives)}


def markers_for(objectives: Iterable[str]) -> dict[str, str]:
    """Marker of every objective: its registration's, else a spare one from its name."""
    return {o: objective_display(o).marker or _fallback(o, SPARE_MARKERS)
            for o in aggregate.objective_order(objectives)}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Seaborn whitegrid, readable fonts, embeddable PDF fonts; restores the previous rcParams afterwards."""
    rc = {"pdf.fonttype": 42, "ps.fonttype": 42, "savefig.dpi": DPI, "figure.dpi": 100, "legend.frameon": False,
          "axes.titlesize": 11.5, "axes.labelsize": 11, "xtick.labelsize": 9.5, "ytick.labelsize": 9.5,
          "legend.fontsize": 10.5, "axes.titlepad": 6.0}
    with sns.axes_style("whitegrid"), sns.plotting_context("paper"), matplotlib.rc_context(rc):
        yield


def _paths(out_paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(out_paths, (str, Path)):
        return [Path(out_paths)]
    return [Path(p) for p in out_paths]


def save_figures(fig, out_paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Save `fig` to every path (format from the suffix) atomically and close it."""
    paths = _paths(out_paths)
    try:
        for p in paths:
            save_figure(fig, p, dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    finally:
        plt.close(fig)
    return paths


def legend_handles(objectives: Sequence[str], line: bool = True) -> list:
    pal, mk = palette_for(objectives), markers_for(objectives)
    return [mlines.Line2D([], [], color=pal[o], marker=mk[o], linestyle="-" if line else "", markersize=6,
                          linewidth=2 if line else 0, label=o) for o in aggregate.objective_order(objectives)]


def figure_legend(fig, handles: list, ncol: int | None = None, title: str | None = "objective") -> None:
    """A legend below all panels (constrained layout keeps it outside the axes)."""
    if not handles:
        return
    # a tuple handle (a band and its centre line) draws its parts on top of each other; it carries no label
    labels = [h[-1].get_label() if isinstance(h, tuple) else h.get_label() for h in handles]
    fig.legend(handles=handles, labels=labels, loc="outside lower center", ncol=ncol or min(len(handles), 6),
               title=title, frameon=False, columnspacing=1.4, handlelength=2.2)


def kilo(x: float, _pos=None) -> str:
    if abs(x) >= 1000:
        v = x / 1000
        return f"{v:.0f}k" if float(v).is_integer() else f"{v:.1f}k"
    return f"{x:g}"


def panel_grid(n: int, max_cols: int = 3, w: float = PANEL_W, h: float = PANEL_H, extra_h: float = 0.7,
               **kwargs) -> tuple[Any, np.ndarray]:
    n = max(n, 1)
    ncols = min(n, max_cols)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows + extra_h), squeeze=False,
                             layout="constrained", **kwargs)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def empty_panel(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="0.35",
            wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def auto_log(ax, values: pd.Series) -> None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    v = v[np.isfinite(v)]
    if len(v) and (v > 0).all() and v.max() / v.min() > 30:
        ax.set_yscale("log")


def datasets_in(df: pd.DataFrame, datasets: Sequence[str] | None) -> list[str]:
    present = sorted(df["dataset"].dropna().unique()) if "dataset" in df and len(df) else []
    return [d for d in datasets if d in present] if datasets is not None else present


def mean_band(ax, band: pd.DataFrame, x: str, color: str, marker: str | None = None,
              seeds: pd.DataFrame | None = None, y: str | None = None) -> None:
    """Mean line (with markers) and its t-interval band, from :func:`gan.report.stats.band_over_seeds`. Where the
    band has too few seeds (no interval), `seeds` (rows with `seed`, `x` and `y`) are drawn as thin lines instead,
    so the spread is shown rather than hidden."""
    band = band.sort_values(x)
    ax.plot(band[x], band["mean"], color=color, marker=marker, markersize=6 if marker else 0, linewidth=1.8)
    ax.fill_between(band[x], band["low"], band["high"], color=color, alpha=0.18, linewidth=0)
    if seeds is not None and y is not None and len(band) and band["low"].isna().all():
        for _, run in seeds.groupby("seed"):
            run = run.sort_values(x)
            ax.plot(run[x], run[y], color=color, linewidth=0.8, alpha=0.55, linestyle=":")


def floor_legend_handle():
    """The legend entry of the real-vs-real floor as the panels draw it: a grey band with a dashed centre line."""
    return (patches.Patch(color="0.5", alpha=0.25, linewidth=0),
            mlines.Line2D([], [], color="0.35", linewidth=1.0, linestyle="--", label="real data (floor): mean ± std"))


def as_points(x) -> np.ndarray:
    if x is None:
        return np.zeros((0, 2))
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=float)
    return x.reshape(-1, 2) if x.size else np.zeros((0, 2))


# --- declared input files ---------------------------------------------------------------------------------------

class InputFiles:
    """The per-run files a figure plots, each given with its identity.

    `records`: dicts with "dataset", "objective", "seed", "step" and "path" (what the figures rule declares and
    passes as params, aligned with its file lists). Files are read on first use and cached.
    """

    def __init__(self, records: Iterable[dict] = (), reader: Callable[[Path], dict] | None = None):
        self._paths: dict[tuple[str, str, int, int], Path] = {}
        for r in records:
            key = (str(r["dataset"]), str(r["objective"]), int(r["seed"]), int(r["step"]))
            self._paths[key] = Path(r["path"])
        self._reader = reader or read_npz
        self._cache: dict[tuple, dict | None] = {}

    def __len__(self) -> int:
        return len(self._paths)

    def objectives(self, dataset: str | None = None) -> set[str]:
        return {k[1] for k in self._paths if dataset in (None, k[0])}

    def seeds(self, dataset: str, objective: str) -> list[int]:
        return sorted({k[2] for k in self._paths if k[:2] == (dataset, objective)})

    def steps(self, dataset: str, objective: str | None = None, seed: int | None = None) -> list[int]:
        return sorted({k[3] for k in self._paths if k[0] == dataset and objective in (None, k[1])
                       and seed in (None, k[2])})

    def get(self, dataset: str, objective: str, seed: int, step: int | None = None) -> dict | None:
        """The file of that run at `step` (default: its last step) as a dict; None when not given."""
        if step is None:
            steps = self.steps(dataset, objective, seed)
            if not steps:
                return None
            step = steps[-1]
        key = (dataset, objective, int(seed), int(step))
        if key not in self._paths:
            return None
        if key not in self._cache:
            try:
                d = self._reader(self._paths[key])
                d.setdefault("step", int(step))
                self._cache[key] = d
            except (OSError, ValueError, KeyError) as exc:  # a declared file that cannot be read: say so
                self._cache[key] = {"status": "missing", "reason": f"unreadable: {type(exc).__name__}: {exc}",
                                    "step": int(step)}
        return self._cache[key]


def read_npz(path: str | Path) -> dict:
    """Every array of an npz; 0-d string arrays (kind, status, reason) as str, 0-d numbers as Python numbers."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    for k, v in list(out.items()):
        if v.ndim == 0:
            out[k] = str(v) if v.dtype.kind in "US" else v.item()
    return out


def pick_seed(runs: pd.DataFrame, files: InputFiles, dataset: str, objective: str, seed: int | None
              ) -> tuple[int | None, str]:
    """(seed, run status) of the run a one-seed figure shows: `seed`, else the lowest finished seed of runs.csv,
    else the lowest seed with files."""
    sub = runs[(runs["dataset"] == dataset) & (runs["objective"] == objective)] if len(runs) else runs
    status = {int(r["seed"]): str(r.get("status", "")) for _, r in sub.iterrows()} if len(sub) else {}
    if seed is not None:
        return int(seed), status.get(int(seed), "")
    fin = sorted(s for s, st in status.items() if st == "finished")
    if fin:
        return fin[0], "finished"
    if status:
        s = min(status)
        return s, status[s]
    seeds = files.seeds(dataset, objective)
    return (seeds[0], "") if seeds else (None, "")


def objectives_in(runs: pd.DataFrame, *files: InputFiles, dataset: str | None = None) -> list[str]:
    objs = set(runs.loc[runs["dataset"] == dataset, "objective"] if dataset is not None else runs["objective"]) \
        if len(runs) else set()
    for f in files:
        objs |= f.objectives(dataset)
    return aggregate.objective_order(o for o in objs if isinstance(o, str))


def load_table(path: str | Path | None, empty_when_missing: bool = True) -> pd.DataFrame | None:
    """An aggregate table; no file: an empty table with the identity columns (or None, e.g. no floors)."""
    if not empty_when_missing:
        return aggregate.read_table(path) if path is not None and Path(path).exists() else None
    df = aggregate.read_table(path) if path is not None and Path(path).exists() else pd.DataFrame()
    for col in ("dataset", "objective", "seed"):
        if col not in df:
            df[col] = pd.Series(dtype=object if col != "seed" else int)
    return df


def load_points(records: Iterable[dict]) -> dict[str, np.ndarray]:
    """{dataset: real points} from the records {"dataset", "path"} of reference npz files (array ``points``)."""
    real = {}
    for r in records:
        try:
            real[str(r["dataset"])] = np.asarray(read_npz(r["path"])["points"], dtype=float)
        except (OSError, ValueError, KeyError) as exc:  # the panel shows no real points; the log says why
            warnings.warn(f"real points of {r['dataset']} from {r['path']}: {exc}", stacklevel=2)
    return real
