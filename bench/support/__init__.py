"""Pieces the benchmarks share that are not benchmarks (``make bench`` runs bench/*.py only)."""
