"""Integrators: ``init``/``step`` pairs over a frozen :class:`State` (jax-md style).

Units are mean-field time (theory §1): the velocity of particle i is
v(w_i) = -m grad_{w_i} J with J = R/alpha^2, so a gradient-flow step of size dt moves
every particle by dt * v(w_i) whatever m is. Every state carries the numpy bit-generator
state of its random stream, so a run restarted from a saved state continues bit-for-bit.

Each integrator discretises one continuous dynamics:

* :func:`euler`     dw/dt = v(w)                                  (gradient flow)
* :func:`adaptive`  the same flow, dt chosen by accept/reject    (theory §10)
* :func:`momentum`  dv/dt = -(v - v(w))/tau, dw/dt = v           (theory §10)
* :func:`langevin`  dw = (v(w) - lam w) dt + sqrt(2 T) dB        (theory §7)
* :func:`sgd`       gradient flow with the velocity of a random minibatch
"""
from __future__ import annotations

import inspect
import math
import typing
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from ..model.network import Network

@dataclass(frozen=True)
class State:
    """A simulation state: particles ``w`` (m, p), time ``t``, number of accepted steps,
    the current step size ``dt``, auxiliary arrays (momentum ``v``, cached velocity ``g``)
    and the bit-generator state ``rng`` of the run's random stream.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=2, d=2, sphere=True, output="sign", seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> net = mf.Network.init(m=16, d=2, seed=2)
        >>> state = mf.integrators.initial_state(net.w, dt=0.1, seed=0)
        >>> state.t, state.step, state.dt, state.w.shape
        (0.0, 0, 0.1, (16, 3))
        >>> traj = mf.simulate(net, population, mf.integrators.euler(dt=0.1), t_end=1.0)
        >>> traj.state.t, traj.state.step                # the final state
        (1.0, 10)
    """

    w: np.ndarray
    t: float
    step: int
    dt: float
    rng: Mapping[str, Any]
    aux: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    def generator(self) -> np.random.Generator:
        """A fresh Generator positioned at this state's random stream."""
        bit_generator = getattr(np.random, self.rng["bit_generator"])()
        bit_generator.state = dict(self.rng)
        return np.random.Generator(bit_generator)


def initial_state(w, dt: float, seed=0, aux=None) -> State:
    """The state at t = 0 with a PCG64 stream seeded by ``seed`` (int or SeedSequence)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return State(w=np.array(w, copy=True), t=0.0, step=0, dt=float(dt),
                 rng=rng.bit_generator.state, aux=MappingProxyType(dict(aux or {})))


class Field:
    """The velocity field of an objective at a network's particles.

    ``velocity(w, rng)`` is the objective's mean-field velocity -m grad_{w_i}(R/alpha^2)
    (a stochastic objective draws its fresh batch from ``rng``); ``minibatch(w, rng,
    batch)`` is the velocity of a random minibatch; ``outputs(w)`` are the outputs on the
    objective's probe inputs, watched by the adaptive step. All three are what the
    objective offers (``velocity``, ``minibatch_velocity``, ``probe_outputs``; see
    :mod:`meanfield.objectives.teacher_student`).
    """

    def __init__(self, net: Network, objective):
        self.net, self.objective = net, objective

    def network(self, w) -> Network:
        return self.net.with_w(w)

    def velocity(self, w, rng) -> np.ndarray:
        return self.objective.velocity(self.net.with_w(w), rng=rng)

    def minibatch(self, w, rng, batch: int) -> np.ndarray:
        return self.objective.minibatch_velocity(self.net.with_w(w), rng, batch)

    def outputs(self, w) -> np.ndarray:
        return self.objective.probe_outputs(self.net.with_w(w))

    @property
    def stochastic(self) -> bool:
        """True when the objective's velocity draws random data itself."""
        return bool(getattr(self.objective, "stochastic", False))


