"""The tangent (linearised) model of a network, trained by the same integrators.

theory §1 ("Scalings"), §3. Around the initial particles w0 the network
f(w) = (alpha/m) sum_i phi(w_i, .) (minus f(w0) when centred) is replaced by its
first-order Taylor expansion

    f_lin(w)(x) = f(w0)(x) + (alpha/m) sum_i grad_w phi(w0_i, x) . (w_i - w0_i),
    grad_w phi(w0_i, x) . delta_i = delta_c_i sigma(z_i) + c_i sigma'(z_i) (delta_a_i . x
                                    + delta_b_i),   z_i = a_i . x + b_i  (at w0),

and trained on the same objective J = R(f_lin)/alpha^2, so the particle velocity is

    v_i = -m grad_{w_i} J = -(1/alpha) E_data[l'(f_lin(x), y) grad_w phi(w0_i, x)],

the network's velocity with the features frozen at w0. Then g_t = f_lin(w_t) - f(w0)
obeys dg/dt = -(1/n) Theta_0 l'(f(w0) + g, y) with Theta_0 the tangent kernel of the
initial particles (:func:`meanfield.analysis.ntk.tangent_kernel`); for the square loss this is the
finite-time kernel predictor of theory §3 (:func:`meanfield.analysis.ntk.kernel_predictor`),
whatever alpha is.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..core.losses import loss_derivative, loss_value
from ..model.network import Network
from .teacher_student import Empirical

BLOCK = 2048  # neurons per block when evaluating the linearised outputs


class Tangent:
    """The linearisation of ``net0`` at its particles, on the data of ``objective``.

    ``objective`` is an :class:`~meanfield.objectives.teacher_student.Empirical` (any of its
    losses); the
    object has ``risk(net)`` and ``velocity(net, rng)`` like every objective, so
    ``simulate(net0, Tangent(objective, net0), euler(dt), ...)`` trains the tangent model
    with particles w_t (the network passed in only supplies w; alpha and the centring
    reference come from ``net0``). ``outputs(net, X)`` are f_lin on any inputs.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((30, 2)); y = np.cos(X[:, :1])
        >>> net0 = mf.Network.init(m=16, d=2, seed=1)
        >>> data = mf.Empirical(X, y, backend="numpy")
        >>> tangent = mf.Tangent(data, net0)
        >>> bool(np.isclose(tangent.risk(net0), data.risk(net0)))   # f_lin = f at w0
        True
        >>> bool(np.allclose(tangent.velocity(net0), data.velocity(net0)))
        True
    """

    def __init__(self, objective: Empirical, net0: Network):
        if not isinstance(objective, Empirical):
            raise TypeError(f"Tangent needs an Empirical objective (fixed data), got "
                            f"{type(objective).__name__}")
        if not isinstance(net0, Network):
            raise TypeError("net0 must be a meanfield.Network")
        objective.outputs(net0)  # checks d and k agree
        self.objective, self.net0 = objective, net0
        self.backend = objective.backend
        self.X, self.y, self.loss, self.beta = (objective.X, objective.y, objective.loss,
                                                objective.beta)
        self.n = objective.n
        self._f0 = objective.outputs(net0)

    def outputs(self, net: Network, X: ArrayLike | None = None) -> np.ndarray:
        """f_lin(w)(x) at the particles of ``net``, shape (n, k); X defaults to the data."""
        if X is None:
            return self._f0 + self.displacement_outputs(net.w, self.X)
        X = np.asarray(X, dtype=np.float64)
        return self.net0(X, backend=self.backend) + self.displacement_outputs(net.w, X)

    def displacement_outputs(self, w: np.ndarray, X: ArrayLike) -> np.ndarray:
        """Df(w0)(w - w0) on inputs X: (alpha/m) sum_i grad_w phi(w0_i, x) . (w_i - w0_i)."""
        net0, layout = self.net0, self.net0.layout
        X = np.asarray(X, dtype=np.float64)
        delta = np.asarray(w, dtype=np.float64) - net0.w
        c0, a0, b0 = layout.unpack(net0.w.astype(np.float64))
        dc, da, db = layout.unpack(delta)
        out = np.zeros((len(X), layout.k))
        for start in range(0, net0.m, BLOCK):
            I = slice(start, start + BLOCK)
            z = X @ a0[I].T + (0.0 if b0 is None else b0[I])
            move = X @ da[I].T + (0.0 if db is None else db[I])
            out += net0.activation.f(z) @ dc[I]
            out += (net0.activation.df(z) * move) @ c0[I]
        return out * (net0.alpha / net0.m)

    def risk(self, net: Network) -> float:
        """(1/n) sum_k l(f_lin(x_k), y_k)."""
        return float(np.mean(loss_value(self.loss, self.outputs(net), self.y, self.beta)))

    def velocity(self, net: Network, rng: np.random.Generator | None = None) -> np.ndarray:
        """v_i = -(1/(alpha n)) sum_k l'(f_lin(x_k), y_k) grad_w phi(w0_i, x_k), (m, p)."""
        R = loss_derivative(self.loss, self.outputs(net), self.y, self.beta) / self.n
        net0 = self.net0
        X = self.X.astype(net0.w.dtype, copy=False)
        grad = self.backend.data_grad(net0.activation, net0.layout, net0.w, X,
                                      R.astype(net0.w.dtype, copy=False))
        return np.ascontiguousarray(-grad / net0.alpha, dtype=net.w.dtype)

    stochastic = False

    def minibatch_velocity(self, net: Network, rng: np.random.Generator,
                           batch: int) -> np.ndarray:
        """The velocity on ``batch`` data points drawn without replacement (for ``sgd``)."""
        idx = rng.choice(self.n, size=min(int(batch), self.n), replace=False)
        f = self.outputs(net)[idx]
        R = loss_derivative(self.loss, f, self.y[idx], self.beta) / len(idx)
        net0 = self.net0
        grad = self.backend.data_grad(net0.activation, net0.layout, net0.w,
                                      self.X[idx].astype(net0.w.dtype, copy=False),
                                      R.astype(net0.w.dtype, copy=False))
        return np.ascontiguousarray(-grad / net0.alpha, dtype=net.w.dtype)

    def probe_outputs(self, net: Network) -> np.ndarray:
        """f_lin on the training inputs (what the adaptive step watches)."""
        return self.outputs(net)
