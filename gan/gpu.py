"""One GPU per job on a workstation: claim a free device through a lock file before CUDA starts.

Snakemake counts a `gpu` resource (``--resources gpu=2`` stops a third GPU job from starting) but never says
*which* device a job should use (snakemake issue #281), so two concurrent jobs both land on GPU 0.
`claim_gpu()` closes that gap: each job that uses a GPU takes a non-blocking exclusive ``fcntl.flock`` on
``<lock_dir>/gpu<id>.lock`` for the first free device and sets ``CUDA_VISIBLE_DEVICES`` to that one device.

- The lock's file descriptor stays open for the life of the process (module global), so the kernel frees the
  slot when the process ends in any way, SIGKILL and OOM kills included; nothing has to clean up. Forked
  children (DataLoader workers) share the lock until they exit too.
- It must run BEFORE CUDA initialises: CUDA reads ``CUDA_VISIBLE_DEVICES`` once. This module never imports
  torch; devices are counted with ``nvidia-smi -L`` (or ``GAN_BENCH_GPU_COUNT`` / ``n_devices``). If torch has
  already initialised CUDA in this process, `claim_gpu` raises instead of silently leaving the job on GPU 0.
- A user-set ``CUDA_VISIBLE_DEVICES="3,5"`` is respected: the claim picks one entry of that list ("3" or
  "5", UUIDs and MIG ids work too) and narrows the variable to it. ``CUDA_VISIBLE_DEVICES=""`` or ``-1`` means
  no GPU: nothing is claimed.
- A process started by a claimer (a subprocess, or CMD after ``python -m gan.gpu CMD``) inherits
  ``GAN_BENCH_GPU_CLAIMED`` equal to ``CUDA_VISIBLE_DEVICES`` and claims nothing: the parent's lock covers it.
- Under SLURM (``SLURM_JOB_ID`` set) it does nothing: SLURM assigns the device and sets the variable itself.
- No GPU (nvidia-smi missing or listing none): returns None and changes nothing (CPU run).
- All slots taken: polls until ``timeout`` (default 120 s, env ``GAN_BENCH_GPU_TIMEOUT``), then raises
  `GpuClaimTimeout` naming the lock folder and the holders. With ``--resources gpu=<number of GPUs>`` in the
  Snakemake profile this only bridges the moment a finished job's process takes to exit.

Jobs per GPU: ``jobs_per_gpu`` (argument, else env ``GAN_BENCH_JOBS_PER_GPU``, else 1) slots per device, each its
own lock file; a job still gets exactly one device, claims spread over the devices before doubling up, and the
kernel frees a slot on any exit as before. With the DAG, set ``jobs_per_gpu:`` in the config and give Snakemake
``--resources gpu=<devices x jobs_per_gpu>``. It pays for small models that leave a GPU mostly idle (the toy
MLPs, the 8x8 digits DCGAN: kernel-launch bound) and for CPU-heavy jobs that use the GPU in bursts (scoring);
it does not for the paper's MNIST/CIFAR-10 models, which keep a GPU busy on their own (two such jobs share its
throughput and each takes about twice as long), nor when the jobs' memory together exceeds the device's.

Lock folder: argument ``lock_dir``, else env ``GAN_BENCH_GPU_LOCK_DIR``, else ``/tmp/gan-bench-gpu-locks-<user>``
(per user and per machine; /tmp rather than ``$TMPDIR``, which Snakemake changes per job). Another user of the
machine could create that name first and plant ``gpu0.lock -> ~/.bashrc``, so the folder is checked before use:
it must be a real folder (not a symlink) owned by this user and writable by nobody else (it is made 0700), else
the claim refuses with one line. Several users sharing the GPUs of one machine point ``GAN_BENCH_GPU_LOCK_DIR``
at one shared folder, which must have the sticky bit (``mkdir -m 1777``: nobody can replace another's lock
files). Lock files are opened with ``O_NOFOLLOW`` (a symlink is refused, naming it), must be plain files with one
link, keep the creator's umask (a read-only open of another user's lock is enough for flock), and are written
(the holder's pid) only when this user owns them: no file is ever made world-writable.

clean-fid wraps its Inception network in ``torch.nn.DataParallel`` over *all visible* GPUs. After a claim only
one device is visible, so that is harmless (DataParallel over one device is the plain module); without a
claim, a scoring job would spread over, and compete for, every GPU of the machine.

Shell use: ``python -m gan.gpu CMD ARGS...`` claims a slot, then execs CMD with the lock inherited.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ENV_COUNT = "GAN_BENCH_GPU_COUNT"
ENV_LOCK_DIR = "GAN_BENCH_GPU_LOCK_DIR"
ENV_TIMEOUT = "GAN_BENCH_GPU_TIMEOUT"
ENV_JOBS_PER_GPU = "GAN_BENCH_JOBS_PER_GPU"
ENV_CLAIMED = "GAN_BENCH_GPU_CLAIMED"  # set with the claim; a child process (or an exec) sees it and claims nothing
DEFAULT_TIMEOUT_S = 120.0

__all__ = ["Claim", "GpuClaimTimeout", "GpuLockError", "claim_gpu", "current_claim", "default_lock_dir", "count_gpus"]


class GpuClaimTimeout(RuntimeError):
    """Every GPU slot stayed taken for the whole timeout."""


class GpuLockError(RuntimeError):
    """The lock folder or a lock file could be redirected by someone else (owner, mode, symlink): refused."""


@dataclass
class Claim:
    device: str       # the entry now in CUDA_VISIBLE_DEVICES ("1", or "GPU-<uuid>", ...)
    lock_path: Path
    fd: int

    def release(self) -> None:
        """Give the slot back early (normally the process exit does this)."""
        global _claim
        if self.fd >= 0:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = -1
            if os.environ.get(ENV_CLAIMED) == self.device:
                del os.environ[ENV_CLAIMED]
        if _claim is self:
            _claim = None


_claim: Claim | None = None  # keeps the lock's fd (and so the slot) for the life of the process


def current_claim() -> Claim | None:
    return _claim


def _user() -> str:
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


def default_lock_dir() -> Path:
    env = os.environ.get(ENV_LOCK_DIR)
    if env:
        return Path(env)
    return Path("/tmp") / f"gan-bench-gpu-locks-{_user()}"


def count_gpus() -> int:
    """GPUs on this machine without touching CUDA: ``GAN_BENCH_GPU_COUNT`` if set, else ``nvidia-smi -L``."""
    env = os.environ.get(ENV_COUNT)
    if env is not None and env.strip() != "":
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"{ENV_COUNT}={env!r} is not an integer") from None
        if n < 0:
            raise ValueError(f"{ENV_COUNT}={env!r} must be >= 0")
        return n
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if out.returncode != 0:
        return 0
    # "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"; MIG lines are indented and start with "MIG".
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def _candidates(n_devices: int | None) -> tuple[list[str], bool]:
    """Device ids to choose from, and whether they come from a user-set CUDA_VISIBLE_DEVICES."""
    user = os.environ.get("CUDA_VISIBLE_DEVICES")
    if user is not None:
        entries = [e.strip() for e in user.split(",")]
        entries = [e for e in entries if e != ""]
        # CUDA stops at the first invalid entry; "-1" is the usual way to hide every GPU.
        if not entries or entries[0] == "-1":
            return [], True
        return list(dict.fromkeys(entries)), True
    n = count_gpus() if n_devices is None else int(n_devices)
    return [str(i) for i in range(n)], False


def _cuda_already_initialised() -> bool:
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        return bool(torch.cuda.is_initialized())
    except Exception:  # a torch without cuda module or a stub
        return False


def _prepare_dir(lock_dir: Path, shared_ok: bool) -> None:
    """Make the folder (0700) if missing, then refuse one that someone else could fill with redirecting links.
    `shared_ok`: the user named the folder (argument or env), so a sticky shared one is accepted; the default
    per-user name must be this user's own, or another user could have made it first."""
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(lock_dir)
    how = f"GPU lock folder {lock_dir}"
    fix = f"remove it, or set {ENV_LOCK_DIR} to a folder of your own (mode 0700) or a shared one with mode 1777"
    if not stat.S_ISDIR(st.st_mode):
        raise GpuLockError(f"{how} is not a folder (a symlink?): {fix}")
    if shared_ok and st.st_mode & stat.S_ISVTX and st.st_mode & 0o002:
        return  # a shared folder with the sticky bit: only a file's owner can replace it; files are checked on open
    if st.st_uid != os.getuid():
        raise GpuLockError(f"{how} is owned by uid {st.st_uid}, not by you (uid {os.getuid()}): {fix}")
    if st.st_mode & 0o022:
        raise GpuLockError(f"{how} is writable by others (mode {stat.S_IMODE(st.st_mode):04o}) without the sticky "
                           f"bit: {fix} (chmod 700 {lock_dir})")


