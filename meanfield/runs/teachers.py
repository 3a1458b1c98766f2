"""The teacher a run config names (``[teacher] kind``): a network, or an index target.

``kind = "network"`` (the default) is the teacher network of the other teacher fields;
``kind = "index"`` is the :class:`~meanfield.IndexTarget` y = g(U^T x) + noise of theory §13,
with ``hermite`` its coefficients and ``directions`` its u_j: "random" (orthonormal, drawn
from the run's teacher seed) or "canonical" (the first r basis vectors). ``hermite`` is a
table of multi-index -> coefficient (``{"3" = 1.0}``, ``{"1,1,0" = 0.5}``), a list of
[multi-index, coefficient] pairs (``[[[1, 0], 1.0], [[1, 1], 1.0]]``), or its stored form,
rows "degrees then coefficient" (``[[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]``); r is the length
of the multi-indices.

A run with an index target keeps a stand-in network as its teacher (what its files and
figures hold): r linear units with c = 1 and a = u_j, the target's directions.

Examples:

    >>> import meanfield as mf
    >>> config = mf.Config.from_dict({"d": 8, "teacher": {"kind": "index",
    ...     "hermite": {"3": 1.0}, "directions": "canonical"}, "student": {"m": 4}})
    >>> config.teacher.hermite                     # the stored form: degrees, then beta
    ((3.0, 1.0),)
    >>> network, target = build(config, 0)
    >>> target.information_exponent, network.a.shape
    (3, (1, 8))
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..model.network import Network
from ..model.targets import IndexTarget

#: the values of ``teacher.kind``
TEACHER_KINDS = ("network", "index")
#: the values of ``teacher.directions`` (index targets)
DIRECTIONS = ("random", "canonical")


class TeacherError(ValueError):
    """A bad index-teacher field: ``field`` names it (the config turns it into a
    ConfigError)."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def _degrees(key: Any) -> list[float]:
    if isinstance(key, str):
        try:
            return [float(int(part)) for part in key.replace(" ", "").split(",")]
        except ValueError:
            raise TeacherError("teacher.hermite", f"key {key!r} must be degrees separated "
                                                  f"by commas, e.g. \"1,1,0\"") from None
    return [float(k) for k in np.atleast_1d(key)] if _numbers(key) else []


def _numbers(value: Any) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)


def normalised(data: Any) -> Any:
    """A raw config (nested dicts) with ``teacher.hermite`` in its stored form; anything
    that is not such a dict is returned as it is, for the config's own checks."""
    if not (isinstance(data, dict) and isinstance(data.get("teacher"), dict)
            and "hermite" in data["teacher"]):
        return data
    hermite = _normalise_hermite(data["teacher"]["hermite"])
    return {**data, "teacher": {**data["teacher"], "hermite": hermite}}


def _normalise_hermite(value: Any) -> Any:
    """The stored form (rows of degrees, then the coefficient) of a table, a list of
    [multi-index, coefficient] pairs or rows; anything else is returned as it is, for the
    field's own type check to reject."""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)) and value and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], (list, tuple))
            for p in value):
        pairs = [(p[0], p[1]) for p in value]
    else:
        return value
    rows = []
    for key, beta in pairs:
        degrees = _degrees(key)
        if not degrees or not _numbers(beta):
            raise TeacherError("teacher.hermite", f"{key!r} = {beta!r} is not a multi-index "
                                                  f"and a coefficient")
        rows.append([*degrees, float(beta)])
    return rows


def check_unread_fields(t: Any) -> None:
    """A teacher field that only the other kind reads: TeacherError, not a silent no-op."""
    if t.kind == "index":
        unread = [f for f in ("weights", "c", "a", "b", "input") if getattr(t, f) is not None]
        if unread:
            raise TeacherError(f"teacher.{unread[0]}", "not read by an index teacher (its "
                                                       "directions: teacher.directions)")
    elif t.hermite is not None or t.directions != "random":
        field = "hermite" if t.hermite is not None else "directions"
        raise TeacherError(f"teacher.{field}", f'only read by an index teacher (teacher.kind '
                                               f'= "index"), not by kind = {t.kind!r}')


def check(config: Any) -> None:
    """The index-teacher fields of ``config``: TeacherError naming the first bad one."""
    t, d = config.teacher, config.d
    if t.hermite is None:
        raise TeacherError("teacher.hermite", "an index teacher needs its coefficients")
    lengths = {len(row) for row in t.hermite}
    if len(lengths) != 1 or min(lengths) < 2:
        raise TeacherError("teacher.hermite", "every row needs the same number r >= 1 of "
                                              "degrees, then the coefficient")
    r = lengths.pop() - 1
    if r > d:
        raise TeacherError("teacher.hermite", f"r = {r} directions need d >= r, got d = {d}")
    if t.directions not in DIRECTIONS:
        raise TeacherError("teacher.directions", f"must be one of {', '.join(DIRECTIONS)}; "
                                                 f"got {t.directions!r}")
    if config.objective.inputs != "gaussian":
        raise TeacherError("objective.inputs", "an index teacher needs Gaussian inputs")
    try:
        _target(t.hermite, np.eye(d)[:, :r])
    except ValueError as err:
        raise TeacherError("teacher.hermite", str(err).removeprefix("hermite: ")) from None


def _target(rows, U) -> IndexTarget:
    return IndexTarget(U, {tuple(row[:-1]): row[-1] for row in rows})


def build(config: Any, seed: Any) -> tuple[Network, Network | IndexTarget]:
    """(the teacher network the run stores, what the objectives learn): the same network
    twice, or an index target's stand-in network and the target (module docstring).
    ``seed`` draws the teacher network or the random directions."""
    t = config.teacher
    if t.kind == "network":
        teacher = explicit(t, activation=t.activation, alpha=t.alpha) or Network.init(
            t.m, config.d, activation=t.activation, bias=t.bias, output=t.output,
            alpha=t.alpha, seed=seed, tau={"c": t.scale, "a": 1.0},
            input=t.input if t.input is not None else ("sphere" if t.sphere else "gaussian"))
        return teacher, teacher
    r = len(t.hermite[0]) - 1
    if t.directions == "canonical":
        U = np.eye(config.d)[:, :r]
    else:
        U = IndexTarget.random(config.d, {(0,) * r: 1.0}, r=r, seed=seed).U
    target = _target(t.hermite, U)
    return Network(np.ones(r), U.T, activation="linear"), target


def explicit(section: Any, **kwargs: Any) -> Network | None:
    """The network of a config section's explicit weights (an .npz file or inline lists
    c, a, b), or None when it names none."""
    if section.weights is not None:
        return Network.from_npz(section.weights, **kwargs)
    if section.a is not None:
        return Network.from_arrays(section.c, section.a, section.b, **kwargs)
    return None
