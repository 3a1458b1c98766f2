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

Explicit weights (an .npz file or inline lists) and input-weight laws, which the teacher
and the student's init section share, are read by :func:`explicit` and checked by
:func:`check_laws`.

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

from ..model.network import INPUT_WEIGHT_LAWS, Network
from ..model.targets import IndexTarget

#: the values of ``teacher.kind``
TEACHER_KINDS = ("network", "index")
#: the values of ``teacher.directions`` (index targets)
DIRECTIONS = ("random", "canonical")


class TeacherError(ValueError):
    """A bad teacher field (or student weights field): ``field`` names it (the config
    turns it into a ConfigError)."""

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


def _set_fields(section: Any, names: tuple[str, ...]) -> list[str]:
    """The fields among ``names`` that the config section sets away from their defaults
    (a name the section does not have counts as unset)."""
    return [f for f in names
            if hasattr(section, f) and getattr(section, f) != getattr(type(section), f)]


def check_unread_fields(t: Any) -> None:
    """A teacher field that only the other kind reads: TeacherError, not a silent no-op."""
    if t.kind == "index":
        unread = _set_fields(t, ("weights", "c", "a", "b", "input"))
        _require(not unread, f"teacher.{unread[0] if unread else ''}",
                 "not read by an index teacher (its directions: teacher.directions)")
    else:
        unread = _set_fields(t, ("hermite", "directions"))
        _require(not unread, f"teacher.{unread[0] if unread else ''}",
                 f'only read by an index teacher (teacher.kind = "index"), not by kind = '
                 f'{t.kind!r}')


def _require(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise TeacherError(field, message)


def check_laws(section: Any, name: str, m: int, d: int, bias: bool | None = None,
               owner: str | None = None) -> None:
    """The input law and the explicit weights of a teacher or student init section: a
    known law (orthonormal needs m <= d); weights from a readable .npz or inline lists
    (not both) whose shapes match m, d and the bias setting, and no law or scale beside
    them (explicit weights leave it unread). TeacherError naming the first bad field."""
    owner = owner or name
    bias = getattr(section, "bias", False) if bias is None else bias
    if section.input is not None:
        _require(section.input in INPUT_WEIGHT_LAWS, f"{name}.input", f"must be one of "
                 f"{', '.join(INPUT_WEIGHT_LAWS)}; got {section.input!r}")
        _require(not _set_fields(section, ("sphere",)), f"{name}.sphere",
                 f"the older shorthand for {name}.input; give one of the two")
        _require(section.input != "orthonormal" or m <= d, f"{name}.input",
                 f"orthonormal directions need {owner}.m <= d = {d}, got {m}")
    inline = [key for key in ("c", "a", "b") if getattr(section, key) is not None]
    if section.weights is None and not inline:
        return
    _require(not (section.weights and inline), f"{name}.weights",
             f"give either an .npz file or inline {name}.c/a/b, not both")
    unread = _set_fields(section, ("input", "tau", "tau_c", "tau_a", "tau_b", "scale",
                                   "symmetric", "reference_m"))
    _require(not unread, f"{name}.{unread[0] if unread else ''}",
             f"not read: {name} has explicit weights (a law or scale draws random ones)")
    if section.weights is not None:
        try:
            net = Network.from_npz(section.weights)
        except ValueError as err:
            raise TeacherError(f"{name}.weights", str(err)) from None
        c, a, b = net.c, net.a, net.b
    else:
        _require(section.c is not None and section.a is not None, f"{name}.a",
                 f"inline weights need both {name}.c and {name}.a")
        c, a, b = section.c, section.a, section.b
    a_shape = {len(row) for row in a}
    _require(len(a_shape) == 1 and a_shape.pop() == d, f"{name}.a",
             f"must have rows of d = {d} numbers")
    _require(len(a) == m, f"{owner}.m", f"must equal the {len(a)} rows of {name}.a, got {m}")
    _require(len(c) == m, f"{name}.c", f"must have {len(a)} entries (one per row of a), "
                                       f"got {len(c)}")
    _require((b is not None) == bool(bias), f"{owner}.bias",
             f"must be {str(b is not None).lower()} for {name} weights "
             f"{'with' if b is not None else 'without'} b")
    _require(b is None or len(b) == m, f"{name}.b", f"must have {m} entries, got "
                                                     f"{0 if b is None else len(b)}")


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
