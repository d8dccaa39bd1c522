"""Benchmarks: one command each (``python -m benchmarks.<name>``), each printing a ratio against a
baseline measured in the same run. These machines are noisy: read medians and ratios, and rerun
when another process is busy on the CPU."""