def _lock_name(device: str, slot: int = 0) -> str:
    return "gpu" + re.sub(r"[^A-Za-z0-9_.-]", "_", device) + (f".slot{slot}" if slot else "") + ".lock"


def jobs_per_gpu(value: int | None = None) -> int:
    """Slots per device: the argument, else env GAN_BENCH_JOBS_PER_GPU, else 1; a bad value is one clear error."""
    raw = value if value is not None else os.environ.get(ENV_JOBS_PER_GPU, "1")
    try:
        n = int(raw)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or isinstance(raw, bool):
        raise ValueError(f"jobs per GPU ({ENV_JOBS_PER_GPU}) must be a positive integer, got {raw!r}")
    return n


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_lock(path: Path) -> tuple[int, bool]:
    """(fd, writable): the lock file opened without following a symlink; writable only when it is this user's
    own plain file with one link (a hard link planted in a shared folder must not be truncated)."""
    try:
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR | _NOFOLLOW, 0o666)  # the umask applies: never world-writable
        except PermissionError:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)  # another user's lock: flock works on a read-only fd
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise GpuLockError(f"GPU lock {path} is a symlink; refusing to follow it: delete it (and check who "
                               "made it)") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise GpuLockError(f"GPU lock {path} is not a plain file; delete it")
    return fd, st.st_uid == os.getuid() and st.st_nlink == 1


