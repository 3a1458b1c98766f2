"""Objectives: value R(f) and mean-field velocity of every particle.

For the alpha family (theory §1) the objective is J = R(f)/alpha^2 with
f = (alpha/m) sum_i phi(w_i) (minus f(w0) when centred), and the particle velocity is
v_i = -m grad_{w_i} J = -(1/alpha) E[l'(f(x), y) . grad_w phi(w_i, x)] (theory §1).
``risk`` returns R itself, 1/2 E[(f - y)^2] for the square loss.

Every objective offers what the integrators use (they never ask which class it is; the
typed protocols are in :mod:`meanfield.objectives.protocol`):

* ``risk(net)`` and ``velocity(net, rng=None)``;
* ``minibatch_velocity(net, rng, batch)``: the velocity of a random minibatch (``sgd``);
* ``probe_outputs(net)``: outputs on fixed probe inputs (what the adaptive step watches);
* ``stochastic``: True when ``velocity`` itself draws random data (``Online``), so that
  neither deterministic step control nor fixed-point detection applies;
* ``hessian_operator(net, backend=None)``: the exact Hessian H = m grad^2 (R/alpha^2)
  (:mod:`meanfield.objectives.hessian`, theory §12), whose negative is the velocity's Jacobian.
* ``ensemble(nets, objectives)``: the stacked form for an ensemble of S networks (one
  (S, m, p) array per step, :mod:`meanfield.objectives.stacked`), or None when the members cannot
  share a stack (then each member is evaluated on its own).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import stacked as _ensemble
from ..backends import get_backend
from ..backends.protocol import Backend, Residual, SquareResidual, capabilities
from ..kernels.gaussian import pair_kernel
from .hessian import EmpiricalHessian, PopulationHessian
from .protocol import Stacked
from ..core.layout import Layout
from ..core.losses import check_loss, loss_derivative, loss_value
from ..model.network import Network
from ..model.targets import IndexTarget
from .checks import check_student
from .index_forces import IndexForces

PROBE_POINTS = 256  # population inputs on which the adaptive step measures output change
PROBE_SEED = 20190618


def _with_bias_column(w: np.ndarray, layout: Layout) -> np.ndarray:
    """Packed particles in the same layout with a bias column (zeros if it had none)."""
    if layout.bias:
        return w
    return np.concatenate([w, np.zeros((len(w), 1), dtype=w.dtype)], axis=1)


class GaussianPopulation:
    """Teacher-student population risk for x ~ N(0, I_d), computed exactly (theory §2).

    y = teacher(x) + eps with eps ~ N(0, noise^2 I_k). With the pair kernel
    U(w, w') = (c . c') K(w, w'):
        R = 1/2 sum_{j,l} q_j q_l U(w_j, w_l) + k noise^2 / 2
    over the signed neurons of f - y (student +alpha/m, centring reference -alpha/m,
    teacher -alpha_T/m0), and v_i = -(1/alpha) sum_j q_j grad_1 U(w_i, w_j).
    ``inputs="sphere"`` takes x uniform on S^{d-1} instead (relu/linear, no bias).
    The teacher may be an :class:`~meanfield.IndexTarget` y = g(U^T x) (theory §13): then
    R = 1/2 E[f^2] - E[f y] + 1/2 E[y^2] with the cross term in closed form (Stein's
    lemma), for relu, erf, linear, tanh, sigmoid and softplus students; its label noise
    adds to ``noise`` (variances add).
    Every activation pair is exact or computed to the accuracy ``tol`` (theory §2.5-2.6:
    a ReLU with a smooth activation semi-analytically, two smooth activations without a
    closed form by quadrature with an a posteriori error estimate). ``quadrature`` (nodes
    per axis) and ``rule`` ("trapezoid" or "hermite") select instead the fixed rule of
    earlier versions for pairs of smooth activations (theory §2.4), without error control.

    Examples:

        >>> import meanfield as mf
        >>> teacher = mf.Network.init(m=3, d=5, seed=1)
        >>> population = mf.GaussianPopulation(teacher, backend="numpy")
        >>> abs(population.risk(teacher)) < 1e-12     # R = 1/2 E[(f(x) - y)^2], exactly
        True
        >>> student = mf.Network.init(m=20, d=5, seed=2)
        >>> population.velocity(student).shape         # v_i = -m grad_{w_i} R, one row per neuron
        (20, 6)
        >>> X, y = population.sample(200_000, rng=0)   # Monte Carlo agrees to its error
        >>> sampled = mf.Empirical(X, y, backend="numpy").risk(student)
        >>> abs(sampled / population.risk(student) - 1) < 0.05
        True
    """

    def __init__(self, teacher: Network | IndexTarget, noise: float = 0.0,
                 inputs: str = "gaussian", quadrature: int | None = None,
                 rule: str | None = None, backend: str | Backend = "auto",
                 tol: float = 1e-10):
        if not isinstance(teacher, (Network, IndexTarget)):
            raise TypeError("teacher must be a meanfield.Network or a meanfield.IndexTarget")
        noise = float(noise)
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise must be a non-negative number, got {noise}")
        self.teacher, self.noise, self.inputs = teacher, noise, inputs
        self.quadrature = None if quadrature is None else int(quadrature)
        self.rule, self.tol = rule, float(tol)
        self.backend = get_backend(backend)
        self._probe: np.ndarray | None = None
        self._teacher_terms: dict[tuple, tuple[np.ndarray, np.ndarray, float]] = {}
        self.index: IndexForces | None = None
        if isinstance(teacher, IndexTarget):
            if inputs != "gaussian":
                raise ValueError(f"inputs: an index target needs Gaussian inputs, got "
                                 f"{inputs!r}")
            pair_kernel("linear", tol=self.tol)  # validates tol
            self.index = IndexForces(teacher, self.tol)
            self.noise = float(np.hypot(noise, teacher.noise))
            self.d, self.k = teacher.d, teacher.k
            return
        self.d, self.k = teacher.layout.d, teacher.layout.k
        self._kernel(teacher.activation, teacher.activation, teacher.layout.bias)  # validate

    def _kernel(self, act, src, bias):
        return pair_kernel(act, src, bias=bias, inputs=self.inputs, order=self.quadrature,
                           rule=self.rule, d=self.d, tol=self.tol)

    def _groups(self, net: Network):
        """(layout with bias if anyone has one, [(activation, w, q)]): the signed neurons
        of f - y, one group per activation (student and teacher share one group when
        their activations agree, so every pair reduction runs once)."""
        check_student(net, self.d, self.k, "teacher")
        if self.index is not None:
            self.index.check(net.activation)
            return net.layout, [(net.activation, *net.signed_particles())]
        teacher = self.teacher
        assert isinstance(teacher, Network)  # an IndexTarget returned above
        bias = net.layout.bias or teacher.layout.bias
        try:
            self._kernel(net.activation, teacher.activation, bias)
        except ValueError as exc:
            raise ValueError(f"no population kernel for a {net.activation.name} student with "
                             f"a {teacher.activation.name} teacher: {exc}") from None
        layout = Layout(self.k, self.d, bias)
        w_f, q_f = net.signed_particles()
        w_y, q_y = teacher.signed_particles()
        if bias:
            w_f = _with_bias_column(w_f, net.layout)
            w_y = _with_bias_column(w_y, teacher.layout)
        w_y, q_y = w_y.astype(w_f.dtype, copy=False), (-q_y).astype(q_f.dtype, copy=False)
        if net.activation.name == teacher.activation.name:
            return layout, [(net.activation, np.concatenate([w_f, w_y]),
                             np.concatenate([q_f, q_y]))]
        return layout, [(net.activation, w_f, q_f), (teacher.activation, w_y, q_y)]

    def risk(self, net: Network) -> float:
        """R = 1/2 E|f(x) - y|^2, exact. With two activation groups (student and teacher
        differ) the cross term is reduced once (the kernel is symmetric) and the teacher's
        own term is kept between calls while the teacher's weights stay the same."""
        layout, groups = self._groups(net)
        total = 0.5 * self._pair_term(layout, groups[0], groups[0])
        if len(groups) == 2:  # the teacher's activation differs from the student's
            total += self._pair_term(layout, groups[0], groups[1])
            total += self._teacher_term(layout, groups[1])
        if self.index is not None:
            total += 0.5 * (self.index.target.second_moment - self.index.target.noise**2)
            total -= self.index.value(net.activation, layout, *net.signed_particles())
        return max(total, 0.0) + 0.5 * self.k * self.noise**2

    def _pair_term(self, layout: Layout, targets: tuple, sources: tuple) -> float:
        """q_t . K(w_t, w_s) q_s for two signed groups (activation, w, q)."""
        (act, w_t, q_t), (src, w_s, q_s) = targets, sources
        kernel = self._kernel(act, src, layout.bias)
        _, value = self.backend.pair_reduce(kernel, layout, w_t, w_s, q_s, True)
        return float(np.dot(q_t, value))

    def _teacher_term(self, layout: Layout, teacher: tuple) -> float:
        """1/2 q_y . K(w_y, w_y) q_y of the teacher group, computed once per (layout,
        dtype, weights): it does not depend on the student."""
        _, w_y, q_y = teacher
        key = (layout, w_y.dtype.str)
        kept = self._teacher_terms.get(key)
        if kept is not None and np.array_equal(kept[0], w_y) and np.array_equal(kept[1], q_y):
            return kept[2]
        term = 0.5 * self._pair_term(layout, teacher, teacher)
        self._teacher_terms[key] = (w_y.copy(), q_y.copy(), term)
        return term

    def velocity(self, net: Network, rng: np.random.Generator | None = None) -> np.ndarray:
        """v_i = -(1/alpha) E[(f - y) . grad_w phi(w_i, x)], shape (m, p)."""
        return self.velocity_at(net, net.w)

    def velocity_at(self, net: Network, points: ArrayLike) -> np.ndarray:
        """The velocity field of ``net``'s cloud at arbitrary particles ``points`` (n, p):
        v(w) = -(1/alpha) E[(f - y) . grad_w phi(w, x)] = grad V(w) - int grad_1 U(w, w')
        dmu(w') (theory §1), with f the network of ``net``; shape (n, p)."""
        layout, groups = self._groups(net)
        w_i = np.asarray(points, dtype=net.w.dtype)
        if layout.bias and not net.layout.bias:
            w_i = _with_bias_column(w_i, net.layout)
        grad: np.ndarray | None = None
        for src, w_s, q_s in groups:
            kernel = self._kernel(net.activation, src, layout.bias)
            g = self.backend.pair_reduce(kernel, layout, w_i, w_s, q_s)[0]
            grad = g if grad is None else grad + g
        assert grad is not None  # one group at least: the student's
        if self.index is not None:
            grad = grad - self.index.gradient(net.activation, layout, w_i).astype(grad.dtype)
        v = -grad / net.alpha
        if layout.bias and not net.layout.bias:
            v = v[:, :-1]
        return np.ascontiguousarray(v, dtype=net.w.dtype)

    stochastic = False

    def minibatch_velocity(self, net: Network, rng: np.random.Generator,
                           batch: int) -> np.ndarray:
        """The empirical velocity on ``batch`` fresh samples from the population."""
        X, y = self.sample(batch, rng)
        return empirical_velocity(net, X, y, backend=self.backend)

    def hessian_operator(self, net: Network, backend: str | None = None) -> PopulationHessian:
        """The exact Hessian of this objective at ``net`` (theory §12)."""
        return PopulationHessian(net, self, backend)

    def probe_inputs(self) -> np.ndarray:
        """PROBE_POINTS fixed population inputs (drawn once, seed PROBE_SEED)."""
        if self._probe is None:
            self._probe = self.sample(PROBE_POINTS, PROBE_SEED)[0]
        return self._probe

    def probe_outputs(self, net: Network) -> np.ndarray:
        """f on PROBE_POINTS fixed population inputs (drawn once, seed PROBE_SEED)."""
        return net(self.probe_inputs(), backend=self.backend)

    def ensemble(self, nets: Sequence[Network], objectives: Sequence[Any]) -> Stacked | None:
        """The exact population objectives of an ensemble as one stack (teachers, network
        or index target, may differ per member), or None (see
        :mod:`meanfield.objectives.stacked`)."""
        if not all(isinstance(o, GaussianPopulation) for o in objectives):
            return None
        return _ensemble.stack(_ensemble.StackedPopulation, nets, objectives)

    def sample(self, n: int, rng: Any) -> tuple[np.ndarray, np.ndarray]:
        """Draw n inputs from the population and their noisy teacher labels, (n,d), (n,k)."""
        rng = np.random.default_rng(rng)
        X = rng.standard_normal((int(n), self.d))
        if self.inputs == "sphere":
            X /= np.linalg.norm(X, axis=1, keepdims=True)
        y = self.teacher(X, backend=self.backend)
        if self.noise:
            y = y + self.noise * rng.standard_normal(y.shape)
        return X, y


class Empirical:
    """Empirical risk (1/n) sum_k l(f(x_k), y_k) on fixed data, its velocity
    v_i = -(1/(alpha n)) sum_k l'(f(x_k), y_k) . grad_w phi(w_i, x_k) (theory §1).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((50, 3)); y = np.sin(X[:, :1])
        >>> net = mf.Network.init(m=10, d=3, seed=1)
        >>> objective = mf.Empirical(X, y, backend="numpy")
        >>> bool(np.isclose(objective.risk(net), 0.5 * np.mean((net(X) - y) ** 2)))
        True
        >>> objective.velocity(net).shape
        (10, 4)
    """

    def __init__(self, X: ArrayLike, y: ArrayLike, loss: str = "square", beta: float = 20.0,
                 backend: str | Backend = "auto"):
        X = np.asarray(X)
        y = np.asarray(y)
        self.members: list[Empirical] | None = None
        self.X: np.ndarray
        self.y: np.ndarray
        self.beta: float
        self.backend: Backend
        self.n: int
        self.d: int
        self.k: int
        if X.ndim == 3:  # one data set per ensemble member
            self.members = [Empirical(X[s], y[s], loss, beta, backend) for s in range(len(X))]
            first = self.members[0]
            self.X, self.y, self.loss, self.beta = X, np.stack([e.y for e in self.members]), \
                loss, first.beta
            self.backend, self.n, self.d, self.k = first.backend, first.n, first.d, first.k
            return
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X must have shape (n, d) with n > 0, got {X.shape}")
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have shape (n,) or (n, k) with n = {X.shape[0]}, "
                             f"got {np.shape(y)}")
        check_loss(loss)
        if loss != "square":
            if y.shape[1] != 1 or not np.all(np.isin(y, (-1.0, 1.0))):
                raise ValueError(f"the {loss} loss needs labels in {{-1, +1}} and k = 1")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise ValueError("data contain NaN or Inf")
        self.X, self.y, self.loss, self.beta = X, y, loss, float(beta)
        self.backend = get_backend(backend)
        self.n, self.d = X.shape
        self.k = y.shape[1]

    def _single(self):
        if self.members is not None:
            raise TypeError("this Empirical holds one data set per ensemble member (X of "
                            "shape (S, n, d)); use it with simulate_many")

    def outputs(self, net: Network) -> np.ndarray:
        """f(x_k) for every data point, (n, k)."""
        self._single()
        check_student(net, self.d, self.k, "data")
        return net(self.X.astype(net.w.dtype, copy=False), backend=self.backend)

    def risk(self, net: Network) -> float:
        """(1/n) sum_k l(f(x_k), y_k)."""
        return float(np.mean(loss_value(self.loss, self.outputs(net), self.y, self.beta)))

    def velocity(self, net: Network, rng: np.random.Generator | None = None) -> np.ndarray:
        """-m grad_w J with J = R/alpha^2, i.e. -(m/alpha^2) grad_w R, shape (m, p)."""
        self._single()
        return empirical_velocity(net, self.X, self.y, self.loss, self.beta, self.backend)

    stochastic = False

    def minibatch_velocity(self, net: Network, rng: np.random.Generator,
                           batch: int) -> np.ndarray:
        """The velocity of ``batch`` points drawn without replacement from the data."""
        self._single()
        idx = rng.choice(self.n, size=min(int(batch), self.n), replace=False)
        return empirical_velocity(net, self.X[idx], self.y[idx], self.loss, self.beta,
                                  self.backend)

    def probe_outputs(self, net: Network) -> np.ndarray:
        """f on the training inputs."""
        return self.outputs(net)

    def hessian_operator(self, net: Network, backend: str | None = None) -> EmpiricalHessian:
        """The exact Hessian of this objective at ``net`` (theory §12)."""
        return EmpiricalHessian(net, self)

    def ensemble(self, nets: Sequence[Network], objectives: Sequence[Any]) -> Stacked | None:
        """The empirical objectives of an ensemble (shared data or one set per member)
        as one stack, or None (see :mod:`meanfield.objectives.stacked`)."""
        if not all(isinstance(o, Empirical) and o.members is None for o in objectives):
            return None
        return _ensemble.stack(_ensemble.StackedEmpirical, nets, objectives)


