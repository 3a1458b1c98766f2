"""The Gaussian expectations F_ij behind the second derivatives of smooth pair kernels
(theory §2.4, §2.6, §12.1).

For K = E[sigma(u) sigma(v)], u = a.x + b, v = a'.x + b', x ~ N(0, I_d), the second
derivatives of :mod:`meanfield.kernels.hessians` need

    F_ij = E[sigma^(i)(u) sigma^(j)(v)]   for (i, j) in ORDERS (i + j <= 4).

When sigma is smooth (tanh, sigmoid, softplus, a polynomial) none of them diverges and
each is a 2-D Gaussian integral, written as in :func:`meanfield.kernels.gaussian.
smooth_quadrature_kernel`: u = b + |a| zeta, v = b' + (a.a'/|a|) zeta + sqrt(|a'|^2 -
(a.a')^2/|a|^2) eta with zeta, eta ~ N(0, 1) independent. The derivatives sigma^(n) are
polynomials in tanh or in the sigmoid (:func:`meanfield.kernels.hermite.derivative_values`),
analytic in the same strip as sigma, so the same step rule applies:

* a polynomial pair kernel (Gauss-Hermite, ``kernel.order`` nodes per axis, exact for
  the product's degree) and every fixed rule (``order``/``rule`` set): that rule, so that
  the second derivatives are those of the kernel the velocity uses;
* otherwise the product trapezoid rule on nested grids at the kernel's ``tol`` (theory
  §2.6): each F_ij at steps h, 2h and 4h, both steps halved where
  :func:`meanfield.kernels.mixed.error_estimate` exceeds tol max(1, sum of |terms|).

Every F_ij is multiplied by the caller (:func:`meanfield.kernels.hessians.second_order`)
by the kernel's ``scale``.
"""
from __future__ import annotations

import numpy as np

from . import mixed as _mixed
from .gaussian import PairKernel, product_trapezoid, quadrature_rule
from .hermite import derivative_values

#: the (i, j) of the F_ij that the second derivatives need, in the order returned
ORDERS = ((4, 0), (3, 1), (2, 2), (1, 3), (3, 0), (2, 1), (1, 2))
#: same-activation pair kernels whose F_ij are computed here
SMOOTH = ("tanh", "sigmoid", "softplus")


def applies(kernel: PairKernel) -> bool:
    """Whether ``kernel`` pairs one smooth activation with itself (SMOOTH or a polynomial).

    Examples:

        >>> import meanfield as mf
        >>> applies(mf.pair_kernel("tanh")), applies(mf.pair_kernel("relu"))
        (True, False)
        >>> applies(mf.pair_kernel(mf.hermite_activation([0.0, 1.0, 1.0]), bias=True))
        True
    """
    act, src = kernel.activation, kernel.source_activation
    return (kernel.name == "quadrature" and act.name == src.name
            and (act.name in SMOOTH or act.hermite is not None))


def smooth_moments(kernel: PairKernel, n1, n2, t, b1=None, b2=None) -> np.ndarray:
    """F_ij = E[sigma^(i)(u) sigma^(j)(v)] for (i, j) in ORDERS, shape (7,) + the pair
    scalars' broadcast shape (module docstring; theory §2.4, §2.6, §12.1), unscaled.

    n1 = |a|^2, n2 = |a'|^2, t = a.a', b1 = b and b2 = b' (None: 0).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> kernel = mf.pair_kernel(mf.hermite_activation([0.0, 0.0, 1.0]))   # z^2 - 1
        >>> F = smooth_moments(kernel, 1.0, 1.0, 0.5)   # F22 = E[2 * 2] = 4, F31 = 0
        >>> bool(np.allclose(F[:4], [0.0, 0.0, 4.0, 0.0]))
        True
    """
    if not applies(kernel):
        raise ValueError(f"kernel: F_ij are computed here for a smooth activation paired "
                         f"with itself ({', '.join(SMOOTH)} or a polynomial), not "
                         f"{kernel.name!r}")
    n1, n2, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (n1, n2, t)))
    shape = n1.shape
    b1, b2 = (np.zeros(shape) if b is None else np.broadcast_to(np.asarray(b, np.float64), shape)
              for b in (b1, b2))
    n1, n2, t, b1, b2 = (np.ravel(v) for v in (n1, n2, t, b1, b2))
    s1 = np.sqrt(n1)
    proj = np.where(s1 > 0, t / np.where(s1 > 0, s1, 1.0), 0.0)
    perp = np.sqrt(np.maximum(0.0, n2 - proj * proj))
    act = kernel.activation
    if kernel.order:
        out = _fixed_rule(act, *quadrature_rule(kernel.rule or "trapezoid", kernel.order),
                          b1, s1, b2, proj, perp)
    else:
        out = _controlled(act, kernel.tol, b1, s1, b2, proj, perp)
    return out.reshape((len(ORDERS),) + shape)


def _fixed_rule(act, nodes, weights, b1, s1, b2, proj, perp):
    """The product rule with the given 1-D nodes and weights on both axes."""
    out = np.zeros((len(ORDERS), len(b1)))
    inner = perp[:, None] * nodes
    for node, weight in zip(nodes, weights, strict=True):
        du = derivative_values(act, b1 + s1 * node, 4)
        dv = derivative_values(act, (b2 + proj * node)[:, None] + inner, 3)
        sv = [x @ weights for x in dv]
        for n, (i, j) in enumerate(ORDERS):
            out[n] += weight * du[i] * sv[j]
    return out


def _controlled(act, tol, b1, s1, b2, proj, perp):
    """The nested product trapezoid rule to the accuracy ``tol`` (module docstring)."""
    step_z, half_z, step_e, half_e = _mixed.product_plan(act, act, s1, proj, perp, tol)

    def u_values(u):
        return derivative_values(act, u, 4)

    def v_values(v):
        return derivative_values(act, v, 3)

    out = np.empty((len(ORDERS), len(b1)))
    active = np.arange(len(b1))
    for _ in range(_mixed.MAX_REFINE + 1):
        sums, mag = product_trapezoid(u_values, v_values, ORDERS, len(ORDERS), b1[active],
                                      s1[active], b2[active], proj[active], perp[active],
                                      step_z[active], half_z[active], step_e[active],
                                      half_e[active])
        out[:, active] = sums[0]
        bad = np.max(_mixed.error_estimate(*sums) > tol * np.maximum(1.0, mag), axis=0)
        if not bad.any():
            return out
        active = active[bad]
        step_z[active] *= 0.5
        step_e[active] *= 0.5
        half_z[active] *= 2
        half_e[active] *= 2
    raise ValueError(f"{act.name} kernel's second derivatives: the quadrature error "
                     f"estimate still exceeds tol = {tol:g} after {_mixed.MAX_REFINE} "
                     f"refinements")


__all__ = ["ORDERS", "SMOOTH", "applies", "smooth_moments"]
