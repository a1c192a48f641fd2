"""Samples from a checkpoint: N of them, deterministic for a seed, batch by batch, into a compact file + a picture."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt
from . import atomic
from .datasets import dataset_spec, to_uint8
from .layout import RunFiles
from .utils import select_device


@torch.no_grad()
def generate(generator: torch.nn.Module, n: int, seed: int, batch_size: int = 1000,
             device: str | torch.device | None = None) -> torch.Tensor:
    """n samples on the CPU. Noise comes from its own CPU generator, so the result is the same on any device."""
    if n < 1:
        raise ValueError(f"number of samples must be positive, got {n}")
    device = torch.device(device) if device is not None else next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.eval()  # BatchNorm uses its running statistics: a sample never depends on its batch-mates
    out = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), generator.z_dim, generator=rng)
        out.append(generator(z.to(device)).float().cpu())
    generator.train(was_training)
    return torch.cat(out)


def to_storage(samples: torch.Tensor) -> tuple[str, np.ndarray]:
    """Images (N, C, H, W) in [-1, 1] -> uint8; 2-D points -> float32."""
    if samples.dim() == 2:
        return "points", samples.numpy().astype(np.float32)
    return "images", to_uint8(samples).numpy()


def save_samples(path: str | Path, kind: str, samples: np.ndarray, step: int, seed: int,
                 status: str = "ok", reason: str = "") -> None:
    atomic.save_npz(path, kind=np.array(kind), samples=samples, step=np.array(step), seed=np.array(seed),
                status=np.array(status), reason=np.array(reason))


def load_samples(path: str | Path) -> dict:
    """A samples file, checked (gan.atomic.load_npz): a damaged one names the sample job's index to delete."""
    path = Path(path)
    index = RunFiles(path.parents[1]).samples_index  # samples/stepN.npz of a run folder
    f = atomic.load_npz(path, ("kind", "samples", "step", "seed", "status", "reason"),
                        atomic.rerun_remedy("sample", path, index))
    return {"kind": str(f["kind"]), "samples": f["samples"], "step": int(f["step"]), "seed": int(f["seed"]),
            "status": str(f["status"]), "reason": str(f["reason"])}


def save_picture(path: str | Path, kind: str, samples: np.ndarray, title: str = "", max_images: int = 64) -> None:
    """A PNG grid of images, or a scatter of 2-D points on [-3, 3]^2."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if kind == "images":
        from torchvision.utils import make_grid

        images = torch.from_numpy(samples[:max_images])
        nrow = int(np.ceil(np.sqrt(len(images))))
        grid = make_grid(images, nrow=nrow, padding=1, pad_value=255).permute(1, 2, 0).numpy()
        from PIL import Image
        with atomic.atomic_path(path) as tmp:
            Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).save(tmp, format="PNG")
        return
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if len(samples):
        ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.5, color="tab:orange")
    else:
        ax.text(0, 0, title or "no samples", ha="center", va="center")
    ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal", title=title)
    atomic.save_figure(fig, path, bbox_inches="tight")
    plt.close(fig)


#: a preview's samples: an 8 x 8 grid of images; enough 2-D points to show which modes are covered
PREVIEW_IMAGES, PREVIEW_POINTS = 64, 1000


def preview_seed(run_seed: int) -> int:
    """The seed of a run's preview noise: apart from every run seed (the weights' draws) and from the image batches'
    order seeds (run seed * 1_000_003 + epoch), so the preview noise is correlated with nothing the run draws."""
    return 2**62 + int(run_seed)


def save_preview(generator: torch.nn.Module, kind: str, run_seed: int, path: str | Path, title: str = "") -> None:
    """The picture of a generator in training (gan.training): G of one fixed noise batch, the same at every step,
    drawn by `save_picture` as the evaluation's pictures are (`kind`: the dataset's, "points" | "images").
    `generate` draws the noise from its own generator, in eval mode without gradients, and restores the module's
    mode: the training's random states, weights and BatchNorm statistics are untouched (bitwise resume holds)."""
    n = PREVIEW_POINTS if kind == "points" else PREVIEW_IMAGES
    kind, data = to_storage(generate(generator, n, preview_seed(run_seed), batch_size=n))
    save_picture(path, kind, data, title=title, max_images=n)