@dataclass(frozen=True)
class Integrator:
    """An (init, step) pair. ``init(w, field, seed) -> State``;
    ``step(state, field, dt_cap) -> State`` advances by one accepted step of size at most
    ``dt_cap`` (None: no cap). ``fixed_dt`` integrators never change dt, so a simulation
    records them on the step grid t = n dt and caps only the last step, to land on t_end
    exactly; the others are capped to land on every record time."""

    name: str
    params: Mapping[str, float]
    init: Callable[..., State]
    step: Callable[..., State]
    fixed_dt: bool = True
    #: the ensemble form (:class:`Lockstep`), stepping S members as one (S, m, p) array;
    #: None: ensembles call ``step`` once per member
    batched: Any = None


def _positive(name: str, value, allow_zero=False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'}"
                         f" finite number, got {value}")
    return value


def _advance(state: State, w, dt, rng=None, grid=False, **aux) -> State:
    """The next state after a step of size ``dt``; ``grid`` (a full step of a fixed-dt
    integrator) sets t = (step + 1) dt exactly, so times do not accumulate rounding."""
    new_aux = MappingProxyType({**state.aux, **aux}) if aux else state.aux
    t = (state.step + 1) * state.dt if grid else state.t + dt
    return replace(state, w=w, t=t, step=state.step + 1, aux=new_aux,
                   rng=state.rng if rng is None else rng.bit_generator.state)


def _capped(dt, cap):
    return dt if cap is None else min(dt, cap)


def _fixed_step(state: State, cap):
    """(h, grid): the step size of a fixed-dt integrator, dt unless ``cap`` is smaller (the
    last step, shortened to land on t_end), and whether it is a full grid step."""
    h = _capped(state.dt, cap)
    return h, h == state.dt


def euler(dt: float) -> Integrator:
    """Explicit Euler for the mean-field gradient flow dw_i/dt = v(w_i):
    w <- w + dt v(w). First order in dt. With an Online objective, v is the velocity on a
    fresh batch drawn from the state's stream (online SGD with step dt)."""
    dt = _positive("dt", dt)

    def init(w, field, seed=0):
        return initial_state(w, dt, seed)

    def step(state, field, cap=None):
        rng = state.generator()
        h, grid = _fixed_step(state, cap)
        w = state.w + h * field.velocity(state.w, rng)
        return _advance(state, w, h, rng, grid=grid)

    def run(W, aux, field, gens, P, h, n):
        H = _column(h, W.dtype)
        prev = W
        for _ in range(n):
            prev, W = W, W + H * field.velocity(W, gens)
        return W, aux, prev

    return Integrator("euler", MappingProxyType({"dt": dt}), init, step,
                      batched=Lockstep(run))


#: gradient changes below this fraction of the initial velocity norm are rounding noise
STATIONARY_FLOOR = 1e-8


