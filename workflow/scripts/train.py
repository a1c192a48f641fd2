import logging
import os
import sys

# Snakemake deletes a failed job's log before its retry: what must survive goes to the run's attempts log below
sys.stderr = open(snakemake.log[0], "a")
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")

from gan.gpu import claim_gpu

# before anything initialises CUDA: one free GPU for this job (a no-op under SLURM or without GPUs)
gpu_claim = claim_gpu() if snakemake.resources.gpu else None
logging.info("job environment: SLURM_JOB_ID=%s CUDA_VISIBLE_DEVICES=%s", os.environ.get("SLURM_JOB_ID", ""),
             os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))

import torch

torch.set_num_threads(snakemake.threads)

from gan.config import config_from_dict
from gan.progress import note_attempt
from gan.tracking import LiveMirror
from gan.training import Preempted, train

cfg = config_from_dict(snakemake.params.settings)
# a configured tracking server sees the curve at checkpoints, not only at the end of the DAG (fails soft)
mirror = LiveMirror.for_job(snakemake.config, cfg.dataset_name, cfg.objective_name, cfg.seed)
note_attempt(snakemake.params.run_dir, "started")
try:
    summary = train(cfg, snakemake.params.run_dir, on_checkpoint=mirror)
except Preempted as err:
    # Snakemake deletes this job's log before the retry: the run's attempts log keeps the note
    note_attempt(snakemake.params.run_dir, f"{err}; exit 143, the retry resumes from the checkpoint")
    logging.warning("%s: exiting with 143 so that the retry resumes from the checkpoint", err)
    sys.exit(Preempted.exit_code)
except BaseException as err:
    note_attempt(snakemake.params.run_dir, f"failed: {type(err).__name__}: {err}")
    raise
note_attempt(snakemake.params.run_dir, f"{summary['status']} at generator iteration {summary['steps_done']}")
if mirror is not None:
    mirror.finished()
