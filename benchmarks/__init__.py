"""Benchmarks of meanfield: every group behind ``meanfield bench`` (a source checkout only;
they are not part of the installed package)."""