def adaptive(dt: float = 1e-3, max_dgrad: float = 1e-2, grow_dgrad: float = 1e-4,
             max_dout: float = 0.1, grow: float = 1.1, shrink: float = 10.0,
             dt_max: float | None = None, dt_min: float | None = None) -> Integrator:
    """Euler gradient flow with an adaptive step (Geiger et al., theory §10).

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
    """
    dt = _positive("dt", dt)
    params = {"dt": dt, "max_dgrad": _positive("max_dgrad", max_dgrad),
              "grow_dgrad": _positive("grow_dgrad", grow_dgrad),
              "max_dout": _positive("max_dout", max_dout), "grow": _positive("grow", grow),
              "shrink": _positive("shrink", shrink)}
    if dt_max is not None:
        params["dt_max"] = _positive("dt_max", dt_max)
    if dt_min is not None:
        params["dt_min"] = _positive("dt_min", dt_min)
        if dt_min > params.get("dt_max", math.inf):
            raise ValueError(f"dt_min must be <= dt_max = {dt_max}, got {dt_min}")
    floor_dt = params.get("dt_min", 0.0)
    if params["grow"] < 1:
        raise ValueError(f"grow must be >= 1, got {params['grow']}")
    if params["shrink"] <= 1:
        raise ValueError(f"shrink must be > 1, got {params['shrink']}")

    def init(w, field, seed=0):
        if field.stochastic:
            raise ValueError("the adaptive step needs a deterministic objective, not a "
                             "stochastic one such as Online")
        state = initial_state(w, dt, seed)
        g0 = field.velocity(state.w, None)
        return replace(state, aux=MappingProxyType({
            "g": g0, "f": field.outputs(state.w),
            "g_scale": np.array(float(np.linalg.norm(g0)))}))

    def step(state, field, cap=None):
        g, f = state.aux["g"], state.aux["f"]
        floor = (STATIONARY_FLOOR * float(state.aux.get("g_scale", 0.0))) ** 2
        dt_ctrl = state.dt
        for _ in range(60):
            h = _capped(dt_ctrl, cap)
            w_new = state.w + h * g
            g_new = field.velocity(w_new, None)
            f_new = field.outputs(w_new)
            norm = max(np.linalg.norm(g_new) * np.linalg.norm(g), floor)
            dg = float(np.sum((g_new - g) ** 2) / norm) if norm > 0 else 0.0
            do = float(np.max(np.abs(f_new - f)))
            if np.isfinite(dg) and np.isfinite(do) and do < params["max_dout"] \
                    and (dg < params["max_dgrad"] or h <= floor_dt):
                if dg < params["grow_dgrad"] and do < params["max_dout"] / 2:
                    dt_ctrl = min(dt_ctrl * params["grow"], params.get("dt_max", math.inf))
                new = _advance(state, w_new, h, g=g_new, f=f_new)
                return replace(new, dt=dt_ctrl)
            dt_ctrl = max(dt_ctrl / params["shrink"], floor_dt)
        raise FloatingPointError(f"adaptive step rejected 60 times at t={state.t:g} "
                                 f"(dt fell to {dt_ctrl:.3g})")

    def attempt(W, aux, field, dt_ctrl, caps):
        """One trial step of every member (ensembles): h = min(dt_ctrl, cap) per member;
        returns (accepted (S,) bool, W', g', f', h, dt_ctrl after the judgement), each
        member judged exactly as by ``step``."""
        g, f = aux["g"], aux["f"]
        h = np.minimum(dt_ctrl, caps)
        W_new = W + _column(h, W.dtype) * g
        g_new, f_new = field.velocity(W_new, None), field.outputs(W_new)
        ok, new_dt = np.zeros(len(W), dtype=bool), np.array(dt_ctrl, dtype=float)
        for s in range(len(W)):
            floor = (STATIONARY_FLOOR * float(aux["g_scale"][s])) ** 2
            norm = max(np.linalg.norm(g_new[s]) * np.linalg.norm(g[s]), floor)
            dg = float(np.sum((g_new[s] - g[s]) ** 2) / norm) if norm > 0 else 0.0
            do = float(np.max(np.abs(f_new[s] - f[s])))
            if np.isfinite(dg) and np.isfinite(do) and do < params["max_dout"] \
                    and (dg < params["max_dgrad"] or h[s] <= floor_dt):
                ok[s] = True
                if dg < params["grow_dgrad"] and do < params["max_dout"] / 2:
                    new_dt[s] = min(dt_ctrl[s] * params["grow"], params.get("dt_max", math.inf))
            else:
                new_dt[s] = max(dt_ctrl[s] / params["shrink"], floor_dt)
        return ok, W_new, g_new, f_new, h, new_dt

    return Integrator("adaptive", MappingProxyType(params), init, step, fixed_dt=False,
                      batched=Attempts(attempt, aux=("g", "f", "g_scale")))


