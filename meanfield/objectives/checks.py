"""What every objective checks about the networks it is given, before any backend sees
them (the backends trust their inputs: a Numba kernel reads the first d columns it is
told about)."""
from __future__ import annotations

import numpy as np

from ..model.network import check_network


def check_student(net, d: int, k: int, what: str) -> None:
    """ValueError naming the argument ``net`` unless the network ``net`` takes inputs of
    dimension ``d`` and has ``k`` outputs, as the objective's ``what`` ("data", "teacher")
    does (TypeError if it is not a Network). Every objective checks the networks it is
    given before any backend sees them, so that a student of the wrong dimension is
    refused on every backend.

    Example: ``check_student(Network.init(4, 2), 3, 1, "data")`` raises
    ``ValueError("net: network has d=2, k=1 but the data has d=3, k=1")``."""
    try:
        check_network(net, d, k, what)
    except ValueError as err:
        raise ValueError(f"net: {err}") from None


def check_members(nets, objectives) -> None:
    """:func:`check_student` for each member of an ensemble: network s against objective
    s's data (``X``) or teacher (``d``, ``k``)."""
    for net, objective in zip(nets, objectives, strict=False):
        data = getattr(objective, "X", None)
        if data is not None:
            check_student(net, np.shape(data)[-1], np.shape(objective.y)[-1], "data")
        else:
            teacher = getattr(objective, "teacher", None) or objective.population.teacher
            shape = getattr(teacher, "layout", teacher)  # a Network's layout or an IndexTarget
            check_student(net, shape.d, shape.k, "teacher")
