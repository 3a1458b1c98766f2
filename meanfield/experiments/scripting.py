"""What every experiment script shares: its command line and its atomic outputs.

Every script reproduces one figure at two sizes (``--quick``: minutes on 2 cores; the
default: the paper's size), takes the first seed and an output directory, and writes
its figures plus ``DIR/summary.json`` (atomic writes, so a killed script leaves no half-written
file).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..runs import store


def experiment_parser(doc: str, default_out: str, quick_help: str,
                      workers: bool = False) -> argparse.ArgumentParser:
    """An argument parser with --quick, --seed (first seed), --out DIR and, for scripts
    that fan out on Dask, --workers; the description is the docstring's first line."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--out", type=Path, default=Path(default_out),
                        help=f"output directory (default {default_out})")
    if workers:
        parser.add_argument("--workers", type=int,
                            help="Dask worker processes (default: one per core)")
    return parser


def write_results(out: Path, **documents) -> None:
    """Write each keyword as ``out/<name>.json``, atomically (temp file + rename)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, obj in documents.items():
        store.write_json(out / f"{name}.json", obj)
