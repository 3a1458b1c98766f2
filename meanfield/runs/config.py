"""Run configurations: frozen dataclasses that round-trip through TOML and JSON.

A :class:`Config` names everything a run depends on (task, teacher, student, objective,
integrator, horizon, recording, checkpoints, backend, dtype, seed), so a run is a pure
function of its config. Errors are :class:`ConfigError` with one line naming the field,
e.g. ``student.m: must be a positive integer, got -3``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import typing
from dataclasses import dataclass, field

import tomli_w

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .. import backends
from ..dynamics import integrators as dynamics
from ..kernels.gaussian import INPUT_LAWS, pair_kernel
from ..core.losses import LOSSES
from ..core.layout import Layout
from ..model.network import BIAS_LAWS, OUTPUT_INITS
from ..model.network import resolve_alpha
from ..objectives.frozen import check_frozen
from ..dynamics.trajectory import SCHEDULES
from . import activation_names, teachers
from .objective_kinds import OBJECTIVE_KINDS


class ConfigError(ValueError):
    """An invalid configuration; the message is one line starting with the field name.

    Examples:

        >>> import meanfield as mf
        >>> try:
        ...     mf.Config.from_dict({"student": {"m": -1}})
        ... except mf.ConfigError as err:
        ...     print(err)
        student.m: ...
    """

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(f"{field_name}: {message}")


@dataclass(frozen=True)
class TeacherConfig:
    """Teacher network y = (alpha/m) sum_j c_j sigma(a_j . x + b_j) + noise.
    alpha = "sum" means alpha = m (no 1/m, as in Chizat-Oyallon-Bach, theory §6).
    Directions: ``input`` (optional) names their law (meanfield.model.laws: "orthonormal",
    "sphere", "gaussian", "xavier"; unset: ``sphere``); output weights by ``output``
    ("sign", "ones", "gaussian", "uniform", "zeros") times ``scale``. Explicit weights:
    ``weights`` (an .npz file with arrays c, a and optionally b) or inline lists ``c``,
    ``a`` (m rows of d numbers), ``b``; m and bias must agree with them. ``kind = "index"``:
    the index target of ``hermite`` and ``directions`` instead (meanfield.runs.teachers)."""

    m: int = 3
    activation: str = "relu"
    bias: bool = False
    sphere: bool = True
    output: str = "sign"
    alpha: typing.Union[float, str] = "sum"
    noise: float = 0.0
    input: typing.Optional[str] = None
    scale: float = 1.0
    weights: typing.Optional[str] = None
    c: typing.Optional[typing.Tuple[float, ...]] = None
    a: typing.Optional[typing.Tuple[typing.Tuple[float, ...], ...]] = None
    b: typing.Optional[typing.Tuple[float, ...]] = None
    kind: str = "network"
    hermite: typing.Optional[typing.Tuple[typing.Tuple[float, ...], ...]] = None
    directions: str = "random"


@dataclass(frozen=True)
class InitConfig:
    """Student initialisation (meanfield.Network.init): scale tau, symmetrised or not.
    ``reference_m`` (optional, >= m): draw the init of a reference_m-neuron network and
    keep m of its particles (meanfield.model.network.coupled_indices), the synchronous coupling
    of the m -> infinity study (theory §1). ``seed`` (optional): draw the initial
    particles from this seed instead of the run's, so that runs differing only in it share
    teacher and data (ensembles over initialisations, meanfield.experiments.geiger_phase).
    Laws per layer (meanfield.model.laws): ``input`` ("gaussian", "xavier" = N(0, I/d),
    "sphere", "orthonormal"; unset: ``sphere``), ``output``, ``bias_law``; scales
    ``tau_c``, ``tau_a``, ``tau_b`` (unset: ``tau``, the mean-field shorthand).
    Explicit weights: ``weights`` (.npz with c, a, b) or inline ``c``, ``a``, ``b``."""

    tau: float = 1.0
    symmetric: bool = False
    sphere: bool = False
    output: str = "gaussian"
    reference_m: typing.Optional[int] = None
    seed: typing.Optional[int] = None
    input: typing.Optional[str] = None
    bias_law: str = "gaussian"
    tau_c: typing.Optional[float] = None
    tau_a: typing.Optional[float] = None
    tau_b: typing.Optional[float] = None
    weights: typing.Optional[str] = None
    c: typing.Optional[typing.Tuple[float, ...]] = None
    a: typing.Optional[typing.Tuple[typing.Tuple[float, ...], ...]] = None
    b: typing.Optional[typing.Tuple[float, ...]] = None


@dataclass(frozen=True)
class StudentConfig:
    """Student network; alpha is "mean-field" (1), "ntk" (sqrt m), "sum" (m) or a number.
    ``frozen`` (optional): parameter groups kept at their initial values, some of "c",
    "a", "b" (meanfield.objectives.frozen), e.g. ["c"] for a committee machine."""

    m: int = 100
    activation: str = "relu"
    bias: bool = False
    alpha: typing.Union[float, str] = "mean-field"
    centered: bool = False
    init: InitConfig = field(default_factory=InitConfig)
    frozen: typing.Optional[typing.Tuple[str, ...]] = None


@dataclass(frozen=True)
class ObjectiveConfig:
    """kind: "population" (exact risk), "empirical" (n_train points, n_test held out),
    "online" (fresh batches of ``batch``) or "digits" (scikit-learn's digits, labels
    +-1 by parity, d = 64; meanfield.objectives.datasets); inputs "gaussian" or "sphere"."""

    kind: str = "population"
    inputs: str = "gaussian"
    n_train: int = 100
    n_test: int = 0
    batch: int = 200
    loss: str = "square"


#: config defaults that differ from the integrator factories' own (None: the factory's)
INTEGRATOR_DEFAULTS = {"name": "euler", "dt": 0.01}


def _integrator_config(registry: tuple) -> type:
    """IntegratorConfig: ``name`` and every parameter of every registered integrator
    (meanfield.dynamics.integrators.parameters), each optional; unset parameters take the
    integrator's own default. Built from the registry, so a registered integrator's
    parameters are config fields without being listed twice."""
    kinds: dict[str, type] = {}
    for name, _ in registry:
        for param, (kind, _) in dynamics.parameters(name).items():
            kinds.setdefault(param, kind)
    fields: list[tuple[str, typing.Any, typing.Any]] = [
        ("name", str, field(default=INTEGRATOR_DEFAULTS["name"]))]
    fields += [(param, typing.Optional[kind], field(default=INTEGRATOR_DEFAULTS.get(param)))
               for param, kind in kinds.items()]
    cls = dataclasses.make_dataclass("IntegratorConfig", fields, frozen=True)
    cls.__module__ = __name__
    cls.__doc__ = ("An integrator of meanfield.dynamics.integrators by name and its parameters "
                   "(unset ones take the integrator's default).")
    return cls


_REGISTRY: tuple = ()


def integrator_config() -> type[IntegratorConfig]:
    """The IntegratorConfig class of the integrators registered now: rebuilt (and bound
    to ``IntegratorConfig``) when ``meanfield.integrators.register`` added one since, so
    an integrator registered after this module was imported is usable in configs."""
    global _REGISTRY
    registry = tuple((name, id(factory)) for name, factory in dynamics.INTEGRATORS.items())
    if registry != _REGISTRY:
        globals()["IntegratorConfig"], _REGISTRY = _integrator_config(registry), registry
    return typing.cast("type[IntegratorConfig]", globals()["IntegratorConfig"])


if typing.TYPE_CHECKING:
    class IntegratorConfig:
        """What the type checker knows of the class built at run time by
        :func:`integrator_config`: a frozen dataclass with ``name`` and one optional field
        per integrator parameter (read by name, so typed ``Any``)."""

        __dataclass_fields__: typing.ClassVar[dict[str, dataclasses.Field[typing.Any]]]
        name: str

        def __init__(self, **params: typing.Any) -> None: ...

        def __getattr__(self, param: str) -> typing.Any: ...
else:
    IntegratorConfig = integrator_config()


@dataclass(frozen=True)
class RecordConfig:
    """Record schedule: "log" (t = 0 and log-spaced from t_min) or "linear", n records."""

    schedule: str = "log"
    n: int = 100
    t_min: typing.Optional[float] = None


@dataclass(frozen=True)
class CheckpointConfig:
    """Checkpoint every ``every_steps`` steps (0: never by steps) or ``every_seconds``."""

    every_steps: int = 0
    every_seconds: float = 30.0


@dataclass(frozen=True)
class DiagnosticsConfig:
    """Laziness diagnostics written into metrics.json at every record
    (meanfield.analysis.diagnostics,
    theory §1, §8): ``probe`` points (0: off) for the kernel change and activation
    stability, kappa at w0; ``tangent`` also trains the tangent model (empirical data)
    and records the distance between the two."""

    probe: int = 0
    tangent: bool = False


@dataclass(frozen=True)
class Config:
    """A whole run. ``t_end`` is the horizon in mean-field time units (theory §1).

    Examples:

        >>> import meanfield as mf
        >>> config = mf.Config.from_dict({"d": 3, "student": {"m": 50}, "t_end": 5.0})
        >>> config.student.m, config.student.activation, config.integrator.name
        (50, 'relu', 'euler')
        >>> config.override({"integrator.dt": "0.02"}).integrator.dt
        0.02
        >>> mf.Config.from_toml(config.to_toml()) == config
        True
    """

    task: str = "teacher-student"
    d: int = 2
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    integrator: IntegratorConfig = field(default_factory=lambda: integrator_config()())
    t_end: float = 10.0
    record: RecordConfig = field(default_factory=RecordConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    backend: str = "auto"
    dtype: str = "float64"
    seed: int = 0

    # -- serialisation --------------------------------------------------------------
    def to_dict(self) -> dict:
        """Nested plain dict, unset (None) fields dropped."""
        return _drop_none(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data) -> "Config":
        """Build and validate; raises ConfigError naming the first bad field."""
        integrator_config()  # the fields of integrators registered since
        try:  # an index teacher's coefficients as a table or pairs become the stored rows
            config = _build(cls, teachers.normalised(data), "")
            validate(config)
        except teachers.TeacherError as err:
            raise ConfigError(err.field, err.message) from None
        return config

    @classmethod
    def from_toml(cls, text: str) -> "Config":
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as err:
            raise ConfigError("config", f"invalid TOML: {_first_line(err)}") from None
        return cls.from_dict(data)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            raise ConfigError("config", f"invalid JSON: {_first_line(err)}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path) -> "Config":
        """Read a .toml or .json config file."""
        path = str(path)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as err:
            raise ConfigError("config", f"cannot read {path}: {err.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError("config", f"{path} is not a text file (invalid UTF-8)") \
                from None
        try:
            return cls.from_json(text) if path.endswith(".json") else cls.from_toml(text)
        except ConfigError as err:
            if err.field == "config":  # not TOML/JSON at all: say which file
                raise ConfigError("config", f"{path}: {str(err).split(': ', 1)[1]}") \
                    from None
            raise

    def override(self, pairs: dict[str, str]) -> "Config":
        """A copy with dotted keys set, e.g. {"student.m": "32"}; values parse as TOML
        values (numbers, booleans, quoted strings), bare words as strings."""
        data = self.to_dict()
        for key, text in pairs.items():
            node, parts = data, key.split(".")
            for depth, part in enumerate(parts[:-1]):
                child = node.get(part)
                if not isinstance(child, dict):
                    raise ConfigError(key, f"unknown field {'.'.join(parts[:depth + 1])!r}")
                node = child
            node[parts[-1]] = parse_value(text)
        return Config.from_dict(data)


def _first_line(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]


def parse_value(text: str):
    """A TOML value (1, 0.5, true, "x", [1, 2]) or, failing that, the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _drop_none(data):
    if isinstance(data, dict):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    return data


