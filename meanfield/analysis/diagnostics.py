"""Laziness diagnostics of a training run (theory §1, §3, §8).

All functions take particles or networks, so they apply to the snapshots any run records
(:class:`meanfield.dynamics.trajectory.Trajectory`, ``trajectory.npz`` of a run directory);
:func:`diagnose` maps them over a whole trajectory. The quantities:

* relative displacement  ||w_t - w0||_F / ||w0||_F over the packed (m, p) array;
* relative tangent-kernel change ||Theta_t - Theta_0||_F / ||Theta_0||_F of the Gram
  matrices on a fixed probe set, Theta in mean-field units
  (:func:`meanfield.analysis.ntk.tangent_kernel`), as Geiger et al. measure it (§8);
* activation stability: the fraction of (neuron, probe point) pairs whose pre-activation
  sign 1{a_i . x + b_i > 0} is the same as at w0;
* distance to the tangent model: the root mean square over probe points of
  f_net(w_t)(x) - f_lin(w'_t)(x), where w'_t is the tangent model's own trajectory
  (:class:`meanfield.objectives.tangent.Tangent`), and its relative version divided by the RMS of
  the tangent model's displacement f_lin(w'_t) - f(w0);
* the laziness criterion kappa (:func:`laziness_kappa`).
"""
from __future__ import annotations

import numpy as np

from ..model.network import Network
from .ntk import tangent_kernel

__all__ = ["relative_displacement", "kernel_change", "activation_stability",
           "laziness_kappa", "diagnose"]


def relative_displacement(w, w0) -> float:
    """||w - w0||_F / ||w0||_F over all particle coordinates.

    Examples:

        >>> import meanfield as mf
        >>> mf.diagnostics.relative_displacement([[3.0, 0.0]], [[0.0, 4.0]])  # |(3, -4)| / 4
        1.25
    """
    w0 = np.asarray(w0, dtype=np.float64)
    return float(np.linalg.norm(np.asarray(w, dtype=np.float64) - w0) / np.linalg.norm(w0))


def kernel_change(net: Network, net0: Network, probe, K0=None) -> float:
    """||Theta_t - Theta_0||_F / ||Theta_0||_F on the probe Gram matrices (theory §8);
    pass ``K0 = tangent_kernel(net0, probe)`` to reuse it.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net0 = mf.Network.init(m=100, d=2, seed=0)
        >>> probe = np.random.default_rng(1).standard_normal((5, 2))
        >>> mf.diagnostics.kernel_change(net0, net0, probe)
        0.0
        >>> 0.0 < mf.diagnostics.kernel_change(net0.with_w(net0.w + 0.1), net0, probe) < 1.0
        True
    """
    K0 = tangent_kernel(net0, probe) if K0 is None else K0
    return float(np.linalg.norm(tangent_kernel(net, probe) - K0) / np.linalg.norm(K0))


def _pattern(net: Network, probe) -> np.ndarray:
    w = net.w.astype(np.float64)
    z = np.asarray(probe, dtype=np.float64) @ w[:, net.layout.a].T
    if net.layout.bias:
        z = z + w[:, -1]
    return z > 0


def activation_stability(net: Network, net0: Network, probe) -> float:
    """Fraction of (neuron i, probe x) with 1{a_i.x + b_i > 0} unchanged since w0
    (1 at t = 0; for relu the activation pattern that fixes the tangent features).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net0 = mf.Network.init(m=100, d=2, seed=0)
        >>> probe = np.random.default_rng(1).standard_normal((5, 2))
        >>> mf.diagnostics.activation_stability(net0, net0, probe)
        1.0
        >>> 0.5 < mf.diagnostics.activation_stability(net0.with_w(net0.w + 0.1), net0, probe) < 1.0
        True
    """
    return float(np.mean(_pattern(net, probe) == _pattern(net0, probe)))


def rms(values) -> float:
    """Root mean square over probe points (and output coordinates): the L2(probe) norm."""
    return float(np.sqrt(np.mean(np.square(values))))