def momentum(tau: float, dt: float) -> Integrator:
    """Heavy-ball momentum dv/dt = -(v - v(w))/tau, dw/dt = v (theory §10, where
    v(w) = -grad L in mean-field units), discretised exactly in v:
    v <- e^{-dt/tau} v + (1 - e^{-dt/tau}) v(w), then w <- w + dt v. Starts from v = 0;
    tau = 0 is Euler gradient flow, tau is a time in mean-field units."""
    tau, dt = _positive("tau", tau, allow_zero=True), _positive("dt", dt)

    def init(w, field, seed=0):
        return initial_state(w, dt, seed, aux={"v": np.zeros_like(np.asarray(w))})

    def step(state, field, cap=None):
        rng = state.generator()
        h, grid = _fixed_step(state, cap)
        decay = math.exp(-h / tau) if tau > 0 else 0.0
        v = decay * state.aux["v"] + (1.0 - decay) * field.velocity(state.w, rng)
        return _advance(state, state.w + h * v, h, rng, grid=grid, v=v)

    def run(W, aux, field, gens, P, h, n):
        decay = np.array([math.exp(-hs / ts) if ts > 0 else 0.0 for hs, ts in zip(h, P["tau"])])
        D, E, H = (_column(x, W.dtype) for x in (decay, 1.0 - decay, h))
        v, prev = aux["v"], W
        for _ in range(n):
            v = D * v + E * field.velocity(W, gens)
            prev, W = W, W + H * v
        return W, {"v": v}, prev

    return Integrator("momentum", MappingProxyType({"tau": tau, "dt": dt}), init, step,
                      batched=Lockstep(run, aux=("v",)))


def langevin(dt: float, temperature: float, weight_decay: float = 0.0) -> Integrator:
    """Noisy mean-field Langevin dynamics (theory §7) in mean-field units:

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
    """
    dt = _positive("dt", dt)
    temperature = _positive("temperature", temperature, allow_zero=True)
    lam = _positive("weight_decay", weight_decay, allow_zero=True)

    def init(w, field, seed=0):
        return initial_state(w, dt, seed)

    def step(state, field, cap=None):
        rng = state.generator()
        h, grid = _fixed_step(state, cap)
        decay = math.exp(-lam * h)
        noise = math.sqrt(temperature * -math.expm1(-2 * lam * h) / lam) if lam > 0 \
            else math.sqrt(2 * temperature * h)
        drift = field.velocity(state.w, rng)
        xi = rng.standard_normal(state.w.shape)
        w = decay * state.w + h * drift + noise * xi.astype(state.w.dtype, copy=False)
        return _advance(state, w, h, rng, grid=grid)

    def run(W, aux, field, gens, P, h, n):
        decay = [math.exp(-lw * hs) for hs, lw in zip(h, P["weight_decay"])]
        noise = [math.sqrt(T * -math.expm1(-2 * lw * hs) / lw) if lw > 0
                 else math.sqrt(2 * T * hs)
                 for hs, T, lw in zip(h, P["temperature"], P["weight_decay"])]
        D, N, H = (_column(x, W.dtype) for x in (decay, noise, h))
        prev = W
        for _ in range(n):
            drift = field.velocity(W, gens)
            xi = np.stack([g.standard_normal(W.shape[1:]) for g in gens])
            prev, W = W, D * W + H * drift + N * xi.astype(W.dtype, copy=False)
        return W, aux, prev

    params = {"dt": dt, "temperature": temperature, "weight_decay": lam}
    return Integrator("langevin", MappingProxyType(params), init, step,
                      batched=Lockstep(run))


