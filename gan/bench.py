"""Speed: generator iterations per second of each objective, fed from the in-memory tensor and the usual way.

"The usual way" is a torchvision dataset of PIL images with per-sample ToTensor/Normalize transforms behind a
DataLoader; everything else (models, objective, optimisers, batch size) is the same loop. Beside both, the same
algorithm as a plain hand-written loop (what a user writes from the paper: no objective classes, no metrics
recording, no divergence tracking), on the same models, optimisers and in-memory batches: the project's loop
must be no slower than it.

`bench_dag` times the other thing a user waits for: `snakemake -n` on a config (the DAG build and the dry-run
listing), in a fresh process as users run it.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from .config import TrainConfig, resolve
from .datasets import dataset_spec, get_dataset
from .training import TensorBatches, ToyBatches, build_trainer, configure_backend
from .utils import device_description, seed_everything, select_device


class _PILImages(torch.utils.data.Dataset):
    """uint8 images served as PIL images, as torchvision's datasets do, through per-sample transforms."""

    def __init__(self, uint8_nchw: torch.Tensor, transform):
        self.images = uint8_nchw.permute(0, 2, 3, 1).numpy()
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image
        img = self.images[i]
        return self.transform(Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img)), 0


def _dataloader_batches(images_uint8: torch.Tensor, batch_size: int, seed: int, device: torch.device,
                        num_workers: int):
    from torchvision import transforms

    c = images_uint8.shape[1]
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5] * c, [0.5] * c)])
    loader = torch.utils.data.DataLoader(
        _PILImages(images_uint8, tf), batch_size=batch_size, shuffle=True, drop_last=True,
        num_workers=num_workers, pin_memory=device.type == "cuda", persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed))
    state = {"it": iter(loader)}

    def next_batch():
        try:
            x, _ = next(state["it"])
        except StopIteration:
            state["it"] = iter(loader)
            x, _ = next(state["it"])
        return x.to(device, non_blocking=True)

    return next_batch


def bench_images(dataset: str) -> torch.Tensor:
    """Real images when they are on disk (digits always is); 'mnist-shaped' random data otherwise."""
    if dataset.endswith("-shaped"):
        shape = dataset_spec(dataset.removesuffix("-shaped")).shape
        return torch.randint(0, 256, (10_000, *shape), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return get_dataset(dataset).images_uint8()


def _time(trainer, steps: int, warmup: int, device: torch.device) -> float:
    for i in range(warmup):
        trainer.step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        trainer.step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


class _HandWritten:
    """GAN / WGAN / WGAN-GP written out as in the papers' algorithms, for timing only (independent of
    gan.objectives on purpose: it is the baseline the project's Trainer is measured against)."""

    def __init__(self, cfg: TrainConfig, next_batch, device: torch.device):
        from .models import build_models

        hp = cfg.hyperparameters
        self.kind, self.hp, self.next_batch, self.device = cfg.objective, hp, next_batch, device
        self.g, self.d = (m.to(device) for m in build_models(cfg.model_config()))
        opt = (lambda p: torch.optim.RMSprop(p, lr=hp["lr"])) if hp["optimizer"] == "rmsprop" else \
            (lambda p: torch.optim.Adam(p, lr=hp["lr"], betas=tuple(hp["betas"])))
        self.opt_g, self.opt_d = opt(self.g.parameters()), opt(self.d.parameters())
        self.batch = cfg.batch_size

    def step(self, _step: int) -> None:
        import torch.nn.functional as F

        for _ in range(self.hp["n_critic"]):
            real = self.next_batch()
            with torch.no_grad():
                fake = self.g(torch.randn(self.batch, self.g.z_dim, device=self.device))
            if self.kind == "gan":
                d_real, d_fake = self.d(real), self.d(fake)
                loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
                    F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            else:
                loss = self.d(fake).mean() - self.d(real).mean()
                if self.kind == "wgan-gp":
                    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=self.device)
                    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
                    (g,) = torch.autograd.grad(self.d(x).sum(), x, create_graph=True)
                    loss = loss + self.hp["gp_lambda"] * ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
            self.opt_d.zero_grad()
            loss.backward()
            self.opt_d.step()
            if self.kind == "wgan":
                with torch.no_grad():
                    for p in self.d.parameters():
                        p.clamp_(-self.hp["clip_value"], self.hp["clip_value"])
        scores = self.d(self.g(torch.randn(self.batch, self.g.z_dim, device=self.device)))
        loss_g = F.binary_cross_entropy_with_logits(scores, torch.ones_like(scores)) if self.kind == "gan" \
            else -scores.mean()
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()


HAND_WRITTEN = ("gan", "wgan", "wgan-gp")


