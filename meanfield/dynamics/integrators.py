"""The integrators and their registry (theory §10).

Units are mean-field time (theory §1.2): the velocity of particle i is
v(w_i) = -m grad_{w_i} J with J = R/alpha^2, so a gradient-flow step of size dt moves
every particle by dt * v(w_i) whatever m is. Every state carries the numpy bit-generator
state of its random stream, so a run restarted from a saved state continues bit-for-bit.

Each integrator discretises one continuous dynamics:

* :func:`euler`     dw/dt = v(w)                                  (gradient flow)
* :func:`adaptive`  the same flow, dt chosen by accept/reject    (theory §10.2)
* :func:`momentum`  dv/dt = -(v - v(w))/tau, dw/dt = v           (theory §10.3)
* :func:`langevin`  dw = (v(w) - lam w) dt + sqrt(2 T) dB        (theory §7, §10.4),
                    frozen parameter groups left unchanged
* :func:`sgd`       gradient flow with the velocity of a random minibatch (theory §10.5)
* :func:`meanfield.dynamics.ode.ode`  the flow by SciPy's solvers (theory §10.6)

Each is written once, in its ensemble form (:mod:`meanfield.dynamics.forms`); its
single ``step`` is that form run on a batch of one. :func:`register` adds integrators
(any :class:`meanfield.dynamics.protocols.Integrator`), :func:`make` builds one by name,
:func:`parameters` reads a factory's parameters from its signature.
"""
from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import numpy as np

from .forms import (
    Aux,
    Gens,
    Params,
    attempts,
    column,
    lockstep,
    positive,
)
from .ode import ode
from .protocols import (
    EnsembleField,
    Integrator,
    OffersEulerSteps,
    State,
    VelocityField,
    initial_state,
)

__all__ = ["INTEGRATORS", "adaptive", "euler", "initial_state", "langevin", "make",
           "momentum", "ode", "parameters", "register", "sgd"]


def _start(dt: float, **aux: Any) -> Callable[..., State]:
    """``init(w, field, seed)``: the state at t = 0 with step ``dt`` and zero auxiliary
    arrays ``aux`` (name -> True) shaped as the particles."""
    def init(w: np.ndarray, field: VelocityField, seed: Any = 0) -> State:
        return initial_state(w, dt, seed, {k: np.zeros_like(np.asarray(w)) for k in aux})
    return init


def euler(dt: float) -> Integrator:
    """Explicit Euler for the mean-field gradient flow dw_i/dt = v(w_i) (theory §10.1):
    w <- w + dt v(w). First order in dt. With an Online objective, v is the velocity on a
    fresh batch drawn from the state's stream (online SGD with step dt). A block of steps
    goes to the field's fused ``euler_steps`` where it offers them
    (:class:`meanfield.dynamics.protocols.OffersEulerSteps`: the same bits in one call).

    Examples:

        >>> euler(0.01).params["dt"], euler(0.01).fixed_dt
        (0.01, True)
    """
    dt = positive("dt", dt)

    def run(W: np.ndarray, aux: Aux, field: EnsembleField, gens: Gens, P: Params,
            h: np.ndarray, n: int) -> tuple[np.ndarray, Aux, np.ndarray]:
        H, prev = column(h, W.dtype), W
        fused = field.euler_steps if isinstance(field, OffersEulerSteps) else None
        if fused is not None and not field.stochastic:
            W, prev = fused(W, H[:, 0, 0], n)
            return W, aux, prev
        for _ in range(n):
            prev, W = W, W + H * field.velocity(W, gens)
        return W, aux, prev

    return lockstep("euler", {"dt": dt}, _start(dt), run, fast_forward=True)


#: gradient changes below this fraction of the initial velocity norm are rounding noise
STATIONARY_FLOOR = 1e-8