def empirical_velocity(net: Network, X: ArrayLike, y: ArrayLike, loss: str = "square",
                       beta: float = 20.0, backend: str | Backend = "auto") -> np.ndarray:
    """v_i = -(1/(alpha n)) sum_k l'(f(x_k), y_k) . grad_w phi(w_i, x_k), shape (m, p).

    Backends with ``forward_and_grad`` compute f and the gradient from one pass over the
    data (R_k depends on f(x_k) alone); the others call ``forward`` then ``data_grad``.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((40, 2)); y = X[:, :1] ** 2
        >>> net = mf.Network.init(m=6, d=2, seed=1)
        >>> v = mf.empirical_velocity(net, X, y, backend="numpy")
        >>> bool(np.allclose(v, mf.Empirical(X, y, backend="numpy").velocity(net)))
        True
    """
    backend = get_backend(backend)
    X = np.asarray(X, dtype=net.w.dtype)
    y = np.asarray(y).reshape(len(X), -1)
    check_student(net, X.shape[-1], y.shape[-1], "data")
    n = len(X)

    def loss_residual(f: np.ndarray, rows: slice) -> np.ndarray:
        return loss_derivative(loss, f, y[rows], beta).astype(net.w.dtype, copy=False) / n

    residual: Residual = loss_residual
    if loss == "square":  # backends may form (f - labels)/divisor inside their kernels
        residual = SquareResidual(loss_residual,
                                  np.ascontiguousarray(y[None], dtype=net.w.dtype), n)
    fused = capabilities(backend).forward_and_grad
    if fused is not None:
        w, q = net.signed_particles()
        grad = fused(net.activation, net.layout, w, q, net.m, X, residual)[1]
    else:
        grad = backend.data_grad(net.activation, net.layout, net.w, X,
                                 residual(net(X, backend=backend), slice(None)))
    return -grad / net.alpha


