"""The m -> infinity distances of a sweep, from its files (theory §11).

A sweep over the width (an axis such as ``student.m``) holds, for every setting of its
other axes and seed, a family of runs whose largest width M stands in for the limit.
For each finished cell of width m < M, :func:`sweep_distances` computes the distance
between its final particle cloud mu_m and the final cloud mu_M of its group's widest
cell, on the W2 scale (meanfield.analysis.distances: exact ``w2``, ``sliced`` or
``sinkhorn``), beside the same-distribution baseline: the distance between two
disjoint random subsets of mu_M of sizes m and M - m (two samples of the reference
measure), so ``ratio`` = distance / baseline near 1 means mu_m is as close to mu_M as a
sample of mu_M is. ``meanfield collect SWEEP_DIR --distances`` writes the table as
distances.csv.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..analysis import distances as metrics
from ..core.extras import require
from . import store
from .collect import collect, read_config_manifest
from .config import ConfigError
from .store import CELLS, DISTANCES

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("reference_cell", "reference_width", "t", "distance", "baseline", "ratio")


def _final_cloud(sweep_dir: Path, cell: str):
    arrays = store.read_npz(sweep_dir / CELLS / cell / store.TRAJECTORY)
    return arrays["snapshots"][-1], float(arrays["times"][-1])


def check_request(sweep_dir, axis: str, distance: str) -> list[str]:
    """The sweep's axes; ConfigError naming ``axis`` or ``distance`` when the sweep has
    no such axis or meanfield.analysis.distances no such distance."""
    axes = list(read_config_manifest(sweep_dir)["axes"])
    if axis not in axes:
        raise ConfigError("axis", f"{axis!r} is not an axis of {sweep_dir} (axes: "
                                  f"{', '.join(axes)})")
    if distance not in metrics.DISTANCES:
        raise ConfigError("distance", f"{distance!r} is not one of "
                                      f"{', '.join(metrics.DISTANCES)}")
    return axes


def sweep_distances(sweep_dir, axis: str = "student.m", distance: str = "w2",
                    seed: int = 0, save: bool = True) -> pd.DataFrame:
    """One row per finished cell narrower than its group's widest: the cell's axes and
    seed, then ``reference_cell``, ``reference_width`` (M), ``t`` (the final record),
    ``distance`` D(mu_m, mu_M), ``baseline`` and ``ratio`` (module docstring). A group is
    the cells sharing every axis value but ``axis``. With ``save``, writes distances.csv.

    Examples:

        >>> table = sweep_distances("sweeps/width", axis="student.m")  # doctest: +SKIP
        >>> table.groupby("student.m")["ratio"].median()  # doctest: +SKIP
    """
    sweep_dir = Path(sweep_dir)
    axes = check_request(sweep_dir, axis, distance)
    table = collect(sweep_dir, save=False)
    done = table[table["status"] == "done"]
    others = [a for a in axes if a != axis]
    rows = []
    for _, group in (done.groupby(others, dropna=False) if others else [((), done)]):
        widest = group.loc[group[axis].idxmax()]
        reference, t_ref = _final_cloud(sweep_dir, widest["cell"])
        for _, row in group[group[axis] < widest[axis]].iterrows():
            cloud, t = _final_cloud(sweep_dir, row["cell"])
            found = metrics.distance_with_baseline(cloud, reference, distance=distance,
                                                   seed=seed)
            rows.append({"cell": row["cell"], **{a: row[a] for a in axes},
                         "reference_cell": widest["cell"],
                         "reference_width": widest[axis], "t": t,
                         "distance": found["distance"], "baseline": found["baseline"],
                         "ratio": found["distance"] / found["baseline"]})
    result = require("pandas", "sweeps").DataFrame(rows, columns=["cell", *axes, *COLUMNS])
    if save:
        store.write_text(sweep_dir / DISTANCES, result.to_csv(index=False))
    return result