def adaptive(dt: float = 1e-3, max_dgrad: float = 1e-2, grow_dgrad: float = 1e-4,
             max_dout: float = 0.1, grow: float = 1.1, shrink: float = 10.0,
             dt_max: float | None = None, dt_min: float | None = None) -> Integrator:
    """Euler gradient flow with an adaptive step (Geiger et al., theory §10.2).

    A trial step w' = w + dt g (g = v(w)) is judged by the gradient-change ratio
    delta_g = |g' - g|^2 / (|g'| |g|) and the output change delta_o = max |f(w') - f(w)|
    over probe inputs (f is the network output, alpha included). It is accepted if
    delta_g < max_dgrad and delta_o < max_dout; then dt grows by ``grow`` if also
    delta_g < grow_dgrad and delta_o < max_dout / 2. Otherwise dt is divided by ``shrink``
    and the step retried. g' is cached in the state, so each accepted step costs one
    velocity evaluation. ``dt_max`` (optional) caps the step size.

    ``dt_min`` (optional) floors it: a trial at dt <= dt_min is accepted whatever its
    gradient change (delta_o < max_dout is still required). A gradient that jumps (a relu
    pre-activation changing sign on a data point, the hinge at margin 1) keeps delta_g
    O(jump^2) at any dt, so without a floor dt collapses towards 0 (with the soft hinge,
    n = 200, m = 8: dt = 6e-16 by t = 7).

    At a stationary point g is rounding noise and delta_g would be O(1) at any dt, so the
    step would collapse (a stuck ReLU student at d = 100 fell to dt = 1e-3 and needed
    millions of steps). The denominator is therefore floored at (STATIONARY_FLOOR |g0|)^2,
    |g0| the velocity norm at the start: gradient changes below 1e-8 |g0| always pass.

    Examples:

        >>> adaptive(dt=0.01, dt_max=5.0).fixed_dt
        False
    """
    dt = positive("dt", dt)
    params = {"dt": dt, "max_dgrad": positive("max_dgrad", max_dgrad),
              "grow_dgrad": positive("grow_dgrad", grow_dgrad),
              "max_dout": positive("max_dout", max_dout), "grow": positive("grow", grow),
              "shrink": positive("shrink", shrink)}
    if dt_max is not None:
        params["dt_max"] = positive("dt_max", dt_max)
    if dt_min is not None:
        params["dt_min"] = positive("dt_min", dt_min)
        if dt_min > params.get("dt_max", math.inf):
            raise ValueError(f"dt_min must be <= dt_max = {dt_max}, got {dt_min}")
    floor_dt, ceiling = params.get("dt_min", 0.0), params.get("dt_max", math.inf)
    if params["grow"] < 1:
        raise ValueError(f"grow must be >= 1, got {params['grow']}")
    if params["shrink"] <= 1:
        raise ValueError(f"shrink must be > 1, got {params['shrink']}")

    def init(w: np.ndarray, field: VelocityField, seed: Any = 0) -> State:
        if field.stochastic:
            raise ValueError("the adaptive step needs a deterministic objective, not a "
                             "stochastic one such as Online")
        state = initial_state(w, dt, seed)
        g0 = field.velocity(state.w, None)
        return replace(state, aux=MappingProxyType({
            "g": g0, "f": field.outputs(state.w),
            "g_scale": np.array(float(np.linalg.norm(g0)))}))

    def attempt(W: np.ndarray, aux: Aux, field: EnsembleField, dt_ctrl: np.ndarray,
                caps: np.ndarray) -> tuple[np.ndarray, np.ndarray, Aux, np.ndarray, np.ndarray]:
        """One trial step of every member; the accept/grow/shrink rule above."""
        g, f, scale = aux["g"], aux["f"], aux.get("g_scale")
        h = np.minimum(dt_ctrl, caps)
        W_new = W + column(h, W.dtype) * g
        g_new, f_new = field.velocity(W_new, None), field.outputs(W_new)
        S = len(W)
        G, G_new = g.reshape(S, -1), g_new.reshape(S, -1)
        floor = (STATIONARY_FLOOR * (np.zeros(S) if scale is None
                                     else np.asarray(scale, dtype=float).reshape(S))) ** 2
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            norm = np.maximum(np.linalg.norm(G_new, axis=1) * np.linalg.norm(G, axis=1),
                              floor)
            dg = np.where(norm > 0, np.sum((G_new - G) ** 2, axis=1) / np.where(
                norm > 0, norm, 1.0), 0.0)
            do = np.max(np.abs(f_new - f).reshape(S, -1), axis=1)
        ok = np.isfinite(dg) & np.isfinite(do) & (do < params["max_dout"]) \
            & ((dg < params["max_dgrad"]) | (h <= floor_dt))
        grows = ok & (dg < params["grow_dgrad"]) & (do < params["max_dout"] / 2)
        ctrl = np.asarray(dt_ctrl, dtype=float)
        new_dt = np.where(grows, np.minimum(ctrl * params["grow"], ceiling),
                          np.where(ok, ctrl, np.maximum(ctrl / params["shrink"], floor_dt)))
        return ok, W_new, {"g": g_new, "f": f_new}, h, new_dt

    return attempts("adaptive", params, init, attempt, aux=("g", "f", "g_scale"),
                    deterministic_only=True)


