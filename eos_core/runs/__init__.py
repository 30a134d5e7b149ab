"""Torch-free job running: the disk store, the queue, the worker, fencing, repair, checkpoints, sweeps."""
