import os

import torch

# Tiny models on 2 cores: one intra-op thread each avoids oversubscription when tests start subprocesses
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