def laziness_kappa(net0: Network, X, y) -> float:
    """Chizat-Oyallon-Bach's criterion (theory §1, [P] there) at the initial particles:

        kappa = ||f(w0) - y|| ||D^2 h(w0)|| / (alpha ||D h(w0)||^2),   f = alpha h,

    with f(w0) as the network computes it (0 when centred or symmetrised). Norms used here:
    the residual in L2 of the data, ||g||^2 = (1/n) sum_k g(x_k)^2; parameters in the
    mean-field metric ||delta||^2 = (1/m) sum_i |delta_i|^2 (the metric in which the
    velocity -m grad J is the gradient, theory §1); operator norms for Dh and D^2h.
    Then ||Dh||^2 = lambda_max(Theta(X, X)/n) with Theta the tangent kernel, and since
    ||D^2h(delta, delta)|| is a convex function of the weights |delta_i|^2/m, its maximum
    sits on one particle: ||D^2h|| = max_i sup_{|u|=1} ||u^T grad^2 phi(w_i, .) u||. For
    activations with sigma'' = 0 almost everywhere (relu, linear) u^T grad^2 phi u =
    2 u_c sigma'(z) (u_a . x~), x~ = (x, 1 if bias), so
    ||D^2h|| = max_i lambda_max((1/n) sum_k sigma'(z_ik)^2 x~_k x~_k^T)^{1/2}, computed by
    power iteration. Scalar outputs (k = 1) only.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net0 = mf.Network.init(m=100, d=2, seed=0)
        >>> probe = np.random.default_rng(1).standard_normal((5, 2))
        >>> y = np.sign(probe[:, :1])
        >>> mf.diagnostics.laziness_kappa(net0, probe, y) > 0.0
        True
    """
    act = net0.activation
    if np.any(act.d2f(np.linspace(-3.0, 3.0, 13)) != 0):
        raise ValueError(f"laziness_kappa needs an activation with sigma'' = 0 a.e. "
                         f"(relu, linear), got {act.name!r}")
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    residual = rms(net0(X) - np.asarray(y).reshape(n, -1))
    first = np.linalg.eigvalsh(tangent_kernel(net0, X) / n)[-1]
    w = net0.w.astype(np.float64)
    Xt = np.concatenate([X, np.ones((n, 1))], axis=1) if net0.layout.bias else X
    z = X @ w[:, net0.layout.a].T + (w[:, -1] if net0.layout.bias else 0.0)
    weights = act.df(z) ** 2 / n                                    # (n, m)
    v = np.random.default_rng(0).standard_normal((net0.m, Xt.shape[1]))
    lam = np.zeros(net0.m)
    for _ in range(200):
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        Mv = ((Xt @ v.T) * weights).T @ Xt                           # rows: M_i v_i
        new = np.einsum("ij,ij->i", Mv, v)
        v = Mv
        if np.allclose(new, lam, rtol=1e-6, atol=0.0):
            break
        lam = new
    second = float(np.sqrt(max(new.max(), 0.0)))
    return float(residual * second / (net0.alpha * first))


def diagnose(snapshots, net0: Network, probe, tangent=None, tangent_snapshots=None
             ) -> dict[str, np.ndarray]:
    """The diagnostics along recorded ``snapshots`` (n_records, m, p) of a run from net0.

    Returns arrays over records: ``displacement``, ``kernel_change``,
    ``activation_stability``; with a :class:`meanfield.objectives.tangent.Tangent` ``tangent`` and
    the tangent model's snapshots at the same record times, also ``tangent_distance``
    (RMS over the probe of f_net - f_lin) and ``tangent_distance_rel`` (divided by the
    RMS of f_lin - f(w0), 0 where that is 0).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net0 = mf.Network.init(m=100, d=2, seed=0)
        >>> probe = np.random.default_rng(1).standard_normal((5, 2))
        >>> out = mf.diagnostics.diagnose([net0.w, net0.w + 0.1], net0, probe)
        >>> sorted(out)
        ['activation_stability', 'displacement', 'kernel_change']
        >>> out["displacement"].round(3), float(out["activation_stability"][0])  # net0 first
        (array([0.   , 0.098]), 1.0)
    """
    probe = np.asarray(probe, dtype=np.float64)
    K0 = tangent_kernel(net0, probe)
    out: dict[str, list] = {key: [] for key in ("displacement", "kernel_change",
                                                "activation_stability")}
    paired = tangent is not None and tangent_snapshots is not None
    if paired:
        out.update(tangent_distance=[], tangent_distance_rel=[])
        f0 = tangent.outputs(net0, probe)
    for k, w in enumerate(snapshots):
        net = net0.with_w(np.asarray(w))
        out["displacement"].append(relative_displacement(w, net0.w))
        out["kernel_change"].append(kernel_change(net, net0, probe, K0))
        out["activation_stability"].append(activation_stability(net, net0, probe))
        if paired:
            f_lin = tangent.outputs(net0.with_w(np.asarray(tangent_snapshots[k])), probe)
            f_net = net(probe, backend=tangent.backend)
            dist, scale = rms(f_net - f_lin), rms(f_lin - f0)
            out["tangent_distance"].append(dist)
            out["tangent_distance_rel"].append(dist / scale if scale > 0 else 0.0)
    return {key: np.asarray(val) for key, val in out.items()}
