"""GPU slots on a workstation (gan/gpu.py), with simulated device counts: no GPU, no torch, no CUDA needed.

Claimers run as separate processes, as Snakemake jobs would. Each loads gan/gpu.py by path (so the test
does not pay for importing the rest of the package), claims, prints its CUDA_VISIBLE_DEVICES, then holds the
slot until a release file appears or it is killed.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

GPU_PY = Path(__file__).resolve().parents[1] / "gan" / "gpu.py"

HOLDER = textwrap.dedent("""
    import importlib.util, os, sys, time
    spec = importlib.util.spec_from_file_location("gan_gpu", sys.argv[1])
    gpu = sys.modules["gan_gpu"] = importlib.util.module_from_spec(spec); spec.loader.exec_module(gpu)
    try:
        claim = gpu.claim_gpu()
    except gpu.GpuClaimTimeout as exc:
        print("TIMEOUT", exc, flush=True)
        sys.exit(3)
    print("CLAIM", None if claim is None else claim.device,
          "CVD", os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"), flush=True)
    release = sys.argv[2]
    deadline = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
""")


def load_gpu():
    spec = importlib.util.spec_from_file_location("gan_gpu_under_test", GPU_PY)
    mod = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A clean environment for claimers: private lock dir, no SLURM, no CUDA_VISIBLE_DEVICES, short timeout."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("SLURM_", "GAN_BENCH_GPU_")) and k not in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")}
    e["GAN_BENCH_GPU_LOCK_DIR"] = str(tmp_path / "locks")
    e["GAN_BENCH_GPU_TIMEOUT"] = "20"
    # claim_gpu writes os.environ directly: register these keys so monkeypatch restores them afterwards
    touched = {k for k in os.environ if k.startswith(("SLURM_", "GAN_BENCH_GPU_"))}
    touched |= {"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "GAN_BENCH_GPU_CLAIMED", "SLURM_JOB_ID"}
    for k in touched:
        monkeypatch.setenv(k, "x")
        monkeypatch.delenv(k)
    monkeypatch.setenv("GAN_BENCH_GPU_LOCK_DIR", e["GAN_BENCH_GPU_LOCK_DIR"])
    return e


class Holders:
    def __init__(self, tmp_path: Path, env: dict):
        self.release = tmp_path / "release"
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def start(self, **extra_env) -> subprocess.Popen:
        e = dict(self.env, **{k: str(v) for k, v in extra_env.items()})
        p = subprocess.Popen([sys.executable, "-c", HOLDER, str(GPU_PY), str(self.release)], env=e,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(p)
        return p

    @staticmethod
    def first_line(p: subprocess.Popen) -> list[str]:
        line = p.stdout.readline().split()  # blocks until the claim is made (or failed)
        assert line, f"holder printed nothing (rc={p.poll()})"
        return line

    def stop(self):
        self.release.touch()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def holders(tmp_path, env):
    h = Holders(tmp_path, env)
    yield h
    h.stop()


@pytest.mark.parametrize("n", [2, 3])
def test_concurrent_claims_get_distinct_devices(holders, n):
    procs = [holders.start(GAN_BENCH_GPU_COUNT=n) for _ in range(n)]
    lines = [holders.first_line(p) for p in procs]
    claims = [line[1] for line in lines]
    cvds = [line[3] for line in lines]
    assert sorted(claims) == [str(i) for i in range(n)]
    assert claims == cvds
    assert len(set(cvds)) == n


def test_all_slots_taken_times_out_with_clear_error(holders):
    first = holders.start(GAN_BENCH_GPU_COUNT=1)
    assert holders.first_line(first)[1] == "0"
    t0 = time.monotonic()
    late = holders.start(GAN_BENCH_GPU_COUNT=1, GAN_BENCH_GPU_TIMEOUT=1)
    out = late.stdout.read()
    assert late.wait(timeout=30) == 3
    assert time.monotonic() - t0 < 20
    assert "TIMEOUT" in out and "no free GPU" in out and "--resources gpu=1" in out
    assert f"pid={first.pid}" in out  # the message names the holder


def test_waiter_gets_the_slot_when_it_frees(holders, tmp_path):
    first = holders.start(GAN_BENCH_GPU_COUNT=1)
    assert holders.first_line(first)[1] == "0"
    waiter = holders.start(GAN_BENCH_GPU_COUNT=1)  # waits: its timeout is 20 s
    time.sleep(1.0)
    assert waiter.poll() is None
    first.kill()  # frees the slot
    first.wait()
    assert holders.first_line(waiter)[:2] == ["CLAIM", "0"]


def test_sigkill_frees_the_slot(holders):
    a = holders.start(GAN_BENCH_GPU_COUNT=2)
    b = holders.start(GAN_BENCH_GPU_COUNT=2)
    got = {holders.first_line(a)[1]: a, holders.first_line(b)[1]: b}
    assert set(got) == {"0", "1"}
    victim = got["1"]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    c = holders.start(GAN_BENCH_GPU_COUNT=2, GAN_BENCH_GPU_TIMEOUT=5)
    assert holders.first_line(c)[1:4] == ["1", "CVD", "1"]


def test_user_set_visible_devices_are_the_candidates(holders):
    procs = [holders.start(CUDA_VISIBLE_DEVICES="3,5", GAN_BENCH_GPU_COUNT=8) for _ in range(2)]
    cvds = sorted(holders.first_line(p)[3] for p in procs)
    assert cvds == ["3", "5"]


def test_user_hides_all_gpus(env, tmp_path, monkeypatch):
    gpu = load_gpu()
    for value in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
        assert gpu.claim_gpu(n_devices=4) is None
        assert os.environ["CUDA_VISIBLE_DEVICES"] == value


@pytest.mark.parametrize("cvd", [None, "0,1"])
def test_under_slurm_nothing_changes(env, monkeypatch, cvd):
    gpu = load_gpu()
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    if cvd is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", cvd)
    assert gpu.claim_gpu(n_devices=2) is None
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == cvd
    assert not Path(env["GAN_BENCH_GPU_LOCK_DIR"]).exists()


def test_under_slurm_in_a_subprocess(holders):
    p = holders.start(GAN_BENCH_GPU_COUNT=2, SLURM_JOB_ID=7, CUDA_VISIBLE_DEVICES="1")
    assert holders.first_line(p)[1:] == ["None", "CVD", "1"]


def test_no_gpus_returns_none(env, monkeypatch, tmp_path):
    gpu = load_gpu()
    assert gpu.claim_gpu(n_devices=0) is None
    monkeypatch.setenv("GAN_BENCH_GPU_COUNT", "0")
    assert gpu.claim_gpu() is None
    monkeypatch.delenv("GAN_BENCH_GPU_COUNT")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no nvidia-smi
    assert gpu.count_gpus() == 0
    assert gpu.claim_gpu() is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_count_from_fake_nvidia_smi(env, monkeypatch, tmp_path):
    gpu = load_gpu()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: Fake (UUID: GPU-a)'\necho '  MIG 1g.10gb Device 0: (UUID: MIG-x)'\n"
                   "echo 'GPU 1: Fake (UUID: GPU-b)'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert gpu.count_gpus() == 2


def test_in_process_claim_release_and_idempotence(env, tmp_path):
    gpu = load_gpu()
    lock_dir = tmp_path / "own"
    claim = gpu.claim_gpu(lock_dir=lock_dir, n_devices=2)
    try:
        assert claim.device == "0" and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        assert claim.lock_path == lock_dir / "gpu0.lock"
        assert gpu.claim_gpu(lock_dir=lock_dir, n_devices=2) is claim  # same process: same claim
        assert gpu.current_claim() is claim
    finally:
        claim.release()
    assert gpu.current_claim() is None
    assert "GAN_BENCH_GPU_CLAIMED" not in os.environ
    os.environ.pop("CUDA_VISIBLE_DEVICES")
    again = gpu.claim_gpu(lock_dir=lock_dir, n_devices=2)
    assert again.device == "0"  # released, so free again
    again.release()


def test_child_of_a_claimer_claims_nothing(holders, tmp_path):
    """`python -m gan.gpu CMD` style: CMD (here a holder) inherits the claim and must not wait on its own lock."""
    wrapper = textwrap.dedent("""
        import importlib.util, os, sys
        spec = importlib.util.spec_from_file_location("gan_gpu", sys.argv[1])
        gpu = sys.modules["gan_gpu"] = importlib.util.module_from_spec(spec); spec.loader.exec_module(gpu)
        sys.exit(gpu.main(sys.argv[2:]))
    """)
    e = dict(holders.env, GAN_BENCH_GPU_COUNT="1", GAN_BENCH_GPU_TIMEOUT="2")
    p = subprocess.Popen([sys.executable, "-c", wrapper, str(GPU_PY), sys.executable, "-c", HOLDER, str(GPU_PY),
                          str(holders.release)], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    holders.procs.append(p)
    assert holders.first_line(p)[1:] == ["None", "CVD", "0"]  # the exec'd command is covered by the claim
    other = holders.start(GAN_BENCH_GPU_COUNT=1, GAN_BENCH_GPU_TIMEOUT=1)
    assert other.wait(timeout=30) == 3  # and the lock really is held across the exec


def test_refuses_after_cuda_initialised(env, monkeypatch):
    gpu = load_gpu()

    class FakeCuda:
        @staticmethod
        def is_initialized():
            return True

    class FakeTorch:
        cuda = FakeCuda

    monkeypatch.setitem(sys.modules, "torch", FakeTorch)
    with pytest.raises(RuntimeError, match="before CUDA is initialised"):
        gpu.claim_gpu(n_devices=1)


def test_module_does_not_import_torch():
    code = (f"import importlib.util, sys; spec = importlib.util.spec_from_file_location('g', {str(GPU_PY)!r}); "
            "m = sys.modules['g'] = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_jobs_per_gpu_share_a_device_after_spreading(holders):
    """Two slots per device on 2 devices: the first two claims get different devices, the next two double up,
    a fifth finds every slot taken."""
    got = [holders.first_line(holders.start(GAN_BENCH_GPU_COUNT=2, GAN_BENCH_JOBS_PER_GPU=2))[1] for _ in range(4)]
    assert sorted(got[:2]) == ["0", "1"] and sorted(got[2:]) == ["0", "1"]
    fifth = holders.start(GAN_BENCH_GPU_COUNT=2, GAN_BENCH_JOBS_PER_GPU=2, GAN_BENCH_GPU_TIMEOUT=1)
    line = holders.first_line(fifth)
    assert line[0] == "TIMEOUT" and "4 slot(s) (2 per device" in " ".join(line)


def test_bad_jobs_per_gpu_is_one_clear_error():
    gpu = load_gpu()
    with pytest.raises(ValueError, match="GAN_BENCH_JOBS_PER_GPU.*positive integer.*'zero'"):
        gpu.jobs_per_gpu("zero")