def momentum(tau: float, dt: float) -> Integrator:
    """Heavy-ball momentum dv/dt = -(v - v(w))/tau, dw/dt = v (theory §10.3, where
    v(w) = -grad L in mean-field units), discretised exactly in v:
    v <- e^{-dt/tau} v + (1 - e^{-dt/tau}) v(w), then w <- w + dt v. Starts from v = 0;
    tau = 0 is Euler gradient flow, tau is a time in mean-field units.

    Examples:

        >>> dict(momentum(0.5, 0.01).params)
        {'tau': 0.5, 'dt': 0.01}
    """
    tau, dt = positive("tau", tau, allow_zero=True), positive("dt", dt)

    def run(W: np.ndarray, aux: Aux, field: EnsembleField, gens: Gens, P: Params,
            h: np.ndarray, n: int) -> tuple[np.ndarray, Aux, np.ndarray]:
        decay = np.array([math.exp(-hs / ts) if ts > 0 else 0.0
                          for hs, ts in zip(h, P["tau"], strict=True)])
        D, E, H = (column(x, W.dtype) for x in (decay, 1.0 - decay, h))
        v, prev = aux["v"], W
        for _ in range(n):
            v = D * v + E * field.velocity(W, gens)
            prev, W = W, W + H * v
        return W, {"v": v}, prev

    return lockstep("momentum", {"tau": tau, "dt": dt}, _start(dt, v=True), run, aux=("v",))


def langevin(dt: float, temperature: float, weight_decay: float = 0.0) -> Integrator:
    """Noisy mean-field Langevin dynamics (theory §7, §10.4) in mean-field units:

        dw_i = (v(w_i) - lam w_i) dt + sqrt(2 T) dB_i,    T = 1/beta = ``temperature``.

    Its law follows d mu/dt = div(mu grad(F'(mu) + lam|w|^2/2)) + T Laplacian(mu), the
    Wasserstein gradient flow of F(mu) + (lam/2) int |w|^2 dmu - T Ent(mu) with F = R/alpha^2
    and Ent = -int mu log mu, whose stationary law is the Gibbs measure
    mu* ∝ exp(-(F'(mu*) + lam |w|^2/2)/T). (MMN's 2 xi(t) time factor and the 1/2 in
    their free energy are absorbed into our time and F.) The linear part is integrated
    exactly (Ornstein-Uhlenbeck step):
        w <- e^{-lam dt} w + dt v(w) + sqrt(T (1 - e^{-2 lam dt}) / lam) xi,
    which reduces to w + dt v(w) + sqrt(2 T dt) xi at lam = 0, and keeps the stationary
    variance T/lam of pure weight decay exact for every dt.

    Examples:

        >>> langevin(0.01, 1e-3, 0.1).stochastic
        True
    """
    dt = positive("dt", dt)
    temperature = positive("temperature", temperature, allow_zero=True)
    lam = positive("weight_decay", weight_decay, allow_zero=True)

    def run(W: np.ndarray, aux: Aux, field: EnsembleField, gens: Gens, P: Params,
            h: np.ndarray, n: int) -> tuple[np.ndarray, Aux, np.ndarray]:
        decay = [math.exp(-lw * hs) for hs, lw in zip(h, P["weight_decay"], strict=True)]
        noise = [math.sqrt(T * -math.expm1(-2 * lw * hs) / lw) if lw > 0
                 else math.sqrt(2 * T * hs)
                 for hs, T, lw in zip(h, P["temperature"], P["weight_decay"], strict=True)]
        D, N, H = (column(x, W.dtype) for x in (decay, noise, h))
        prev = W
        for _ in range(n):
            drift = field.velocity(W, gens)
            xi = np.stack([g.standard_normal(W.shape[1:]) for g in gens])
            prev, W = W, _keep_fixed(D * W + H * drift + N * xi.astype(W.dtype, copy=False),
                                     W, field)
        return W, aux, prev

    params = {"dt": dt, "temperature": temperature, "weight_decay": lam}
    return lockstep("langevin", params, _start(dt), run, stochastic=True)


def _keep_fixed(w_new: np.ndarray, w: np.ndarray, field: EnsembleField) -> np.ndarray:
    """``w_new`` with the columns the objectives keep fixed copied back from ``w``: their
    ``free_columns(layout)`` (:mod:`meanfield.objectives.frozen`), so that Langevin adds
    neither noise nor weight decay to frozen parameter groups."""
    # every ensemble field (and a field of one) lists its members' nets and objectives
    nets, objectives = getattr(field, "nets", None), getattr(field, "objectives", ())
    offers = [getattr(o, "free_columns", None) for o in objectives]
    if nets is None or all(offer is None for offer in offers):
        return w_new
    layout = nets[0].layout
    masks = {tuple(np.ones(layout.p, bool) if offer is None else offer(layout))
             for offer in offers}
    if len(masks) > 1:
        raise ValueError("langevin ensemble members need the same frozen groups")
    fixed = ~np.array(masks.pop())
    w_new[..., fixed] = w[..., fixed]
    return w_new


