"""Critical points of the objectives: refine a flow's end point, classify it (theory §12).

Stationarity. For J = R/alpha^2 and the velocity v_i = -m grad_{w_i} J, the stopping
quantity of :func:`refine` and the test of :func:`classify` is

    stationarity(w) = ||v(w)||_F / (sqrt(m) (1 + |J(w)|)),

the root-mean-square particle speed (independent of m in the mean-field scaling),
relative to 1 + |J| (so it is absolute for small objectives and relative for large ones).

Certificates. :func:`classify` looks at the spectrum of H = m grad^2 J
(:mod:`meanfield.objectives.hessian`): eigenvalues with |lambda| <= zero_tol max|lambda| count as
zero, those below -zero_tol max|lambda| as negative. A point with stationarity <= tol is
a saddle when some eigenvalue is negative, a global minimum when its risk attains the
objective's infimum, a local minimum otherwise. Zero eigenvalues are expected from the
symmetries of the parametrisation (:func:`expected_zero_modes`); more zeros than that
mean a degenerate critical point, where the second-order test is inconclusive.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.sparse.linalg import LinearOperator, eigsh

from ..objectives.hessian import DENSE_MAX, hessian, hessian_operator
from ..model.network import Network
from ..objectives.protocol import OffersHessian
from ..objectives.frozen import Frozen, free_columns, free_indices, unfreeze
from ..objectives.teacher_student import Empirical, Online
from .frozen_modes import frozen_zero_modes

#: largest m p refined with dense Hessians (trust-region subproblems solved exactly)
REFINE_DENSE_MAX = 2000
#: largest m p whose spectrum is computed densely (eigh); Lanczos beyond
EIGH_MAX = 3000
#: stationarity at which the descent of method "auto" hands over to least squares
DESCENT_TOL = 1e-7
#: first trust region of the least-squares polish, relative to the RMS particle norm
POLISH_STEP = 0.1
#: iterations without a decrease of J beyond rounding after which a descent stops
STALL = 5
METHODS = ("auto", "least-squares", "trust-exact", "trust-krylov", "newton-cg", "l-bfgs-b")


def _population(objective):
    """An Online objective's exact population objective (its velocity is random)."""
    return objective.population if isinstance(objective, Online) else objective


class _Evaluator:
    """J, v and the stationarity at a vector x of the free parameters (all of them
    unless ``frozen`` names groups), cached for the last point; remembers the evaluated
    point with the lowest J. v is the velocity with zeros on frozen columns."""

    def __init__(self, net: Network, objective, frozen=()):
        self.net = net.with_w(np.asarray(net.w, dtype=np.float64))
        objective, self.frozen = unfreeze(objective, frozen)
        self.objective = _population(objective)
        self.shape, self.m = net.w.shape, net.m
        self.free = (free_indices(net.layout, net.m, self.frozen) if self.frozen
                     else None)
        self.x0 = self.net.w.ravel().copy()
        self._base = self.x0.copy()
        if self.free is not None:
            self.x0 = self.x0[self.free]
            self.objective = Frozen(self.objective, self.frozen)
        self._key = None
        self.evaluations = 0
        self.best = (np.inf, None)

    def network(self, x) -> Network:
        x = np.asarray(x, dtype=np.float64)
        if self.free is not None:
            full = self._base.copy()
            full[self.free] = x
            x = full
        return self.net.with_w(x.reshape(self.shape))

    def residual(self, x) -> np.ndarray:
        """v at x on the free parameters, flat (the negative gradient of m J)."""
        v = self(x)[2].ravel()
        return v if self.free is None else v[self.free]

    def hessian(self, x) -> np.ndarray:
        """The Hessian of m J in the free parameters at x."""
        return hessian(self.network(x), self.objective, frozen=self.frozen)

    def hessian_operator(self, x, backend):
        return hessian_operator(self.network(x), self.objective, backend,
                                frozen=self.frozen)

    def __call__(self, x):
        """(R, J, v (m, p), stationarity) at x."""
        x = np.asarray(x, dtype=np.float64)
        key = x.tobytes()
        if key != self._key:
            net = self.network(x)
            risk = float(self.objective.risk(net))
            v = np.asarray(self.objective.velocity(net), dtype=np.float64)
            J = risk / net.alpha**2
            s = float(np.linalg.norm(v) / (math.sqrt(self.m) * (1.0 + abs(J))))
            self._key, self._value = key, (risk, J, v, s)
            self.evaluations += 1
            if np.isfinite(J) and J < self.best[0]:
                self.best = (J, x.copy())
        return self._value


