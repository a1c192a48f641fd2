"""Speed: generator iterations per second of each objective, fed from the in-memory tensor and the usual way.

"The usual way" is a torchvision dataset of PIL images with per-sample ToTensor/Normalize transforms behind a
DataLoader; everything else (models, objective, optimisers, batch size) is the same loop.
"""
from __future__ import annotations

import time
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
        if "it_per_s_dataloader" in row:
            row["speedup"] = row["it_per_s_in-memory"] / row["it_per_s_dataloader"]
        results.append(row)
    return results


def format_table(rows: list[dict]) -> str:
    lines = [f"{'dataset':<16} {'model':<6} {'objective':<12} {'n_critic':>8} {'in-memory it/s':>15} "
             f"{'DataLoader it/s':>16} {'ratio':>6}"]
    for r in rows:
        dl = r.get("it_per_s_dataloader")
        lines.append(f"{r['dataset']:<16} {r['model']:<6} {r['objective']:<12} {r['n_critic']:>8} "
                     f"{r['it_per_s_in-memory']:>15.2f} {dl if dl is None else f'{dl:.2f}':>16} "
                     f"{'' if dl is None else format(r['speedup'], '.2f'):>6}")
    lines.append(f"device: {rows[0]['device']}, batch {rows[0]['batch_size']}, {rows[0]['steps']} timed iterations"
                 if rows else "no results")
    return "\n".join(lines)

