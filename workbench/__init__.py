"""The workbench: what train, convert and benchmarks share, from a checkout only.

Labelled sets and their one seeded sampler, the source list and its splits, run folders,
evaluation metrics and every checkout path. Not in the wheel: the runtime a device installs
(edge_runtime) imports nothing from here (tests/test_stage_boundaries.py).
"""