def _build(cls, data, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(prefix.rstrip(".") or "config", "must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(prefix + key, "unknown field")
    values = {}
    for name in names & set(data):
        kind, value = hints[name], data[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(kind, value, prefix + name)
    return cls(**values)


def _type_name(kind) -> str:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is tuple:
        inner = _type_name(args[0])
        if inner.startswith("a list of "):  # "a list of lists of numbers"
            return "a list of lists of " + inner.removeprefix("a list of ")
        return "a list of " + inner.split(" ", 1)[1] + "s"
    if args:
        return " or ".join(_type_name(a) for a in args)
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}[kind]


def _coerce(kind, value, name: str):
    args = typing.get_args(kind)
    if typing.get_origin(kind) is tuple:  # a list of values; one bare value is a list of one
        items = [value] if isinstance(value, (str, int, float)) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(name, f"must be a list, got {value!r}")
        return tuple(_coerce(args[0], item, name) for item in items)
    if args:
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, name)
            except ConfigError:
                pass
        raise ConfigError(name, f"must be {_type_name(kind)}, got {value!r}")
    ok = {bool: isinstance(value, bool),
          int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          str: isinstance(value, str)}[kind]
    if not ok:
        raise ConfigError(name, f"must be {_type_name(kind)}, got {value!r}")
    return float(value) if kind is float else value


# -- validation -----------------------------------------------------------------------
def _check(cond: bool, name: str, message: str) -> None:
    if not cond:
        raise ConfigError(name, message)


def _positive_int(value, name):
    _check(value >= 1, name, f"must be a positive integer, got {value}")


def _positive(value, name, zero=False):
    _check(math.isfinite(value) and (value >= 0 if zero else value > 0), name,
           f"must be a {'non-negative' if zero else 'positive'} finite number, got {value}")


def _choice(value, options, name):
    options = tuple(options)
    _check(value in options, name, f"must be one of {', '.join(options)}; got {value!r}")


def _alpha(value, name, m):
    try:
        resolve_alpha(value, m)
    except ValueError as err:
        raise ConfigError(name, str(err)) from None


def _validate_integrator(config: Config) -> None:
    """Names, parameters and their values, as the integrator factory itself checks them."""
    i = config.integrator
    _choice(i.name, dynamics.INTEGRATORS, "integrator.name")
    params = dynamics.parameters(i.name)
    for field_ in dataclasses.fields(i):
        if field_.name != "name" and getattr(i, field_.name) is not None:
            _check(field_.name in params, f"integrator.{field_.name}",
                   f"not a parameter of the {i.name} integrator")
    for param, (_, required) in params.items():
        _check(not required or getattr(i, param) is not None, f"integrator.{param}",
               f"required by the {i.name} integrator")
    try:
        dynamics.make(i.name, **integrator_params(config))
    except ValueError as err:
        message = str(err)
        bad = next((p for p in params if message.startswith(p + " ")), None)
        raise ConfigError(f"integrator.{bad}" if bad else "integrator", message) from None


def _validate_kernels(config: Config) -> None:
    """Every Gaussian pair kernel the run will evaluate exists, as meanfield.kernels.gaussian
    decides (:func:`meanfield.kernels.gaussian.pair_kernel`): the teacher's own (every kind
    builds the teacher's population) and, for kinds whose risk is the exact population
    risk, every student/teacher pair. The field named is objective.inputs when only the
    input law is at fault, else the activation that has no kernel."""
    t, s, o = config.teacher, config.student, config.objective
    needed = [("teacher", t.activation, t.activation, t.bias)]
    if t.kind == "index":  # only student pairs, and only where the risk is exact
        needed = [] if OBJECTIVE_KINDS[o.kind].fixed_data else [
            ("student", s.activation, s.activation, s.bias)]
    elif not OBJECTIVE_KINDS[o.kind].fixed_data:
        acts = (("student", s.activation), ("teacher", t.activation))
        needed = [(who, act, src, s.bias or t.bias) for who, act in acts for _, src in acts]
    for who, act, src, bias in needed:
        try:
            pair_kernel(act, src, bias=bias, inputs=o.inputs, d=config.d)
        except ValueError as err:
            try:
                pair_kernel(act, src, bias=bias, d=config.d)
                name = "objective.inputs"
            except ValueError:
                name = f"{who}.activation"
            raise ConfigError(name, f"{err} (student {s.activation}, teacher {t.activation}"
                                    f", {o.inputs} inputs, bias {str(bias).lower()})") \
                from None


def validate(config: Config) -> None:
    """Check ranges and choices; raise ConfigError for the first bad field."""
    _choice(config.task, ("teacher-student",), "task")
    _positive_int(config.d, "d")
    t, s, o, i = config.teacher, config.student, config.objective, config.integrator
    _choice(t.kind, teachers.TEACHER_KINDS, "teacher.kind")
    teachers.check_unread_fields(t)
    if t.kind == "index":
        teachers.check(config)  # TeacherError naming the field (a ConfigError in from_dict)
    _positive_int(t.m, "teacher.m")
    _choice(t.activation, activation_names.choices(t.activation), "teacher.activation")
    _choice(t.output, OUTPUT_INITS, "teacher.output")
    teachers.check_laws(t, "teacher", t.m, config.d)
    _positive(t.scale, "teacher.scale", zero=True)
    _alpha(t.alpha, "teacher.alpha", t.m)
    _positive(t.noise, "teacher.noise", zero=True)
    _positive_int(s.m, "student.m")
    _choice(s.activation, activation_names.choices(s.activation), "student.activation")
    _alpha(s.alpha, "student.alpha", s.m)
    if s.frozen is not None:
        try:
            check_frozen(s.frozen, Layout(1, config.d, s.bias))
        except ValueError as err:
            raise ConfigError("student.frozen", str(err).removeprefix("frozen: ")) from None
    _positive(s.init.tau, "student.init.tau", zero=True)
    _choice(s.init.output, OUTPUT_INITS, "student.init.output")
    teachers.check_laws(s.init, "student.init", s.m, config.d, s.bias, "student")
    _choice(s.init.bias_law, BIAS_LAWS, "student.init.bias_law")
    for block in ("c", "a", "b"):
        value = getattr(s.init, f"tau_{block}")
        if value is not None:
            _positive(value, f"student.init.tau_{block}", zero=True)
    _check(not s.init.symmetric or s.m % 2 == 0, "student.m",
           f"a symmetric initialisation needs an even m, got {s.m}")
    if s.init.reference_m is not None:
        _check(s.init.reference_m >= s.m and (not s.init.symmetric
                                              or s.init.reference_m % 2 == 0),
               "student.init.reference_m", f"must be >= student.m = {s.m} (and even for a "
                                           f"symmetric init), got {s.init.reference_m}")
    _check(s.init.seed is None or s.init.seed >= 0, "student.init.seed",
           f"must be a non-negative integer, got {s.init.seed}")
    _choice(o.kind, OBJECTIVE_KINDS, "objective.kind")
    kind = OBJECTIVE_KINDS[o.kind]
    _check(kind.d is None or config.d == kind.d, "d",
           f"objective.kind = {o.kind!r} needs d = {kind.d}, got {config.d}")
    _choice(o.inputs, INPUT_LAWS, "objective.inputs")
    _positive_int(o.n_train, "objective.n_train")
    _check(o.n_test >= 0, "objective.n_test", f"must be >= 0, got {o.n_test}")
    _positive_int(o.batch, "objective.batch")
    _choice(o.loss, LOSSES, "objective.loss")
    fixed = [k for k, v in OBJECTIVE_KINDS.items() if v.fixed_data]
    _check(o.loss == "square" or kind.fixed_data, "objective.loss",
           f"the {o.loss} loss needs objective.kind = {' or '.join(map(repr, fixed))}")
    _validate_kernels(config)
    _validate_integrator(config)
    _check(not dynamics.make(i.name, **integrator_params(config)).deterministic_only
           or o.kind != "online", "integrator.name",
           f"the {i.name} integrator needs a deterministic objective, not "
           f"objective.kind = online")
    _positive(config.t_end, "t_end")
    _choice(config.record.schedule, SCHEDULES, "record.schedule")
    _check(config.record.n >= 2, "record.n", f"must be at least 2, got {config.record.n}")
    if config.record.t_min is not None:
        _positive(config.record.t_min, "record.t_min")
        _check("t_min" in {f.name for f in dataclasses.fields(SCHEDULES[config.record.schedule])},
               "record.t_min", f"not a parameter of the {config.record.schedule} schedule")
    _check(config.checkpoint.every_steps >= 0, "checkpoint.every_steps",
           f"must be >= 0, got {config.checkpoint.every_steps}")
    _positive(config.checkpoint.every_seconds, "checkpoint.every_seconds")
    _check(config.diagnostics.probe >= 0, "diagnostics.probe",
           f"must be >= 0, got {config.diagnostics.probe}")
    _check(not config.diagnostics.tangent or (config.diagnostics.probe > 0
                                              and kind.fixed_data), "diagnostics.tangent",
           f"needs diagnostics.probe > 0 and objective.kind = "
           f"{' or '.join(map(repr, fixed))}")
    _choice(config.backend, backends.names(), "backend")
    _choice(config.dtype, ("float64", "float32"), "dtype")
    _check(config.seed >= 0, "seed", f"must be a non-negative integer, got {config.seed}")


def integrator_params(config: Config) -> dict:
    """Keyword arguments of meanfield.dynamics.integrators.make for this config's integrator."""
    i = config.integrator
    return {k: getattr(i, k, None) for k in dynamics.parameters(i.name)
            if getattr(i, k, None) is not None}
