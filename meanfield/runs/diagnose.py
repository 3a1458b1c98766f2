"""Diagnostics along a run: laziness (config section ``diagnostics``, theory §3, §8) and,
with an index-target teacher, the overlaps with its directions (theory §13).

The quantities themselves are functions of arrays in :mod:`meanfield.analysis.diagnostics`
and :mod:`meanfield.analysis.overlaps`; this module decides on which probe points they are
measured and, with ``tangent = true``, trains the tangent model with the run's integrator
and schedule beside the network.
"""
from __future__ import annotations

import numpy as np

from ..analysis.diagnostics import diagnose, laziness_kappa
from ..analysis.overlaps import overlaps_along
from ..core.layout import Layout
from ..objectives.teacher_student import Empirical
from ..dynamics.trajectory import simulate
from ..objectives.frozen import freeze, unfreeze
from ..objectives.tangent import Tangent
from .rundir import OVERLAP_KEYS


def probe_set(objective, test, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of n probe points: the first n held-out points of an empirical run (its
    training points if it has none), else n draws from the population (teacher labels)."""
    for data in (test, objective):
        if isinstance(data, Empirical):
            return data.X[:n], data.y[:n]
    population = getattr(objective, "population", objective)  # Online wraps one
    return population.sample(n, rng)


def tangent_model(objective, net0):
    """The tangent model of a run's objective at its initial network ``net0``
    (:class:`meanfield.objectives.tangent.Tangent`), with the run's frozen parameter
    groups frozen in it too."""
    inner, frozen = unfreeze(objective)
    return freeze(Tangent(inner, net0), frozen)


def along_run(problem, snapshots, t_end: float, probe: int, tangent: bool = False,
              seed=0, start=None, on_step=None, progress: bool = False,
              callback_every: int | None = None) -> dict:
    """Diagnostics of a run (meanfield.runs Problem and its recorded snapshots; scalar
    output, k = 1, as the tangent kernel needs), as lists over the records: displacement,
    kernel_change, activation_stability on ``probe`` points (:func:`probe_set`), kappa at
    w0 (:func:`laziness_kappa` on the training data, or the probe sample for population
    objectives; None for an activation with sigma'' != 0), and with ``tangent`` the
    tangent model trained by the same integrator and schedule and its distance to the
    network (:func:`diagnose`). ``start`` and ``on_step`` are simulate's for the tangent
    model's training: its checkpoints, taken and resumed by meanfield.runs.run like the
    run's own."""
    rng = np.random.default_rng(seed)
    X, y = probe_set(unfreeze(problem.objective)[0], problem.test, probe, rng)
    net0 = problem.student
    lin = lin_snapshots = None
    if tangent:
        lin = tangent_model(problem.objective, net0)
        lin_snapshots = simulate(net0, lin, problem.integrator, t_end,
                                 record=problem.schedule, seed=seed, start=start,
                                 on_step=on_step, progress=progress,
                                 callback_every=callback_every).snapshots
        if len(lin_snapshots) != len(snapshots):
            raise ValueError("the tangent model's records do not match the run's")
    out = {key: val.tolist() for key, val in
           diagnose(snapshots, net0, X, lin, lin_snapshots).items()}
    data = getattr(problem.objective, "X", None)
    X_kappa, y_kappa = (X, y) if data is None else (data, problem.objective.y)
    try:
        out["kappa"] = laziness_kappa(net0, X_kappa, y_kappa)
    except ValueError:
        out["kappa"] = None
    return out



def index_overlaps(U, snapshots, layout: Layout, diagnostics: dict | None = None) -> dict:
    """``{"diagnostics": ...}``: the run's ``diagnostics`` (None: none) with, for a run
    whose teacher is an index target with directions ``U`` (d, r) (its stand-in
    teacher's a^T, :mod:`meanfield.runs.teachers`), the overlaps of the recorded
    ``snapshots`` with span(U) as lists over the records: overlap_mean (|c|-weighted),
    overlap_fraction (neurons at or above 1/2) and overlap_max
    (:func:`meanfield.analysis.overlaps.overlaps_along`); ``U = None`` (another teacher)
    adds none, and gives ``{}`` without diagnostics."""
    if U is None:
        return {} if diagnostics is None else {"diagnostics": diagnostics}
    along = overlaps_along(snapshots, layout, U)
    measures = {key: along[key.removeprefix("overlap_")].tolist() for key in OVERLAP_KEYS}
    return {"diagnostics": {**(diagnostics or {}), **measures}}
