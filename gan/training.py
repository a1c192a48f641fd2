"""Training: counts generator iterations, resumes from the latest checkpoint, stops cleanly on divergence.

One generator iteration = `critic_iterations(step)` critic updates, then one generator update. Everything random
(noise, data order, the penalty's eps) flows from the run's seed and is saved in each checkpoint, so a run killed
at any moment and restarted ends bitwise equal (on CPU) to an uninterrupted one.
"""
from __future__ import annotations

import csv
import io
import logging
import math
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import checkpoint as ckpt
from . import atomic, sampling
from .config import ConfigError, TrainConfig, resolve
from .datasets import Dataset, get_dataset
from .layout import RunFiles
from .models import build_models
from .objectives import Objective, build_objective, build_optimizer
from .provenance import config_hash, git_state
from .runs import changed_settings
from .utils import device_description, package_versions, seed_everything, select_device

log = logging.getLogger("gan.training")

METRIC_COLUMNS = ["step", "time_s", "loss_d", "loss_g", "wasserstein", "gp", "grad_norm_d", "grad_norm_g",
                  "d_real", "d_fake"]


class Preempted(Exception):
    """SIGTERM arrived (SLURM preemption / time limit); a checkpoint was written before stopping."""
    exit_code = 143


# --- batches: the whole dataset on the device, drawn by seeded permutation ------------------------------------


class TensorBatches:
    """Batches of an in-memory image tensor by seeded per-epoch permutation: no DataLoader, no per-sample work.

    The order of epoch e depends only on (seed, e), so the state to save is two integers.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, device: torch.device):
        if images.shape[0] < batch_size:
            raise ConfigError(f"batch_size {batch_size} is larger than the dataset ({images.shape[0]} images)")
        self.data = images.to(device)
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.epoch, self.pos, self._perm = 0, 0, None

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.data.shape[0], generator=g).to(self.device)

    def next(self) -> torch.Tensor:
        if self.pos + self.batch_size > self.data.shape[0]:  # drop the incomplete last batch
            self.epoch, self.pos, self._perm = self.epoch + 1, 0, None
        if self._perm is None:
            self._perm = self._permutation()
        idx = self._perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.data[idx]

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.pos, self._perm = int(state["epoch"]), int(state["pos"]), None


class ToyBatches:
    """Fresh points from a toy distribution for every batch, from the run's own seeded generator."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, device: torch.device):
        self.dataset, self.batch_size, self.device = dataset, batch_size, device
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> torch.Tensor:
        return self.dataset.sample(self.batch_size, self.generator).to(self.device, non_blocking=True)

    def state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def make_batches(dataset: Dataset, batch_size: int, seed: int, device: torch.device):
    if dataset.kind == "points":
        return ToyBatches(dataset, batch_size, seed, device)
    return TensorBatches(dataset.images, batch_size, seed, device)


# --- one generator iteration ------------------------------------------------------------------------------------


def _grad_norm(module: torch.nn.Module) -> torch.Tensor:
    grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
    return torch.cat(grads).norm(2) if grads else torch.zeros(())


@dataclass
class Trainer:
    """The models, their optimisers and the objective; `step()` runs one generator iteration."""
    generator: torch.nn.Module
    critic: torch.nn.Module
    objective: Objective
    next_batch: Callable[[], torch.Tensor]
    batch_size: int
    device: torch.device
    bf16: bool = False
    opt_g: torch.optim.Optimizer = field(init=False)
    opt_d: torch.optim.Optimizer = field(init=False)

    def __post_init__(self):
        self.opt_g = build_optimizer(self.generator.parameters(), self.objective)
        self.opt_d = build_optimizer(self.critic.parameters(), self.objective)
        self._g, self._d = self.generator, self.critic  # replaced by compiled versions when asked

    def compile(self) -> None:
        # the uncompiled modules stay the ones saved, so state_dict keys never get an '_orig_mod.' prefix
        self._g, self._d = torch.compile(self.generator), torch.compile(self.critic)

    def _autocast(self):
        if self.bf16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def _noise(self) -> torch.Tensor:
        return torch.randn(self.batch_size, self.generator.z_dim, device=self.device)

    def step(self, generator_step: int, record: bool = False) -> dict[str, torch.Tensor]:
        """One generator iteration. With record=True, returns the values of the metrics row (as tensors)."""
        for _ in range(self.objective.critic_iterations(generator_step)):
            real = self.next_batch()
            with torch.no_grad(), self._autocast():
                fake = self._g(self._noise())
            with self._autocast():
                critic_step = self.objective.critic_step(self._d, real, fake.float())
            self.opt_d.zero_grad(set_to_none=True)
            critic_step.loss.backward()
            if record:
                grad_norm_d = _grad_norm(self.critic)
            self.opt_d.step()
            self.objective.after_critic_step(self.critic)

        # the critic's own weight gradients are not needed for the generator update: skip computing them
        self.critic.requires_grad_(False)
        with self._autocast():
            fake_scores = self._d(self._g(self._noise()))
            loss_g = self.objective.generator_loss(fake_scores.float())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.critic.requires_grad_(True)
        out = {"loss_d": critic_step.loss.detach(), "loss_g": loss_g.detach()}
        if record:
            out.update(grad_norm_d=grad_norm_d, grad_norm_g=_grad_norm(self.generator),
                       d_real=critic_step.real_scores.detach().float().mean(),
                       d_fake=critic_step.fake_scores.detach().float().mean())
            if critic_step.wasserstein is not None:
                out["wasserstein"] = critic_step.wasserstein
            if critic_step.penalty is not None:
                out["gp"] = critic_step.penalty
        self.opt_g.step()
        return out


