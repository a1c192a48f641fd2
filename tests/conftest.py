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


# The SLURM run of the smoke config waits on the cluster most of its time and runs the local demo (the `smoke_run`
# fixture) alongside meanwhile: it must come before every other test that needs the demo, or the demo runs alone.
STARTS_SMOKE_RUN = "test_slurm.py::test_smoke_config_through_slurm_profile_equals_local_run"


def _starts_snakemake(item) -> bool:
    import inspect

    function = getattr(item, "function", None)
    try:
        return function is not None and ("snakemake(" in inspect.getsource(function)
                                         or '"--dag"' in inspect.getsource(function))
    except (OSError, TypeError):
        return False


# Tests that share the session's demo run or SLURM cluster: one xdist group, so that with `-n 2 --dist loadgroup`
# (pyproject.toml) one worker runs them all and each session fixture is made once (two clusters cannot share the
# machine's slurmctld); xdist's own hook reads the marker, hence tryfirst.
SHARED_FIXTURES = {"smoke_run", "slurm_cluster"}


def pytest_collection_finish(session):
    # in an xdist worker: a grouped test whose node id lacks its "@group" suffix was not grouped (xdist's loadgroup
    # with pytest >= 9.2, pytest-dev/pytest-xdist#1386): refuse, rather than run the demo and the cluster twice
    if getattr(session.config.option, "loadgroup", False):
        ungrouped = [item.nodeid for item in session.items
                     if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
        if ungrouped:
            raise pytest.UsageError(f"pytest-xdist did not group {ungrouped[0]} (pytest-dev/pytest-xdist#1386 with "
                                    f"pytest {pytest.__version__}): install pytest<9.2 (the test extra) or run -n 0")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # the `dag` marker (pyproject.toml): every test whose body starts Snakemake (a dry run or more) gets it here, so
    # none is missed; the fast tier (`-m "not slow and not slurm and not dag"`) leaves them out
    for item in items:
        if _starts_snakemake(item):
            item.add_marker(pytest.mark.dag)
        if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("demo"))
    starter = [item for item in items if item.nodeid.endswith(STARTS_SMOKE_RUN)]
    if starter:
        items.remove(starter[0])
        first_user = next((i for i, item in enumerate(items) if "smoke_run" in item.fixturenames), len(items))
        items.insert(first_user, starter[0])


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