class Online:
    """Online (one-pass) objective: each ``velocity`` call draws a fresh Gaussian batch
    from the teacher (seeded; pass ``rng`` to take the randomness from a simulation
    state) and returns the empirical velocity on it; ``risk`` is the exact population
    risk when a closed form or quadrature exists.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> teacher = mf.Network.init(m=3, d=4, seed=1)
        >>> online = mf.Online(teacher, batch=100, seed=0, backend="numpy")
        >>> student = mf.Network.init(m=8, d=4, seed=2)
        >>> v1, v2 = online.velocity(student), online.velocity(student)   # two fresh batches
        >>> v1.shape, bool(np.array_equal(v1, v2))
        ((8, 5), False)
    """

    def __init__(self, teacher: Network | IndexTarget, batch: int = 200, noise: float = 0.0,
                 inputs: str = "gaussian", seed: Any = 0, backend: str | Backend = "auto"):
        if int(batch) < 1:
            raise ValueError(f"batch must be a positive integer, got {batch}")
        self.population = GaussianPopulation(teacher, noise=noise, inputs=inputs,
                                             backend=backend)
        self.batch = int(batch)
        self.backend = self.population.backend
        self._rng = np.random.default_rng(seed)

    def risk(self, net: Network) -> float:
        """Exact population risk 1/2 E|f - y|^2."""
        return self.population.risk(net)

    def velocity(self, net: Network, rng: np.random.Generator | None = None) -> np.ndarray:
        """Empirical velocity on a fresh batch of ``batch`` teacher samples."""
        X, y = self.population.sample(self.batch, self._rng if rng is None else rng)
        return empirical_velocity(net, X, y, backend=self.backend)

    stochastic = True

    def minibatch_velocity(self, net: Network, rng: np.random.Generator,
                           batch: int) -> np.ndarray:
        """The velocity on ``batch`` fresh samples (online SGD)."""
        return self.population.minibatch_velocity(net, rng, batch)

    def probe_outputs(self, net: Network) -> np.ndarray:
        """f on the population's fixed probe inputs."""
        return self.population.probe_outputs(net)

    def hessian_operator(self, net: Network, backend: str | None = None) -> PopulationHessian:
        """The exact Hessian of the population risk (the expected online objective)."""
        return self.population.hessian_operator(net, backend)

    def ensemble(self, nets: Sequence[Network], objectives: Sequence[Any]) -> Stacked | None:
        """Online objectives of an ensemble as one stack (each member draws its batches
        from its own stream), or None (see :mod:`meanfield.objectives.stacked`)."""
        if not all(isinstance(o, Online) for o in objectives):
            return None
        return _ensemble.stack(_ensemble.StackedOnline, nets, objectives)
