"""GPU slot locks cannot be redirected (gan/gpu.py): a lock folder someone else could write into is refused, a
planted symlink or hard link never leads to another file being changed, and no lock file is world-writable."""
from __future__ import annotations

import os
import stat

import pytest

from test_gpu import env, load_gpu  # noqa: F401  (env: a clean environment for claims)


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text("precious\n")
    path.chmod(0o600)
    return path


def _unchanged(path):
    assert path.read_text() == "precious\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _lock_dir(tmp_path, mode=0o700):
    d = tmp_path / "locks"
    d.mkdir()
    d.chmod(mode)
    return d


@pytest.mark.parametrize("mode", [0o700, 0o1777], ids=oct)
def test_planted_symlink_lock_leaves_the_victim_untouched(env, tmp_path, victim, mode):
    gpu = load_gpu()
    lock_dir = _lock_dir(tmp_path, mode)
    (lock_dir / "gpu0.lock").symlink_to(victim)
    with pytest.raises(gpu.GpuLockError, match=r"gpu0\.lock is a symlink"):
        gpu.claim_gpu(lock_dir=lock_dir, n_devices=1, timeout=0)
    _unchanged(victim)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_planted_hard_link_in_a_shared_folder_is_not_written(env, tmp_path, victim):
    gpu = load_gpu()
    lock_dir = _lock_dir(tmp_path, 0o1777)
    os.link(victim, lock_dir / "gpu0.lock")
    claim = gpu.claim_gpu(lock_dir=lock_dir, n_devices=1, timeout=0)
    try:
        assert claim.device == "0"  # flock on it is harmless; writing the holder's pid into it is not
        _unchanged(victim)
    finally:
        claim.release()


def test_lock_files_follow_the_umask_never_world_writable(env, tmp_path):
    gpu = load_gpu()
    lock_dir = tmp_path / "fresh"
    old = os.umask(0o022)
    try:
        claim = gpu.claim_gpu(lock_dir=lock_dir, n_devices=1, timeout=0)
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(lock_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(claim.lock_path.stat().st_mode) == 0o644
        assert f"pid={os.getpid()}" in claim.lock_path.read_text()
    finally:
        claim.release()


@pytest.mark.parametrize("mode", [0o770, 0o777, 0o722], ids=oct)
def test_lock_folder_writable_by_others_is_refused(env, tmp_path, mode):
    gpu = load_gpu()
    lock_dir = _lock_dir(tmp_path, mode)
    with pytest.raises(gpu.GpuLockError, match=rf"{lock_dir} is writable by others .*sticky"):
        gpu.claim_gpu(lock_dir=lock_dir, n_devices=1, timeout=0)
    assert not any(lock_dir.iterdir())


def test_lock_folder_of_another_user_is_refused(env, tmp_path, monkeypatch):
    gpu = load_gpu()
    lock_dir = _lock_dir(tmp_path)
    me = os.getuid()
    monkeypatch.setattr(gpu.os, "getuid", lambda: me + 1)  # the folder now belongs to "someone else"
    with pytest.raises(gpu.GpuLockError, match=rf"{lock_dir} is owned by uid {me}, not by you"):
        gpu.claim_gpu(lock_dir=lock_dir, n_devices=1, timeout=0)


def test_default_lock_folder_planted_as_a_symlink_is_refused(env, tmp_path, monkeypatch):
    gpu = load_gpu()
    elsewhere = _lock_dir(tmp_path)
    link = tmp_path / "gan-bench-gpu-locks-me"
    link.symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.setenv("GAN_BENCH_GPU_LOCK_DIR", str(link))
    with pytest.raises(gpu.GpuLockError, match="is not a folder"):
        gpu.claim_gpu(n_devices=1, timeout=0)
    assert not any(elsewhere.iterdir())


def test_default_lock_folder_must_be_ones_own_even_if_sticky(env, tmp_path, monkeypatch):
    gpu = load_gpu()
    planted = _lock_dir(tmp_path, 0o1777)  # as another user could make /tmp/gan-bench-gpu-locks-<you> first
    monkeypatch.delenv("GAN_BENCH_GPU_LOCK_DIR")
    monkeypatch.setattr(gpu, "default_lock_dir", lambda: planted)
    me = os.getuid()
    monkeypatch.setattr(gpu.os, "getuid", lambda: me + 1)
    with pytest.raises(gpu.GpuLockError, match=rf"{planted} is owned by uid {me}, not by you"):
        gpu.claim_gpu(n_devices=1, timeout=0)
