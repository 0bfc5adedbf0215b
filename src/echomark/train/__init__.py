"""Training: typed config, loop, checkpoints, DDP (torch)."""
