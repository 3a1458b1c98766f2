"""Objectives: value R(f) and mean-field velocity of every particle.

For the alpha family of DESIGN.md the objective is J = R(f)/alpha^2 with
f = (alpha/m) sum_i phi(w_i) (minus f(w0) when centred), and the particle velocity is
v_i = -m grad_{w_i} J = -(1/alpha) E[l'(f(x), y) . grad_w phi(w_i, x)] (THEORY.md §1).
``risk`` returns R itself, 1/2 E[(f - y)^2] for the square loss.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from .activations import get_activation
from .backends import get_backend
from .gaussian import pair_kernel
from .model import Layout, Network


def _with_bias_column(w: np.ndarray, layout: Layout) -> np.ndarray:
    """Packed particles in the same layout with a bias column (zeros if it had none)."""
    if layout.bias:
        return w
    return np.concatenate([w, np.zeros((len(w), 1), dtype=w.dtype)], axis=1)


def _check_network(net: Network, d: int, k: int, what: str) -> None:
    if not isinstance(net, Network):
        raise TypeError(f"expected a meanfield.Network, got {type(net).__name__}")
    if net.layout.d != d or net.layout.k != k:
        raise ValueError(f"network has d={net.layout.d}, k={net.layout.k} but the {what} "
                         f"has d={d}, k={k}")


class GaussianPopulation:
    """Teacher-student population risk for x ~ N(0, I_d), computed exactly (THEORY.md §2).

    y = teacher(x) + eps with eps ~ N(0, noise^2 I_k). With the pair kernel
    U(w, w') = (c . c') K(w, w'):
        R = 1/2 sum_{j,l} q_j q_l U(w_j, w_l) + k noise^2 / 2
    over the signed neurons of f - y (student +alpha/m, centring reference -alpha/m,
    teacher -alpha_T/m0), and v_i = -(1/alpha) sum_j q_j grad_1 U(w_i, w_j).
    ``inputs="sphere"`` takes x uniform on S^{d-1} instead (relu/linear, no bias).
    Every activation pair is exact or computed to the accuracy ``tol`` (theory §2.5-2.6:
    a ReLU with a smooth activation semi-analytically, two smooth activations without a
    closed form by quadrature with an a posteriori error estimate). ``quadrature`` (nodes
    per axis) and ``rule`` ("trapezoid" or "hermite") select instead the fixed rule of
    earlier versions for pairs of smooth activations (theory §2.4), without error control.
    """

    def __init__(self, teacher: Network, noise: float = 0.0, inputs: str = "gaussian",
                 quadrature: int | None = None, rule: str | None = None, backend="auto",
                 tol: float = 1e-10):
        if not isinstance(teacher, Network):
            raise TypeError("teacher must be a meanfield.Network")
        noise = float(noise)
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise must be a non-negative number, got {noise}")
        self.teacher, self.noise, self.inputs = teacher, noise, inputs
        self.quadrature = None if quadrature is None else int(quadrature)
        self.rule, self.tol = rule, float(tol)
        self.backend = get_backend(backend)
        self.d, self.k = teacher.layout.d, teacher.layout.k
        self._kernel(teacher.activation, teacher.activation, teacher.layout.bias)  # validate

    def _kernel(self, act, src, bias):
        return pair_kernel(act, src, bias=bias, inputs=self.inputs, order=self.quadrature,
                           rule=self.rule, d=self.d, tol=self.tol)

    def _groups(self, net: Network):
        """(layout with bias if anyone has one, [(activation, w, q)]): the signed neurons
        of f - y, one group per activation (student and teacher share one group when
        their activations agree, so every pair reduction runs once)."""
        _check_network(net, self.d, self.k, "teacher")
        bias = net.layout.bias or self.teacher.layout.bias
        try:
            self._kernel(net.activation, self.teacher.activation, bias)
        except ValueError as exc:
            raise ValueError(f"no population kernel for a {net.activation.name} student with "
                             f"a {self.teacher.activation.name} teacher: {exc}") from None
        layout = Layout(self.k, self.d, bias)
        w_f, q_f = net.signed_particles()
        w_y, q_y = self.teacher.signed_particles()
        if bias:
            w_f = _with_bias_column(w_f, net.layout)
            w_y = _with_bias_column(w_y, self.teacher.layout)
        w_y, q_y = w_y.astype(w_f.dtype, copy=False), (-q_y).astype(q_f.dtype, copy=False)
        if net.activation.name == self.teacher.activation.name:
            return layout, [(net.activation, np.concatenate([w_f, w_y]),
                             np.concatenate([q_f, q_y]))]
        return layout, [(net.activation, w_f, q_f), (self.teacher.activation, w_y, q_y)]

    def risk(self, net: Network) -> float:
        """R = 1/2 E|f(x) - y|^2, exact."""
        layout, groups = self._groups(net)
        total = 0.0
        for act, w_t, q_t in groups:
            for src, w_s, q_s in groups:
                kernel = self._kernel(act, src, layout.bias)
                _, value = self.backend.pair_reduce(kernel, layout, w_t, w_s, q_s, True)
                total += 0.5 * float(np.dot(q_t, value))
        return max(total, 0.0) + 0.5 * self.k * self.noise**2

    def velocity(self, net: Network, rng=None) -> np.ndarray:
        """v_i = -(1/alpha) E[(f - y) . grad_w phi(w_i, x)], shape (m, p)."""
        layout, groups = self._groups(net)
        w_i = _with_bias_column(net.w, net.layout) if layout.bias else net.w
        grad = 0.0
        for src, w_s, q_s in groups:
            kernel = self._kernel(net.activation, src, layout.bias)
            grad = grad + self.backend.pair_reduce(kernel, layout, w_i, w_s, q_s)[0]
        v = -grad / net.alpha
        if layout.bias and not net.layout.bias:
            v = v[:, :-1]
        return np.ascontiguousarray(v, dtype=net.w.dtype)

    def sample(self, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """Draw n inputs from the population and their noisy teacher labels, (n,d), (n,k)."""
        rng = np.random.default_rng(rng)
        X = rng.standard_normal((int(n), self.d))
        if self.inputs == "sphere":
            X /= np.linalg.norm(X, axis=1, keepdims=True)
        y = self.teacher(X, backend=self.backend)
        if self.noise:
            y = y + self.noise * rng.standard_normal(y.shape)
        return X, y


# --------------------------------------------------------------------------- losses
_softplus = get_activation("softplus").f  # log(1 + e^z), stable


LOSSES = ("square", "logistic", "hinge", "softhinge")


def loss_value(loss: str, f: np.ndarray, y: np.ndarray, beta: float = 20.0) -> np.ndarray:
    """Per-sample loss l(f, y): 1/2|f - y|^2, log(1 + e^{-yf}), max(0, 1 - yf) or
    (1/beta) log(1 + e^{beta (1 - yf)}) (THEORY.md §8), labels y in {-1, +1} for the last three."""
    if loss == "square":
        return 0.5 * np.sum((f - y) ** 2, axis=1)
    margin = (y * f)[:, 0]
    if loss == "logistic":
        return _softplus(-margin)
    if loss == "hinge":
        return np.maximum(0.0, 1.0 - margin)
    return _softplus(beta * (1.0 - margin)) / beta


def loss_derivative(loss: str, f: np.ndarray, y: np.ndarray, beta: float = 20.0) -> np.ndarray:
    """dl/df, shape (n, k) (hinge: -y 1{yf < 1})."""
    if loss == "square":
        return f - y
    margin = y * f
    if loss == "logistic":
        return -y * expit(-margin)
    if loss == "hinge":
        return -y * (margin < 1.0)
    return -y * expit(beta * (1.0 - margin))


class Empirical:
    """Empirical risk (1/n) sum_k l(f(x_k), y_k) on fixed data, its velocity
    v_i = -(1/(alpha n)) sum_k l'(f(x_k), y_k) . grad_w phi(w_i, x_k) (THEORY.md §1)."""

    def __init__(self, X, y, loss: str = "square", beta: float = 20.0, backend="auto"):
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X must have shape (n, d) with n > 0, got {X.shape}")
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have shape (n,) or (n, k) with n = {X.shape[0]}, "
                             f"got {np.shape(y)}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if loss != "square":
            if y.shape[1] != 1 or not np.all(np.isin(y, (-1.0, 1.0))):
                raise ValueError(f"the {loss} loss needs labels in {{-1, +1}} and k = 1")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise ValueError("data contain NaN or Inf")
        self.X, self.y, self.loss, self.beta = X, y, loss, float(beta)
        self.backend = get_backend(backend)
        self.n, self.d = X.shape
        self.k = y.shape[1]

    def outputs(self, net: Network) -> np.ndarray:
        """f(x_k) for every data point, (n, k)."""
        _check_network(net, self.d, self.k, "data")
        return net(self.X.astype(net.w.dtype, copy=False), backend=self.backend)

    def risk(self, net: Network) -> float:
        """(1/n) sum_k l(f(x_k), y_k)."""
        return float(np.mean(loss_value(self.loss, self.outputs(net), self.y, self.beta)))

    def velocity(self, net: Network, rng=None) -> np.ndarray:
        """-m grad_w J with J = R/alpha^2, i.e. -(m/alpha^2) grad_w R, shape (m, p)."""
        return empirical_velocity(net, self.X, self.y, self.loss, self.beta, self.backend)


def empirical_velocity(net: Network, X, y, loss="square", beta=20.0, backend="auto"):
    """v_i = -(1/(alpha n)) sum_k l'(f(x_k), y_k) . grad_w phi(w_i, x_k), shape (m, p).

    Backends with ``forward_and_grad`` compute f and the gradient from one pass over the
    data (R_k depends on f(x_k) alone); the others call ``forward`` then ``data_grad``.
    """
    backend = get_backend(backend)
    X = np.asarray(X, dtype=net.w.dtype)
    y = np.asarray(y).reshape(len(X), -1)
    n = len(X)

    def residual(f, rows):
        return loss_derivative(loss, f, y[rows], beta).astype(net.w.dtype, copy=False) / n

    fused = getattr(backend, "forward_and_grad", None)
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
    risk when a closed form or quadrature exists."""

    def __init__(self, teacher: Network, batch: int = 200, noise: float = 0.0,
                 inputs: str = "gaussian", seed=0, backend="auto"):
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

    def velocity(self, net: Network, rng=None) -> np.ndarray:
        """Empirical velocity on a fresh batch of ``batch`` teacher samples."""
        X, y = self.population.sample(self.batch, self._rng if rng is None else rng)
        return empirical_velocity(net, X, y, backend=self.backend)