def run_bench(dataset: str, model: str | None, objectives: list[str], steps: int = 50, warmup: int = 5,
              batch_size: int = 64, device: str = "auto", num_workers: int = 0, seed: int = 0,
              compare_dataloader: bool = True, **overrides) -> list[dict]:
    """Generator iterations per second for each objective; with the DataLoader loop beside it for images."""
    dev = select_device(device)
    toy = dataset_spec(dataset.removesuffix("-shaped")).kind == "points"
    images = None if toy else bench_images(dataset)
    config_dataset = dataset.removesuffix("-shaped")
    results = []
    for objective in objectives:
        cfg = resolve(TrainConfig(dataset=config_dataset, objective=objective, model=model, steps=steps + warmup,
                                  batch_size=batch_size, device=device, seed=seed, **overrides))
        configure_backend(cfg, dev)
        feeds = {}
        if toy:
            feeds["in-memory"] = ToyBatches(get_dataset(dataset), batch_size, seed, dev).next
        else:
            from .datasets import from_uint8
            feeds["in-memory"] = TensorBatches(from_uint8(images), batch_size, seed, dev).next
            if compare_dataloader:
                feeds["dataloader"] = _dataloader_batches(images, batch_size, seed, dev, num_workers)
        row = {"dataset": dataset, "model": cfg.model, "objective": objective, "n_critic": cfg.hyperparameters["n_critic"],
               "batch_size": batch_size, "device": device_description(dev), "steps": steps}
        for feed, next_batch in feeds.items():
            seed_everything(seed)
            row[f"it_per_s_{feed}"] = _time(build_trainer(cfg, next_batch, dev), steps, warmup, dev)
        if objective in HAND_WRITTEN and not cfg.hyperparameters.get("critic_boost"):
            seed_everything(seed)
            row["it_per_s_handwritten"] = _time(_HandWritten(cfg, feeds["in-memory"], dev), steps, warmup, dev)
            row["vs_handwritten"] = row["it_per_s_in-memory"] / row["it_per_s_handwritten"]
        if "it_per_s_dataloader" in row:
            row["speedup"] = row["it_per_s_in-memory"] / row["it_per_s_dataloader"]
        results.append(row)
    return results


def format_table(rows: list[dict]) -> str:
    lines = [f"{'dataset':<16} {'model':<6} {'objective':<12} {'n_critic':>8} {'in-memory it/s':>15} "
             f"{'hand-written it/s':>18} {'ours/hand':>9} {'DataLoader it/s':>16} {'ours/DL':>7}"]
    for r in rows:
        dl, hw = r.get("it_per_s_dataloader"), r.get("it_per_s_handwritten")
        lines.append(f"{r['dataset']:<16} {r['model']:<6} {r['objective']:<12} {r['n_critic']:>8} "
                     f"{r['it_per_s_in-memory']:>15.2f} {'' if hw is None else f'{hw:.2f}':>18} "
                     f"{'' if hw is None else format(r['vs_handwritten'], '.2f'):>9} "
                     f"{'' if dl is None else f'{dl:.2f}':>16} "
                     f"{'' if dl is None else format(r['speedup'], '.2f'):>7}")
    lines.append(f"device: {rows[0]['device']}, batch {rows[0]['batch_size']}, {rows[0]['steps']} timed iterations"
                 if rows else "no results")
    return "\n".join(lines)


def bench_dag(configfile: str | Path, repeats: int = 3, workdir: str | Path = ".") -> dict:
    """Wall and CPU seconds (user + sys, snakemake's process and its children) of `snakemake -n --configfile
    CONFIG` in `workdir`, the median of `repeats` runs, with the job count and the 1-minute load average: on a
    busy machine the wall time stretches while the CPU time stays comparable."""
    import os
    import re
    import resource
    import statistics
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "snakemake", "-n", "--configfile", str(configfile)]
    walls, cpus = [], []
    for _ in range(repeats):
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[1:])} failed in {workdir}:\n{proc.stderr[-3000:]}")
        walls.append(wall)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    jobs = re.search(r"^total\s+(\d+)", proc.stdout, flags=re.M)
    return {"config": str(configfile), "jobs": int(jobs.group(1)) if jobs else None, "repeats": repeats,
            "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "wall_s_all": walls,
            "cpu_s_all": cpus, "load_1min": os.getloadavg()[0], "cpus": os.cpu_count()}


def format_dag(row: dict) -> str:
    return (f"snakemake -n --configfile {row['config']}: {row['jobs']} jobs, wall {row['wall_s']:.2f} s, CPU "
            f"{row['cpu_s']:.2f} s (median of {row['repeats']}; 1-min load {row['load_1min']:.1f} on {row['cpus']} "
            "CPUs)")