def stationarity(net: Network, objective, frozen=None) -> float:
    """||v||_F / (sqrt(m) (1 + |J|)) with J = R/alpha^2 (see the module docstring); with
    ``frozen`` groups v is the velocity of the free parameters."""
    ev = _Evaluator(net, objective, frozen)
    return ev(ev.x0)[3]


def refine(net: Network, objective: OffersHessian, tol: float = 1e-12, method: str = "auto",
           max_iter: int = 200, backend: str | None = None,
           frozen: Sequence[str] | None = None) -> tuple[Network, dict]:
    """Move ``net`` to a nearby critical point of J = R/alpha^2, in float64 (theory §12).

    Stops when :func:`stationarity` <= ``tol``. Two scipy.optimize building blocks:

    * descent: ``minimize`` on m J (gradient -v, Hessian H of :mod:`meanfield.objectives.hessian`)
      with "trust-exact" (dense H, m p <= REFINE_DENSE_MAX), "trust-krylov" or
      "newton-cg" (Hessian-vector products) or "l-bfgs-b" (gradients only). It moves
      downhill, away from saddles, but its acceptance tests compare values of J, whose
      rounding limits the stationarity it reaches to about 1e-8;
    * "least-squares": ``least_squares`` (trust-region reflective) on the residual v(w)
      with Jacobian -H, dense or by LSMR on Hessian-vector products. It converges
      quadratically to a nearby zero of v, saddles included, down to rounding, since it
      never compares values of J; far from a critical point it can be drawn to
      degenerate points (a relu neuron collapsing to w = 0, erf weights growing
      without bound). Its first trust region is POLISH_STEP times the RMS particle norm.

    ``method="auto"`` descends (trust-exact or trust-krylov) until stationarity
    <= max(tol, DESCENT_TOL), then polishes with least squares: a local minimum near
    the start, to rounding. ``method="least-squares"`` polishes only: use it to certify
    a saddle on which a flow lingers. The other names run that descent alone.
    ``max_iter`` bounds the iterations of each phase (for least squares, the residual
    evaluations). An Online objective is refined on its exact population risk.
    ``frozen`` (some of "c", "a", "b"; also read from a Frozen objective) keeps those
    groups fixed: J is minimised over the free parameters alone, with the Hessian
    restricted to them.

    Returns (refined Network, report) with report keys: method (the phases run, e.g.
    "trust-exact+least-squares"), iterations,
    evaluations, grad_norm_start/end (||v||_F / sqrt m), stationarity_start/end,
    risk_start/end, displacement (RMS particle move ||w_end - w_start||_F / sqrt m),
    success (stationarity_end <= tol) and message.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=2, d=2, sphere=True, output="sign", seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> net = mf.Network.init(m=16, d=2, seed=2)
        >>> student = teacher.with_w(teacher.w + 0.01)         # near the global minimum
        >>> found, report = mf.refine(student, population, tol=1e-10)
        >>> report["success"], report["risk_start"] > 1e-6, report["risk_end"] < 1e-16
        (True, True, True)
        >>> mf.classify(found, population)["kind"]
        'global minimum'
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    ev = _Evaluator(net, objective, frozen)
    x0 = ev.x0
    risk0, _, v0, s0 = ev(x0)
    dense = x0.size <= REFINE_DENSE_MAX
    phases: list[str] = []
    messages: list[str] = []
    x, nit = x0, 0
    if s0 > tol and method != "least-squares":
        descent = ("trust-exact" if dense else "trust-krylov") if method == "auto" else method
        target = max(tol, DESCENT_TOL) if method == "auto" else tol
        x, n, msg = _descend(ev, x0, descent, target, max_iter, backend)
        nit, phases, messages = nit + n, phases + [descent], messages + [f"{descent}: {msg}"]
    if ev(x)[3] > tol and method in ("auto", "least-squares"):
        x, n, msg = _polish(ev, x, tol, max_iter, dense, backend)
        nit, phases = nit + n, phases + ["least-squares"]
        messages.append(f"least-squares: {msg}")
    risk1, _, v1, s1 = ev(x)
    if s1 > s0:  # never return a worse point than the start
        x, risk1, v1, s1 = x0, risk0, v0, s0
    report = {
        "method": "+".join(phases) or method,
        "iterations": nit,
        "evaluations": ev.evaluations,
        "grad_norm_start": float(np.linalg.norm(v0) / math.sqrt(ev.m)),
        "grad_norm_end": float(np.linalg.norm(v1) / math.sqrt(ev.m)),
        "stationarity_start": s0,
        "stationarity_end": s1,
        "risk_start": risk0,
        "risk_end": risk1,
        "displacement": float(np.linalg.norm(x - x0) / math.sqrt(ev.m)),
        "success": bool(s1 <= tol),
        "message": "; ".join(messages) or "already stationary",
    }
    return ev.network(x), report


def _stopper(ev, tol, stall=None):
    """Callback raising StopIteration at stationarity <= tol or, given ``stall``, once
    J has not decreased by more than its rounding over ``stall`` iterations."""
    history = []

    def stop(intermediate_result):
        x = getattr(intermediate_result, "x", intermediate_result)
        _, J, _, s = ev(x)
        history.append(J)
        if s <= tol:
            raise StopIteration
        if stall and len(history) > stall:
            if history[-stall - 1] - J <= 16 * np.finfo(float).eps * (1.0 + abs(J)):
                raise StopIteration
    return stop


def _descend(ev, x0, method, tol, max_iter, backend):
    """scipy.optimize.minimize on m J; returns (x, iterations, message). It stops when
    J stalls at rounding level for STALL iterations. Should scipy's subproblem solver
    fail (exactly singular Hessians can overflow its bounds), the lowest J evaluated so
    far is returned."""
    m = ev.m
    options = {"maxiter": max_iter}
    kwargs = {}
    if method == "trust-exact":
        kwargs["hess"] = ev.hessian
        options["gtol"] = 0.0
    elif method in ("trust-krylov", "newton-cg"):
        kwargs["hessp"] = lambda x, p: ev.hessian_operator(x, backend).matvec(p)
        options["gtol" if method == "trust-krylov" else "xtol"] = 0.0
    else:
        options.update(gtol=0.0, ftol=0.0)
    try:
        with np.errstate(all="ignore"):
            res = scipy.optimize.minimize(
                lambda x: m * ev(x)[1], x0, jac=lambda x: -ev.residual(x), method=method,
                callback=_stopper(ev, tol, STALL), options=options, **kwargs)
    except (ValueError, np.linalg.LinAlgError) as err:
        return ev.best[1], 0, f"stopped: {err}"
    return res.x, int(getattr(res, "nit", 0)), str(res.message)


def _polish(ev, x0, tol, max_iter, dense, backend):
    """scipy.optimize.least_squares on v(x0 + s y), y from 0, s = POLISH_STEP times the
    RMS particle norm, so that the first trust region (radius 1 in y) is s; returns
    (x, iterations, message), x0 itself when the solver fails (its message says why)."""
    s = POLISH_STEP * max(float(np.linalg.norm(x0)) / math.sqrt(ev.m), 1e-8)

    def point(y):
        return x0 + s * y

    if dense:
        def jac(y):
            return -s * ev.hessian(point(y))
        solver = "exact"
    else:
        def jac(y):
            op = ev.hessian_operator(point(y), backend)
            return LinearOperator(op.shape, matvec=lambda p: -s * op.matvec(p),
                                  rmatvec=lambda p: -s * op.matvec(p), dtype=np.float64)
        solver = "lsmr"
    stop = _stopper(ev, tol)
    try:
        res = scipy.optimize.least_squares(
            lambda y: ev.residual(point(y)), np.zeros_like(x0), jac=jac, method="trf",
            tr_solver=solver, ftol=None, xtol=4 * np.finfo(float).eps, gtol=None,
            max_nfev=max_iter, callback=lambda y: stop(point(y)))
    except (ValueError, np.linalg.LinAlgError) as err:   # e.g. an SVD that did not converge
        return x0, 0, f"stopped: {err}"
    return point(res.x), int(res.njev or 0), str(res.message)


# --------------------------------------------------------------------------- symmetries
def _classes(net: Network, live, tol):
    """Groups of live neurons with the same feature sigma(a.x + b): the same ray of (a, b)
    for a positively 1-homogeneous activation, the same point otherwise."""
    lay = net.layout
    c, a, b = lay.unpack(np.asarray(net.w, dtype=np.float64))
    ab = a if b is None else np.concatenate([a, b[:, None]], axis=1)
    if net.activation.homogeneous_degree == 1:
        norms = np.linalg.norm(ab, axis=1, keepdims=True)
        keys = ab / np.where(norms > 0, norms, 1.0)
        scale = 1.0
    else:
        keys = ab
        scale = max(1.0, float(np.abs(ab).max(initial=0.0)))
    reps: list = []
    groups: list = []
    for i in np.flatnonzero(live):
        for g, rep in enumerate(reps):
            if np.abs(keys[i] - rep).max() <= tol * scale:
                groups[g].append(i)
                break
        else:
            reps.append(keys[i])
            groups.append([i])
    return groups


def _dead(net: Network, objective) -> np.ndarray:
    """Neurons whose feature vanishes with its derivatives near w (relu only): zero input
    weight and non-positive bias (population), or never active on the data (empirical)."""
    if net.activation.name != "relu":
        return np.zeros(net.m, dtype=bool)
    lay = net.layout
    _, a, b = lay.unpack(np.asarray(net.w, dtype=np.float64))
    b = np.zeros(net.m) if b is None else b
    if isinstance(objective, Empirical):
        return np.all(a @ np.asarray(objective.X, dtype=np.float64).T + b[:, None] <= 0, axis=1)
    return (np.abs(a).max(axis=1) == 0) & (b <= 0)


def expected_zero_modes(net: Network, objective, at_global_minimum: bool = False,
                        tol: float = 1e-4, frozen=None) -> int:
    """Number of zero eigenvalues of H implied by the symmetries of f (theory §12).

    At any critical point (``at_global_minimum=False``):

    * relu (c sigma(a.x + b) = (c/s) sigma(s (a.x + b)), s > 0): one rescaling direction
      (-c, a, b) per neuron with (a, b) != 0, for every number k of outputs;
    * neurons with the same feature (same ray of (a, b) for relu, identical (a, b)
      otherwise), a group of size g with some c != 0: k (g - 1) directions that move
      output weight between them;
    * a relu neuron whose feature vanishes near w (a = 0, b <= 0; on data: never
      active): all its k + d + bias parameters are flat.

    At a global minimum (``at_global_minimum=True``; population objectives) f is
    stationary in function space, so every direction that leaves f unchanged to first
    order is a zero mode. A group S of g live neurons spans k + r (d + bias) - o feature
    directions (r = rank of its output weights, o = r for relu by Euler's relation
    sigma'(z) z = sigma(z), else 0) and contributes g (k + d + bias) minus that; this
    adds splitting directions of duplicates and the input weights of neurons with c = 0.
    The count assumes features of distinct groups in general position (not, e.g., two
    antipodal relu pairs, whose linear parts are dependent).

    Linear activation: f depends on w only through M = sum_i c_i (a_i, b_i)^T (k x
    (d + bias)). At a global minimum the zero modes are the kernel of dM, of dimension
    m (k + e) - k r_A - e r_C + r_A r_C (e = d + bias, r_A, r_C the ranks of the input and
    output weight matrices); elsewhere the GL(m) orbit, m (r_A + r_C) - r_A r_C.
    ``tol`` is the tolerance for "same feature" (on unit vectors (a, b)/|(a, b)| for
    relu, so an angle of about ``tol`` radians; relative otherwise) and, relative to
    max |c|, for ranks. A flow leaves near-duplicates at small but nonzero angles: a
    loose tolerance groups them with the duplicates they approximate.

    ``frozen`` groups (some of "c", "a", "b"): the zero modes of H restricted to the
    free parameters, i.e. the symmetry directions that move free parameters only
    (:mod:`meanfield.analysis.frozen_modes`).
    """
    objective, frozen = unfreeze(objective, frozen)
    if frozen:
        return frozen_zero_modes(net, free_columns(net.layout, frozen), at_global_minimum,
                                 tol, _classes, _dead(net, objective))
    lay = net.layout
    k, e = lay.k, lay.d + int(lay.bias)
    c, a, b = lay.unpack(np.asarray(net.w, dtype=np.float64))
    ab = a if b is None else np.concatenate([a, b[:, None]], axis=1)
    if net.activation.name == "linear":
        r_a = np.linalg.matrix_rank(ab, tol=tol * max(np.abs(ab).max(initial=0), 1e-300))
        r_c = np.linalg.matrix_rank(c, tol=tol * max(np.abs(c).max(initial=0), 1e-300))
        if at_global_minimum:
            return int(net.m * (k + e) - k * r_a - e * r_c + r_a * r_c)
        return int(net.m * (r_a + r_c) - r_a * r_c)
    dead = _dead(net, objective)
    count = int(dead.sum()) * (k + e)
    homogeneous = net.activation.homogeneous_degree == 1
    c_scale = max(float(np.abs(c).max(initial=0.0)), 1e-300)
    for group in _classes(net, ~dead, tol):
        cg = c[group]
        rank = np.linalg.matrix_rank(cg, tol=tol * c_scale) if np.abs(cg).max() > 0 else 0
        if at_global_minimum:
            origin = not np.abs(ab[group]).max() > 0   # feature sigma(0), non-homogeneous
            act = net.activation
            c_image = 0 if origin and act.f(np.zeros(1))[0] == 0 else k
            a_image = 0 if origin and act.df(np.zeros(1))[0] == 0 else rank * e
            image = c_image + a_image - (rank if homogeneous else 0)
            count += len(group) * (k + e) - image
            continue
        nonzero_ab = np.abs(ab[group]).max(axis=1) > 0
        if homogeneous:
            count += int(nonzero_ab.sum())
        if rank > 0:
            count += k * (len(group) - 1)
    return int(count)


# --------------------------------------------------------------------------- classify
def _infimum(objective):
    """(infimum of R over all functions or None if not attained, signal scale of R)."""
    if isinstance(objective, Empirical):
        y = np.asarray(objective.y, dtype=np.float64)
        if objective.loss == "square":
            return 0.0, float(np.mean(0.5 * np.sum(y * y, axis=1)))
        return (0.0 if objective.loss == "hinge" else None), 1.0
    pop = _population(objective)
    floor = 0.5 * pop.k * pop.noise**2
    zero = Network(np.zeros((1, pop.k)), np.zeros((1, pop.d)),
                   activation=getattr(pop.teacher, "activation", "linear"))  # f = 0 anyway
    return floor, float(pop.risk(zero)) - floor


def spectrum(net: Network, objective, n_smallest: int | None = None, backend=None,
             frozen=None):
    """Eigenvalues of H = m grad^2 J: all of them (ascending, from eigh) when
    m p <= EIGH_MAX, or when m p <= DENSE_MAX and ``n_smallest`` exceeds m p / 10
    (Lanczos for a large share of the spectrum is slower than eigh); else the
    ``n_smallest`` smallest algebraic ones by Lanczos (eigsh on Hessian-vector
    products). ``frozen`` groups: the spectrum of H restricted to the free parameters.
    Returns (eigenvalues, max |eigenvalue|, method)."""
    objective, frozen = unfreeze(objective, frozen)
    n = net.w.size if not frozen else len(free_indices(net.layout, net.m, frozen))
    k = min(n - 1, max(1, n_smallest or 20))
    if n <= EIGH_MAX or (n <= DENSE_MAX and 10 * k > n):
        eigs = scipy.linalg.eigh(hessian(net, objective, frozen=frozen), eigvals_only=True)
        return eigs, float(np.abs(eigs).max(initial=0.0)), "eigh"
    op = hessian_operator(net, objective, backend, frozen=frozen)
    top = float(np.abs(eigsh(op, k=1, which="LM", return_eigenvectors=False)).max())
    eigs = np.sort(eigsh(op, k=k, which="SA", return_eigenvectors=False, tol=1e-10))
    return eigs, max(top, float(np.abs(eigs).max())), "lanczos"


def classify(net: Network, objective: OffersHessian, tol: float = 1e-8,
             zero_tol: float = 1e-6, risk_tol: float = 1e-9,
             backend: str | None = None, frozen: Sequence[str] | None = None) -> dict:
    """Classify ``net`` as a critical point of J = R/alpha^2 (theory §12).

    * "not a critical point" when :func:`stationarity` > ``tol``;
    * "global minimum" when the risk attains the objective's infimum over all functions
      within ``risk_tol`` times the signal (population: k noise^2/2, relative to the risk
      of the zero function minus it; empirical square loss: 0 relative to mean |y|^2/2;
      hinge: 0). ``global_known`` is False for logistic and soft-hinge losses, which
      never attain theirs. The best fit of an under-parametrised student lies above
      the infimum and is reported as a local minimum;
    * "saddle" when an eigenvalue of H is below -zero_tol max|eig|;
    * "local minimum" otherwise.

    Eigenvalues come from :func:`spectrum`; |eig| <= zero_tol max|eig| counts as zero.
    For data, expected_zero_modes is the count valid at any critical point (the
    function-space count needs features independent in L2, false on n points: an
    interpolating minimum has at least m p - n k zero modes).
    ``zero_gap`` is the ratio of the smallest |eig| above that threshold to the largest
    at or below it: a large gap makes the count of zero modes unambiguous. Relu kernels
    are C^2 but not C^3 where neurons coincide, so near-duplicates at an angle theta
    shift would-be zero modes by O(theta) (for either sign).
    With Lanczos (m p > EIGH_MAX, few expected zero modes) only the smallest
    expected_zero_modes + 20 eigenvalues are computed, and ``spectrum_complete`` is
    False when all of them are non-positive.

    ``frozen`` (some of "c", "a", "b"; also read from a Frozen objective): the point is
    classified as a critical point of J over the free parameters: stationarity from
    their velocity, the spectrum of the Hessian restricted to them, the zero modes that
    the symmetries leave among them (:func:`expected_zero_modes`).

    Returns a dict: kind, risk, excess_risk, objective (J), grad_norm (||v||_F/sqrt m),
    stationarity, min_eig, max_abs_eig, n_negative, n_zero, expected_zero_modes (at
    this kind of point, :func:`expected_zero_modes`), degenerate (more zero
    eigenvalues than symmetries explain), global_known, zero_threshold, zero_gap,
    eigenvalues, eig_method, spectrum_complete.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=2, d=2, sphere=True, output="sign", seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> net = mf.Network.init(m=16, d=2, seed=2)
        >>> report = mf.classify(teacher, population)
        >>> report["kind"]
        'global minimum'
    """
    objective, frozen = unfreeze(objective, frozen)
    objective = _population(objective)
    ev = _Evaluator(net, objective, frozen)
    risk, J, v, s = ev(ev.x0)
    infimum, signal = _infimum(objective)
    excess = None if infimum is None else risk - infimum
    is_global = excess is not None and excess <= risk_tol * max(signal, 1e-300)
    on_data = isinstance(objective, Empirical)
    expected = expected_zero_modes(net, objective, at_global_minimum=is_global and not on_data,
                                   frozen=frozen)
    eigs, top, eig_method = spectrum(ev.net, objective, expected + 20, backend, frozen)
    threshold = zero_tol * top
    n_negative = int(np.sum(eigs < -threshold))
    small = np.abs(eigs) <= threshold
    n_zero = int(small.sum())
    below = float(np.abs(eigs[small]).max(initial=0.0))
    above = float(np.abs(eigs[~small]).min(initial=np.inf))
    gap = above / below if below > 0 else np.inf
    complete = eig_method == "eigh" or bool(eigs[-1] > threshold)
    if s > tol:
        kind = "not a critical point"
    elif is_global:
        kind = "global minimum"
    elif n_negative:
        kind = "saddle"
    else:
        kind = "local minimum"
    return {
        "kind": kind,
        "risk": risk,
        "excess_risk": excess,
        "objective": J,
        "grad_norm": float(np.linalg.norm(v) / math.sqrt(ev.m)),
        "stationarity": s,
        "min_eig": float(eigs[0]),
        "max_abs_eig": top,
        "n_negative": n_negative,
        "n_zero": n_zero,
        "expected_zero_modes": expected,
        "degenerate": n_zero > expected,
        "global_known": infimum is not None,
        "zero_threshold": threshold,
        "zero_gap": gap,
        "eigenvalues": eigs,
        "eig_method": eig_method,
        "spectrum_complete": complete,
    }