def sgd(dt: float, batch: int) -> Integrator:
    """Minibatch SGD in mean-field units (theory §10.5): w <- w + dt v_B(w), with v_B the
    velocity of the empirical risk of a batch B of ``batch`` points (without replacement
    from an Empirical objective's data; fresh population samples for
    Online/GaussianPopulation, i.e. online SGD). As dt -> 0 at fixed t it follows
    gradient flow on the objective. Ensemble members share one batch size.

    Examples:

        >>> sgd(0.05, 8).params["batch"]
        8
    """
    dt = positive("dt", dt)
    if int(batch) != batch or int(batch) < 1:
        raise ValueError(f"batch must be a positive integer, got {batch}")
    batch = int(batch)

    def run(W: np.ndarray, aux: Aux, field: EnsembleField, gens: Gens, P: Params,
            h: np.ndarray, n: int) -> tuple[np.ndarray, Aux, np.ndarray]:
        H = column(h, W.dtype)
        sizes = {int(b) for b in P["batch"]}
        if len(sizes) > 1:
            raise ValueError(f"sgd ensemble members need one batch size, got {sorted(sizes)}")
        size, prev = sizes.pop(), W
        for _ in range(n):
            prev, W = W, W + H * field.minibatch(W, gens, size)
        return W, aux, prev

    return lockstep("sgd", {"dt": dt, "batch": batch}, _start(dt), run, stochastic=True)


#: integrator factories by name: the built-ins, then whatever :func:`register` adds
INTEGRATORS: dict[str, Callable[..., Integrator]] = {
    "euler": euler, "adaptive": adaptive, "momentum": momentum, "langevin": langevin,
    "sgd": sgd, "ode": ode}

#: the parameter types read from defaults when a factory does not annotate them
_DEFAULT_TYPES = (bool, int, float, str)


def _parameter_types(factory: Callable[..., Integrator]) -> dict[str, tuple[type, bool]]:
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # unresolvable annotations: read them from the defaults instead
        hints = {}
    out = {}
    for param in inspect.signature(factory).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        required = param.default is inspect.Parameter.empty
        kind = hints.get(param.name)
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        kind = options[0] if options else kind
        if kind not in _DEFAULT_TYPES:  # unannotated (or exotic): its default's type
            kind = type(param.default) if type(param.default) in _DEFAULT_TYPES else float
        out[param.name] = (kind, required)
    return out


def parameters(name: str) -> dict[str, tuple[type, bool]]:
    """The parameters of integrator ``name``: {parameter: (type, required)}, read from the
    factory's signature (the one place they are listed). A parameter's type is its
    annotation (``Optional[X]`` gives X); unannotated, the type of its default (bool,
    int, float or str), else float.

    Examples:

        >>> parameters("momentum")
        {'tau': (<class 'float'>, True), 'dt': (<class 'float'>, True)}
    """
    if name not in INTEGRATORS:
        raise ValueError(f"unknown integrator {name!r}; choose one of "
                         f"{', '.join(INTEGRATORS)}")
    return _parameter_types(INTEGRATORS[name])


def register(name: str, factory: Callable[..., Integrator]) -> None:
    """Add an integrator factory by name: a function of keyword parameters (annotated or
    not, see :func:`parameters`) returning an
    :class:`meanfield.dynamics.protocols.Integrator`. It is then usable in :func:`make`,
    in run configs (``[integrator] name = ...``, its parameters as fields) and sweeps, in
    every process that registered it (sweep workers import your script's modules: register
    at import). A parameter shared with another integrator must have its type.

    Examples:

        >>> def damped(dt, gamma=0.5):
        ...     return euler(dt / (1 + gamma))
        >>> register("damped", damped)
        >>> make("damped", dt=0.5, gamma=1.0).params["dt"]
        0.25
        >>> del INTEGRATORS["damped"]
    """
    if not isinstance(name, str) or not name or not callable(factory):
        raise ValueError(f"register needs a non-empty name and a callable factory, "
                         f"got {name!r}, {factory!r}")
    types = _parameter_types(factory)
    for other, known in INTEGRATORS.items():
        if other == name:
            continue
        for param, (kind, _) in _parameter_types(known).items():
            if param in types and types[param][0] is not kind:
                raise ValueError(f"parameter {param} of integrator {name!r} is "
                                 f"{types[param][0].__name__}, but {other}'s {param} is "
                                 f"{kind.__name__}: annotate it as {kind.__name__}")
    INTEGRATORS[name] = factory


def make(name: str, **params: Any) -> Integrator:
    """The integrator called ``name`` with keyword parameters (used by configs).

    Examples:

        >>> make("ode", method="Radau").params["method"]
        'Radau'
    """
    if name not in INTEGRATORS:
        raise ValueError(f"unknown integrator {name!r}; choose one of "
                         f"{', '.join(INTEGRATORS)}")
    return INTEGRATORS[name](**params)