def sample_checkpoint(run_dir: str | Path, step: int, n: int, seed: int, out: str | Path,
                      picture: str | Path | None = None, batch_size: int = 1000, device: str = "auto") -> dict:
    """Samples of a run's checkpoint at `step`; a run that diverged before `step` yields a file marked missing."""
    run_dir = Path(run_dir)
    path = ckpt.step_path(run_dir, step)
    if not path.exists():
        summary_path = RunFiles(run_dir).summary
        summary = atomic.read_summary(run_dir) if summary_path.exists() else {}
        if summary.get("status") == "diverged" and summary.get("steps_done", 0) < step:
            reason = f"diverged at step {summary.get('diverged_step')}"
            config = summary["config"]
            kind = dataset_spec(config["dataset"], **config.get("dataset_options", {})).kind
            empty = np.zeros((0, 2), np.float32) if kind == "points" else np.zeros((0, 1, 1, 1), np.uint8)
            save_samples(out, kind, empty, step, seed, status="missing", reason=reason)
            if picture:
                save_picture(picture, "points", np.zeros((0, 2), np.float32), title=f"no samples: {reason}")
            return {"status": "missing", "reason": reason}
        raise FileNotFoundError(f"no checkpoint for step {step} in {run_dir / 'checkpoints'} "
                                f"(and the run did not diverge before it)")
    run = ckpt.load_run(path, device=select_device(device))
    kind, data = to_storage(generate(run.generator, n, seed, batch_size=batch_size))
    save_samples(out, kind, data, step, seed)
    if picture:
        title = f"{run.config.get('dataset_entry') or run.config['dataset']} " \
                f"{run.config.get('objective_entry') or run.config['objective']} step {step}"
        save_picture(picture, kind, data, title=title)
    return {"status": "ok", "n": n}


def save_sample_sheet(pictures: dict[int, str | Path], out: str | Path, title: str = "") -> None:
    """The pictures of a run's checkpoints side by side, each titled with its step (at most 6 per row)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted(pictures)
    cols = min(len(steps), 6) or 1
    rows = max(1, -(-len(steps) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.8 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, step in zip(axes.flat, steps):
        ax.imshow(plt.imread(pictures[step]), cmap="gray")
        ax.set_title(f"step {step}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    atomic.save_figure(fig, out, bbox_inches="tight", dpi=100)
    plt.close(fig)


def sample_run(run_dir: str | Path, steps: list[int], n: int, seed: int, index: str | Path | None = None,
               batch_size: int = 1000, device: str = "auto", sheet: str | Path | None = None) -> dict:
    """Every checkpoint of a run at `steps`: its samples and picture (the per-checkpoint files of CONTRACTS.md,
    as :func:`sample_checkpoint` writes them), then the index listing them (the `sample` rule's declared output).

    The retry of an interrupted call keeps the checkpoints it finished (gan.progress): each checkpoint's files are
    reused when the checkpoint, the settings and the code are those they were made with. `sheet`: also every
    checkpoint's picture side by side in one PNG (the run's page of the Snakemake report)."""
    from .progress import StepProgress

    files = RunFiles(run_dir)
    start = time.time()
    progress = StepProgress(files.progress("samples"), {"n": n, "eval_seed": seed, "batch_size": batch_size},
                            inputs=[files.summary])
    entries, reused = {}, []
    for step in sorted(int(s) for s in steps):
        # a checkpoint that does not exist (the run diverged before it) yields a "missing" file from the summary
        source = files.checkpoint(step) if files.checkpoint(step).exists() else files.summary
        made = [files.samples(step), files.picture(step)]
        result = progress.reusable(step, source)
        if result is None:
            result = sample_checkpoint(run_dir, step, n, seed, made[0], made[1], batch_size=batch_size,
                                       device=device)
            progress.record(step, source, made, result)
        else:
            reused.append(step)
        entries[str(step)] = {**result, "samples": str(made[0]), "picture": str(made[1])}
    if sheet is not None:
        summary = atomic.read_summary(files.dir) if files.summary.exists() else {}
        save_sample_sheet({int(k): v["picture"] for k, v in entries.items()}, sheet,
                          title=f"{summary.get('dataset', '')} {summary.get('objective', '')} seed "
                                f"{summary.get('seed', '')}".strip())
    out = {"run_dir": str(run_dir), "n": n, "eval_seed": seed, "steps": entries, "reused_steps": reused,
           "time_s": round(time.time() - start, 3)}
    atomic.write_json(index if index is not None else files.samples_index, out)
    progress.finish()
    return out
