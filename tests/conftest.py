import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/ helper modules (workflow_helpers, mlflow_server)

# Tiny models on 2 cores: one intra-op thread each avoids oversubscription when tests start subprocesses
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One run of the README demo (the smoke config) in a copy of the workflow, shared by every test using it."""
    from workflow_helpers import SMOKE, copy_workflow, snakemake

    # GAN_BENCH_SMOKE_DIR keeps the run between pytest sessions while developing (Snakemake redoes only what
    # changed); by default each session runs the demo from scratch, as CI does
    keep = os.environ.get("GAN_BENCH_SMOKE_DIR")
    workdir = Path(keep) if keep else tmp_path_factory.mktemp("smoke")
    copy_workflow(workdir)
    snakemake(workdir, *SMOKE)
    return workdir
