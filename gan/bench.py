"""Speed: generator iterations per second of each objective, fed from the in-memory tensor and the usual way.

"The usual way" is a torchvision dataset of PIL images with per-sample ToTensor/Normalize transforms behind a
DataLoader; everything else (models, objective, optimisers, batch size) is the same loop. Beside both, the same
algorithm as a plain hand-written loop (what a user writes from the paper: no objective classes, no metrics
recording, no divergence tracking), on the same models, optimisers and in-memory batches: the project's loop
must be no slower than it.

`run_eval_bench` times the evaluation of a run's checkpoints (a process per checkpoint against one per run) and
then the metrics alone at N = 10k, 2048-d (`run_metrics_bench`: FD, IS, precision/recall/density/coverage),
`run_fd_bench` the Fréchet distance alone (ours against clean-fid's sqrtm route), and `bench_dag` the other thing
a user waits for: `snakemake -n` on a config (the DAG build and the dry-run listing), in a fresh process as users
run it.
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
        if hp["optimizer"] not in ("rmsprop", "adam"):
            raise ValueError(f"the plain loop has no {hp['optimizer']!r} optimiser: bench it with adam or rmsprop")
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



# ------------------------------------------------------------------------------------------- evaluation

def _timed(cmd: list[str]) -> float:
    import subprocess

    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def run_eval_bench(weights: str, dataset: str = "digits", n: int = 1000, checkpoints: int = 4,
                   device: str = "auto", batch_size: int = 64, metrics_n: int | None = 10_000,
                   metrics_dim: int = 2048) -> dict:
    """Evaluation seconds per checkpoint with the Inception network at `weights` (the real file, or the test
    stand-in on a CPU), N samples: one `python -m gan sample` and one `score` process per checkpoint (how the DAG
    evaluated before) against one process each for all of a run's checkpoints (the DAG's per-run jobs). Both
    write the same score files; the values are checked equal. Then the metrics alone at `metrics_n` features of
    `metrics_dim` (:func:`run_metrics_bench`; None: not timed)."""
    import sys
    import tempfile
    from pathlib import Path

    import numpy as np

    from . import atomic
    from .layout import RunFiles
    from .metrics import compute_reference
    from .training import train

    gan = [sys.executable, "-m", "gan"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_dir, steps = tmp / "run", list(range(1, checkpoints + 1))
        train(TrainConfig(dataset=dataset, objective="gan", steps=checkpoints, checkpoint_steps=steps,
                          batch_size=16, width=16, device="cpu", log_every=1), run_dir)
        total = len(get_dataset(dataset, split="test").images_uint8())
        reference = compute_reference(dataset, "inception", tmp / "reference.npz", split="test",
                                      n_real=min(n, total), weights_path=weights, device=device,
                                      batch_size=batch_size)
        common = ["--device", device, "--batch-size", str(batch_size)]
        per_checkpoint = 0.0
        for step in steps:
            out = tmp / f"alone{step}"
            per_checkpoint += _timed(gan + ["sample", "--run-dir", str(run_dir), "--step", str(step), "--n", str(n),
                                            "--out", f"{out}.npz", "--device", device])
            per_checkpoint += _timed(gan + ["score", "--samples", f"{out}.npz", "--reference", str(reference),
                                            "--weights", weights, "--out", f"{out}.json", *common])
        per_run = _timed(gan + ["sample", "--run-dir", str(run_dir), "--steps", *map(str, steps), "--n", str(n),
                                "--device", device])
        per_run += _timed(gan + ["score", "--samples-index", str(RunFiles(run_dir).samples_index), "--reference",
                                 str(reference), "--weights", weights, *common])
        for step in steps:
            alone = atomic.read_json(tmp / f"alone{step}.json")["metrics"]
            per_run_scores = atomic.read_json(RunFiles(run_dir).scores(step))["metrics"]
            assert per_run_scores.keys() == alone.keys(), (per_run_scores, alone)
            for key, value in alone.items():
                np.testing.assert_allclose(per_run_scores[key], value, rtol=1e-6, err_msg=key)
    return {"dataset": dataset, "n": n, "checkpoints": checkpoints, "device": device_description(select_device(device)),
            "weights": weights, "s_per_checkpoint_per_checkpoint_jobs": per_checkpoint / checkpoints,
            "s_per_checkpoint_per_run_jobs": per_run / checkpoints,
            "metrics": None if metrics_n is None else run_metrics_bench(metrics_n, metrics_dim, device)}


def run_fd_bench(n: int = 10_000, dim: int = 2048, seed: int = 0, sqrtm: bool = True) -> dict:
    """The Fréchet distance alone on `dim`-d statistics of N features (rectified random projections, correlated
    like pool features): clean-fid's `frechet_distance` (scipy sqrtm) against gan.metrics.distances' (the reference's
    square root computed once, then a symmetric eigen-solve per distance)."""
    import numpy as np

    from .metrics.distances import frechet_distance, sqrt_psd

    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    stats = []
    for shift in (0.0, 0.1):
        feats = np.maximum(rng.standard_normal((n, dim)) @ mix + shift, 0.0)
        stats.append((feats.mean(0), np.cov(feats, rowvar=False)))
    (mu1, s1), (mu2, s2) = stats
    t0 = time.perf_counter()
    root = sqrt_psd(s2)
    t_root = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = frechet_distance(mu1, s1, mu2, s2, sqrt_sigma2=root)
    t_ours = time.perf_counter() - t0
    row = {"n": n, "dim": dim, "fd": ours, "s_reference_sqrt_once": t_root, "s_per_distance_ours": t_ours}
    if sqrtm:
        from cleanfid.fid import frechet_distance as cleanfid_fd

        t0 = time.perf_counter()
        theirs = cleanfid_fd(mu1, s1, mu2, s2)
        row.update(s_per_distance_cleanfid=time.perf_counter() - t0, fd_cleanfid=float(theirs),
                   rel_diff=abs(ours - theirs) / abs(theirs))
    return row


def run_metrics_bench(n: int = 10_000, dim: int = 2048, device: str = "auto", seed: int = 0) -> dict:
    """Seconds of the metrics alone on N features per side, `dim`-d (rectified random projections, like pool
    features) and N x 1008 logits, on `device`: FD (the reference's square root once, then per distance), IS (10
    splits) and precision/recall/density/coverage (the real k-NN radii once per reference, then per score: the
    generated set's radii and the generated-real distances, in blocks)."""
    import numpy as np

    from .metrics.distances import frechet_from_features, sqrt_psd
    from .metrics.inception_score import inception_score
    from .metrics.prdc import knn_radii, prdc

    dev = select_device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rng = np.random.default_rng(seed)
    mix = (rng.standard_normal((dim, dim)) / np.sqrt(dim)).astype(np.float32)
    real, fake = (np.maximum(rng.standard_normal((n, dim), dtype=np.float32) @ mix + shift, 0.0)
                  for shift in (0.0, 0.1))
    logits = rng.standard_normal((n, 1008)) * 3.0

    def timed(fn):
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        return out, time.perf_counter() - t0

    sigma = np.cov(real, rowvar=False)
    root, t_root = timed(lambda: sqrt_psd(sigma))
    _, t_fd = timed(lambda: frechet_from_features(fake, real.mean(0), sigma, root))
    (is_mean, _), t_is = timed(lambda: inception_score(logits, 10, seed))
    radii, t_radii = timed(lambda: knn_radii(real, device=dev))
    values, t_prdc = timed(lambda: prdc(real, fake, radii, device=dev))
    return {"n": n, "dim": dim, "device": device_description(dev), "s_fd_reference_sqrt_once": t_root,
            "s_fd_per_score": t_fd, "s_is_per_score": t_is, "s_prdc_reference_radii_once": t_radii,
            "s_prdc_per_score": t_prdc, "is": is_mean, **{f"prdc_{k}": v for k, v in values.items()}}


def format_eval(evaluation: dict | None, fd: dict | None) -> str:
    lines = []
    if evaluation:
        e = evaluation
        lines.append(f"evaluation of {e['checkpoints']} checkpoints, {e['dataset']}, N={e['n']}, Inception "
                     f"{e['weights']}, {e['device']}:")
        lines.append(f"  one sample + one score process per checkpoint: {e['s_per_checkpoint_per_checkpoint_jobs']:.2f}"
                     f" s per checkpoint")
        lines.append(f"  one sample + one score process per run:        {e['s_per_checkpoint_per_run_jobs']:.2f}"
                     f" s per checkpoint (same score values)")
        m = e.get("metrics")
        if m:
            lines.append(f"  the metrics alone on N={m['n']} features of {m['dim']}-d (IS: N x 1008 logits), "
                         f"{m['device']}, seconds per score (+ once per reference):")
            lines.append(f"    FD {m['s_fd_per_score']:.2f} (+ {m['s_fd_reference_sqrt_once']:.2f}); IS "
                         f"{m['s_is_per_score']:.2f}; precision/recall/density/coverage {m['s_prdc_per_score']:.2f}"
                         f" (+ {m['s_prdc_reference_radii_once']:.2f}: the real k-NN radii)")
    if fd:
        lines.append(f"Fréchet distance, {fd['dim']}-d statistics of N={fd['n']}: ours {fd['s_per_distance_ours']:.2f}"
                     f" s per distance + {fd['s_reference_sqrt_once']:.2f} s once per reference"
                     + (f"; clean-fid (scipy sqrtm) {fd['s_per_distance_cleanfid']:.2f} s; relative difference "
                        f"{fd['rel_diff']:.1e}" if "rel_diff" in fd else ""))
    return "\n".join(lines)

def bench_dag(configfile: str | Path, repeats: int = 3, workdir: str | Path = ".") -> dict:
    """Wall and CPU seconds (user + sys, snakemake's process and its children) of `snakemake -n --configfile
    CONFIG --replace-workflow-config` (CONFIG is a complete config, as config/*.yaml are) in `workdir`, the median of
    `repeats` runs, with the job count and the 1-minute load average: on a busy machine the wall time stretches
    while the CPU time stays comparable."""
    import os
    import re
    import resource
    import statistics
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "snakemake", "-n", "--configfile", str(configfile), "--replace-workflow-config"]
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