def build_trainer(cfg: TrainConfig, next_batch: Callable[[], torch.Tensor], device: torch.device) -> Trainer:
    objective = build_objective(cfg.objective, **cfg.hyperparameters)
    generator, critic = build_models(cfg.model_config())
    objective.check_critic(critic)
    trainer = Trainer(generator.to(device), critic.to(device), objective, next_batch, cfg.batch_size, device,
                      bf16=cfg.bf16)
    if cfg.compile:
        trainer.compile()
    return trainer


def configure_backend(cfg: TrainConfig, device: torch.device) -> None:
    torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
    torch.backends.cudnn.allow_tf32 = cfg.tf32
    if cfg.deterministic:
        import os
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"


# --- files of a run --------------------------------------------------------------------------------------------


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METRIC_COLUMNS)
    for row in rows:
        writer.writerow([_format(row.get(c)) for c in METRIC_COLUMNS])
    atomic.write_text(path, buf.getvalue())


def _append_metrics(path: Path, row: dict[str, Any]) -> None:
    # appends are not atomic, but every checkpoint rewrites the file from its own copy of the rows
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(",".join(_format(row.get(c)) for c in METRIC_COLUMNS) + "\n")


class _SigtermFlag:
    def __init__(self):
        self.raised = False
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._old = None
        return self

    def _handle(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def _notify(on_checkpoint: Callable[[int, dict[str, Any]], None] | None, step: int, config: dict[str, Any]) -> float:
    """Call the checkpoint hook (an MLflow mirror) with every random state restored afterwards: whatever it draws,
    the run goes on as a resumed one would (bitwise resume). Returns the seconds it took, which the training's
    wall-clock leaves out."""
    if on_checkpoint is None:
        return 0.0
    start, state = time.perf_counter(), ckpt.capture_rng_state()
    try:
        on_checkpoint(step, config)
    finally:
        ckpt.restore_rng_state(state)
    return time.perf_counter() - start


def train(cfg: TrainConfig, run_dir: str | Path,
          on_checkpoint: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train one run into run_dir (checkpoints/, metrics.csv, summary.json, previews/ at step 0 and at every
    configured checkpoint); resume if checkpoints exist.

    `on_checkpoint(step, resolved config)` runs after each checkpoint is written (gan.tracking.LiveMirror).
    Returns the summary. Raises Preempted after writing a checkpoint when SIGTERM arrives.
    """
    cfg = resolve(cfg)
    run_dir = Path(run_dir)
    config = cfg.to_dict()

    resume_from = ckpt.latest(run_dir, cfg.steps)  # reads (and so checks) existing checkpoints first
    payload = ckpt.load(resume_from[1]) if resume_from else None
    if payload is not None:
        changed = changed_settings(payload["config"], config)
        if changed:
            raise ConfigError(
                f"{run_dir} holds checkpoints of a run with different settings ({', '.join(changed)}); "
                f"resuming would mix two runs. Move that folder away or restore the settings; nothing was changed.")

    device = select_device(cfg.device)
    configure_backend(cfg, device)
    dataset = get_dataset(cfg.dataset, cfg.data_root, "train", download=False, prepared=cfg.prepared_data,
                          **cfg.dataset_options)
    seed_everything(cfg.seed)
    batches = make_batches(dataset, cfg.batch_size, cfg.seed, device)
    trainer = build_trainer(cfg, batches.next, device)

    step, rows, elapsed = 0, [], 0.0
    if payload is not None:
        trainer.generator.load_state_dict(payload["generator"])
        trainer.critic.load_state_dict(payload["critic"])
        trainer.opt_g.load_state_dict(payload["opt_g"])
        trainer.opt_d.load_state_dict(payload["opt_d"])
        ckpt.restore_rng_state(payload["rng"])
        batches.load_state(payload["rng"]["data"])
        step, rows, elapsed = int(payload["step"]), list(payload["metrics_rows"]), float(payload["elapsed"])
        log.info("resuming %s from %s (generator iteration %d)", run_dir, resume_from[1], step)
    run_dir.mkdir(parents=True, exist_ok=True)
    files = RunFiles(run_dir)
    metrics_path = files.metrics
    write_metrics(metrics_path, rows)  # the curve up to the checkpoint; later rows of a killed run are replayed

    def save_preview(at: int) -> float:
        """The generator's picture at step `at` (files.preview) unless it exists (a resumed run keeps what it made:
        the same picture, as the noise is fixed and resume is bitwise). Returns the seconds it took, which the
        training's wall-clock leaves out, as it does the mirror's."""
        path = files.preview(at)
        if path.exists():
            return 0.0
        start = time.perf_counter()
        sampling.save_preview(trainer.generator, dataset.kind, cfg.seed, path,
                              title=f"{cfg.dataset_name} {cfg.objective_name} step {at}")
        return time.perf_counter() - start

    def save_checkpoint(path: Path) -> None:
        rng = ckpt.capture_rng_state()
        rng["data"] = batches.state()
        ckpt.save(path, {
            "step": step, "config": config, "model": cfg.model_config().to_dict(),
            "generator": trainer.generator.state_dict(), "critic": trainer.critic.state_dict(),
            "opt_g": trainer.opt_g.state_dict(), "opt_d": trainer.opt_d.state_dict(),
            "rng": rng, "elapsed": elapsed + (time.perf_counter() - t0), "metrics_rows": rows,
        })
        write_metrics(metrics_path, rows)

    if step == 0:  # the untrained generator: MLflow's image card opens at step 0, so it has a picture there
        save_preview(0)
    trainer.generator.train()
    trainer.critic.train()
    checkpoint_steps = set(cfg.checkpoint_steps)
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    diverged_step = None
    t0 = time.perf_counter()
    last_report = t0
    with _SigtermFlag() as sigterm:
        while step < cfg.steps:
            record = (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps
            out = trainer.step(step, record=record)
            step += 1
            # divergence is tracked on the device and read at log/checkpoint steps, not synchronised every step
            bad = ~(torch.isfinite(out["loss_d"]) & torch.isfinite(out["loss_g"]))
            first_bad = torch.where(bad & (first_bad < 0), torch.full_like(first_bad, step), first_bad)
            rolling = cfg.resume_every > 0 and step % cfg.resume_every == 0
            if record or step in checkpoint_steps or rolling or sigterm.raised:
                if int(first_bad) >= 0:  # never checkpoint or log past a divergence unnoticed
                    diverged_step = int(first_bad)
            if record:
                row = {"step": step, "time_s": elapsed + time.perf_counter() - t0,
                       **{k: float(v) for k, v in out.items()}}
                rows.append(row)
                _append_metrics(metrics_path, row)
                now = time.perf_counter()
                if now - last_report > 10 or step == cfg.steps or diverged_step is not None:
                    rate = (step - (payload["step"] if payload else 0)) / max(now - t0, 1e-9)
                    eta = (cfg.steps - step) / rate if rate > 0 else math.inf
                    log.info("iter %d/%d  loss_d %.4g  loss_g %.4g  %.2f it/s  ETA %.0f s", step, cfg.steps,
                             row["loss_d"], row["loss_g"], rate, eta)
                    last_report = now
            if diverged_step is not None:
                log.warning("non-finite loss at generator iteration %d: stopping the run as diverged", diverged_step)
                break
            if step in checkpoint_steps:
                # the preview before the checkpoint: a run killed in between replays this step and writes it then
                t0 += save_preview(step)
                save_checkpoint(ckpt.step_path(run_dir, step))
                t0 += _notify(on_checkpoint, step, config)
            elif rolling:
                save_checkpoint(files.last_checkpoint)
                t0 += _notify(on_checkpoint, step, config)
            if sigterm.raised:
                if step not in checkpoint_steps:
                    save_checkpoint(files.last_checkpoint)
                log.warning("SIGTERM: checkpoint written at generator iteration %d; stopping", step)
                raise Preempted(f"preempted at generator iteration {step}")

    write_metrics(metrics_path, rows)
    summary = {
        "status": "diverged" if diverged_step is not None else "finished",
        "steps": cfg.steps, "steps_done": step, "diverged_step": diverged_step,
        "wall_clock_s": elapsed + time.perf_counter() - t0,
        # epoch seconds (MLflow's run times): the end, and the start it implies (resume pauses left out)
        "ended_at": time.time(), "started_at": time.time() - (elapsed + time.perf_counter() - t0),
        # identity as the benchmark names the run (grid entries); the registered names are in "config"
        "seed": cfg.seed, "dataset": cfg.dataset_name, "objective": cfg.objective_name, "model": cfg.model,
        "config": config, "config_hash": config_hash(config),
        "versions": package_versions(), "device": device_description(device), "git": git_state(),
        "checkpoints": {str(s): str(p.relative_to(run_dir)) for s, p in sorted(ckpt.list_checkpoints(run_dir).items())
                        if s in checkpoint_steps and s <= step},
    }
    atomic.write_json(files.summary, summary)
    return summary
