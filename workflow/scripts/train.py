import logging
import os
import sys

# appended, so the log of a preempted attempt stays above the one of its resumption
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
from gan.training import Preempted, train

cfg = config_from_dict(snakemake.params.settings)
try:
    train(cfg, snakemake.params.run_dir)
except Preempted as err:
    logging.warning("%s: exiting with 143 so that the retry resumes from the checkpoint", err)
    sys.exit(Preempted.exit_code)