def sgd(dt: float, batch: int) -> Integrator:
    """Minibatch SGD in mean-field units: w <- w + dt v_B(w), with v_B the velocity of
    the empirical risk of a batch B of ``batch`` points (without replacement from an
    Empirical objective's data; fresh population samples for Online/GaussianPopulation,
    i.e. online SGD). As dt -> 0 at fixed t it follows gradient flow on the objective."""
    dt = _positive("dt", dt)
    if int(batch) != batch or int(batch) < 1:
        raise ValueError(f"batch must be a positive integer, got {batch}")
    batch = int(batch)

    def init(w, field, seed=0):
        return initial_state(w, dt, seed)

    def step(state, field, cap=None):
        rng = state.generator()
        h, grid = _fixed_step(state, cap)
        v = field.minibatch(state.w, rng, batch)
        return _advance(state, state.w + h * v, h, rng, grid=grid)

    def run(W, aux, field, gens, P, h, n):
        H = _column(h, W.dtype)
        sizes = {int(b) for b in P["batch"]}
        if len(sizes) > 1:
            raise ValueError(f"sgd ensemble members need one batch size, got {sorted(sizes)}")
        size, prev = sizes.pop(), W
        for _ in range(n):
            prev, W = W, W + H * field.minibatch(W, gens, size)
        return W, aux, prev

    return Integrator("sgd", MappingProxyType({"dt": dt, "batch": batch}), init, step,
                      batched=Lockstep(run))


def _column(values, dtype) -> np.ndarray:
    """Per-member scalars as an (S, 1, 1) array in the particles' dtype: multiplying by it
    is the same IEEE operation, member by member, as a single run's Python float."""
    return np.asarray(values, dtype=float).astype(dtype)[:, None, None]


class Lockstep:
    """The ensemble form of a fixed-dt integrator (theory §10): S members, particles
    stacked as W (S, m, p), advanced together by ``run(W, aux, field, gens, P, h, n)``:
    ``n`` steps of sizes ``h`` (S,) with per-member parameters ``P`` ({name: (S,)}),
    stacked auxiliary arrays ``aux``, each member's live generator in ``gens`` and an
    ensemble field (``velocity(W, gens)``, ``minibatch(W, gens, batch)``). Returns (W,
    aux, W before the last step). Member s computes exactly what ``step`` computes for it
    alone: the same operations on its slice, the same draws from its own stream in the
    same order, step-dependent factors from the same scalar formulas.
    ``aux`` names the auxiliary arrays the states carry (stacked by the ensemble)."""

    def __init__(self, run, aux: tuple = ()):
        self.run, self.aux = run, tuple(aux)


class Attempts:
    """The ensemble form of an accept/reject integrator: ``attempt(W, aux, field,
    dt_ctrl, caps)`` tries one step of every member and judges each alone (members move
    on independently: a rejected member retries with its smaller dt while the accepted
    ones go on). Members share the integrator's parameters; ``aux`` as for
    :class:`Lockstep`."""

    max_attempts = 60

    def __init__(self, attempt, aux: tuple = ()):
        self.attempt, self.aux = attempt, tuple(aux)


INTEGRATORS: dict[str, Callable[..., Integrator]] = {
    "euler": euler, "adaptive": adaptive, "momentum": momentum, "langevin": langevin,
    "sgd": sgd}


def register(name: str, factory: Callable[..., Integrator]) -> None:
    """Add an integrator factory (keyword parameters with type annotations) by name; it is
    then usable in :func:`make`, in run configs and on the command line."""
    INTEGRATORS[name] = factory


def parameters(name: str) -> dict[str, tuple[type, bool]]:
    """The parameters of integrator ``name``: {parameter: (type, required)}, read from the
    factory's signature (the one place they are listed)."""
    factory = INTEGRATORS[name]
    hints = typing.get_type_hints(factory)
    out = {}
    for param in inspect.signature(factory).parameters.values():
        kind = hints[param.name]
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        out[param.name] = (options[0] if options else kind,
                           param.default is inspect.Parameter.empty)
    return out


def make(name: str, **params) -> Integrator:
    """The integrator called ``name`` with keyword parameters (used by configs)."""
    if name not in INTEGRATORS:
        raise ValueError(f"unknown integrator {name!r}; choose one of "
                         f"{', '.join(INTEGRATORS)}")
    return INTEGRATORS[name](**params)