def _try_lock(path: Path) -> int | None:
    fd, writable = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    if writable:  # who holds it, for the timeout message; best effort
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid={os.getpid()} host={socket.gethostname()} since={time.time():.0f}\n".encode(), 0)
        except OSError:
            pass
    return fd


def _holders(lock_dir: Path, devices: list[str]) -> str:
    parts = []
    for d in devices:
        try:
            fd = os.open(lock_dir / _lock_name(d), os.O_RDONLY | _NOFOLLOW)
            try:
                text = os.read(fd, 200).decode(errors="replace").strip()
            finally:
                os.close(fd)
            parts.append(f"gpu {d}: {text or '?'}")
        except OSError:
            parts.append(f"gpu {d}: ?")
    return "; ".join(parts)


def claim_gpu(lock_dir: str | os.PathLike | None = None, n_devices: int | None = None, *,
              timeout: float | None = None, poll_interval: float = 0.5,
              jobs_per_device: int | None = None) -> Claim | None:
    """Claim one free GPU for this process and set CUDA_VISIBLE_DEVICES to it; see the module docstring.

    Returns the `Claim` (also kept in this module, so its lock lives as long as the process), or None when
    nothing was done: under SLURM, or with no GPU. Calling it again in the same process returns the same claim.
    `n_devices` (else env GAN_BENCH_GPU_COUNT, else ``nvidia-smi -L``) simulates a device count for tests;
    a user-set CUDA_VISIBLE_DEVICES takes precedence over both.
    """
    global _claim
    if os.environ.get("SLURM_JOB_ID"):
        return None
    if _claim is not None and _claim.fd >= 0:
        return _claim
    inherited = os.environ.get(ENV_CLAIMED)
    if inherited is not None and inherited == os.environ.get("CUDA_VISIBLE_DEVICES"):
        return None  # a parent process (or this one before an exec) holds the slot for us
    devices, user_set = _candidates(n_devices)
    if not devices:
        return None
    if _cuda_already_initialised():
        raise RuntimeError("claim_gpu() must run before CUDA is initialised (CUDA_VISIBLE_DEVICES is read once); "
                           "call it at the start of the job, before any torch.cuda use")
    if timeout is None:
        timeout = float(os.environ.get(ENV_TIMEOUT, DEFAULT_TIMEOUT_S))
    named = lock_dir is not None or bool(os.environ.get(ENV_LOCK_DIR))
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    _prepare_dir(lock_dir, shared_ok=named)
    slots = jobs_per_gpu(jobs_per_device)

    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        # slot 0 of every device first: jobs spread over the devices before two share one
        for slot, device in ((s, d) for s in range(slots) for d in devices):
            path = lock_dir / _lock_name(device, slot)
            fd = _try_lock(path)
            if fd is not None:
                if not user_set:
                    # nvidia-smi numbers GPUs in PCI bus order; make CUDA number them the same way
                    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
                os.environ["CUDA_VISIBLE_DEVICES"] = device
                os.environ[ENV_CLAIMED] = device
                _claim = Claim(device=device, lock_path=path, fd=fd)
                return _claim
        if time.monotonic() >= deadline:
            raise GpuClaimTimeout(
                f"no free GPU after {timeout:g} s: all {len(devices) * slots} slot(s) ({slots} per device "
                f"{devices}) in {lock_dir} are held ({_holders(lock_dir, devices)}). Run fewer GPU jobs at once "
                f"(Snakemake: --resources gpu={len(devices) * slots}), or raise {ENV_TIMEOUT}.")
        time.sleep(poll_interval)


def main(argv: list[str] | None = None) -> int:
    """``python -m gan.gpu CMD ARGS...``: claim a GPU slot, then exec CMD holding it (prints the claim without CMD)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    claim = claim_gpu()
    if not argv:
        print(claim.device if claim else "none")
        return 0
    if claim is not None:
        os.set_inheritable(claim.fd, True)  # the lock must outlive the exec
    os.execvp(argv[0], argv)
    return 127  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
