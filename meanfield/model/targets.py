"""Index targets: y = g(U^T x) + noise with g a finite sum of products of Hermite polynomials.

A single-index target is y = sum_k beta_k He_k(u.x); a multi-index target with r orthonormal
directions u_1..u_r (the columns of U) is y = sum_K beta_K prod_j He_{K_j}(u_j.x) over
multi-indices K = (K_1, ..., K_r), with the probabilists' Hermite polynomials He_k
(He_0 = 1, He_1 = z, He_{k+1} = z He_k - k He_{k-1}). For x ~ N(0, I_d) the products are
orthogonal, E[prod_j He_{K_j} prod_j He_{L_j}] = K! [K = L] with K! = prod_j K_j!, so
E[y] = beta_0, E[y^2] = sum_K beta_K^2 K! + noise^2 (theory §13).

The information exponent is the lowest degree |K| >= 1 with beta_K != 0 (for r = 1 the usual
one: the number of vanishing Hermite coefficients after the constant, plus one). The leap
(Abbe, Boix-Adsera & Misiakiewicz 2023) is the smallest L such that the terms can be ordered
so that each adds at most L degrees on directions that no earlier term involved: the
staircase He_1(z1) + He_1(z1)He_1(z2) + He_1(z1)He_1(z2)He_1(z3) has leap 1, He_3(z1) has
leap 3. Both are read from the coefficients in the basis U.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import factorial

from ..core.hermite import hermite_e

ORTHONORMAL_TOL = 1e-8  # |U^T U - I| allowed for the columns of U


def _multi_index(key: Any, r: int) -> tuple[int, ...]:
    index = (key,) if np.isscalar(key) else tuple(key)
    if len(index) != r or not all(float(k).is_integer() and int(k) >= 0 for k in index):
        raise ValueError(f"hermite: key {key!r} must be {r} non-negative integer degree(s), "
                         f"one per column of U")
    return tuple(int(k) for k in index)


def _leap(indices: list[tuple[int, ...]]) -> int:
    """Smallest L such that some order of the terms adds at most L new degrees each."""
    def feasible(limit: int) -> bool:
        covered: set[int] = set()
        left = list(indices)
        while left:
            cost = [sum(k for j, k in enumerate(K) if j not in covered) for K in left]
            best = int(np.argmin(cost))
            if cost[best] > limit:
                return False
            covered |= {j for j, k in enumerate(left.pop(best)) if k}
        return True
    top = max((sum(K) for K in indices), default=0)
    return next(limit for limit in range(top + 1) if feasible(limit))


class IndexTarget:
    """y = sum_K beta_K prod_j He_{K_j}(u_j . x) + noise eps, eps ~ N(0, 1) (theory §13).

    Parameters
    ----------
    U : array (d, r)
        Orthonormal columns u_1..u_r (a vector of shape (d,) is one direction; it is normalised
        only if its norm is within ORTHONORMAL_TOL of 1, else it is an error).
    hermite : mapping
        Multi-index -> coefficient, e.g. ``{3: 1.0}`` (He_3, single index) or
        ``{(1, 0, 0): 1, (1, 1, 0): 1, (1, 1, 1): 1}`` (the staircase). An integer key stands for
        the 1-tuple when r = 1; zero coefficients are dropped.
    noise : float
        Standard deviation of additive Gaussian label noise.

    Examples
    --------
    >>> import numpy as np, meanfield as mf
    >>> target = mf.IndexTarget(np.eye(8)[:, :1], hermite={3: 1.0})
    >>> target.information_exponent, target.leap, target.second_moment   # E[He_3^2] = 3!
    (3, 3, 6.0)
    >>> stair = mf.IndexTarget(np.eye(8)[:, :3], {(1, 0, 0): 1, (1, 1, 0): 1, (1, 1, 1): 1})
    >>> stair.leap, stair.information_exponent
    (1, 1)
    >>> X, y = target.sample(200_000, rng=0)
    >>> bool(abs(np.mean(y ** 2) / 6.0 - 1) < 0.05)                     # Monte Carlo agrees
    True
    """

    def __init__(self, U: ArrayLike, hermite: Mapping[Any, float], noise: float = 0.0):
        U = np.array(U, dtype=float)
        if U.ndim == 1:
            U = U[:, None]
        if U.ndim != 2 or not 1 <= U.shape[1] <= U.shape[0] or not np.all(np.isfinite(U)):
            raise ValueError(f"U must be a finite (d, r) array with d >= r >= 1, "
                             f"got shape {U.shape}")
        gram_error = float(np.max(np.abs(U.T @ U - np.eye(U.shape[1]))))
        if gram_error > ORTHONORMAL_TOL:
            raise ValueError(f"U must have orthonormal columns (|U^T U - I| = {gram_error:.2e})")
        noise = float(noise)
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise must be a non-negative number, got {noise}")
        if not isinstance(hermite, Mapping) or not hermite:
            raise ValueError("hermite must be a non-empty mapping multi-index -> coefficient")
        terms: dict[tuple[int, ...], float] = {}
        for key, value in hermite.items():
            index, beta = _multi_index(key, U.shape[1]), float(value)
            if not np.isfinite(beta):
                raise ValueError(f"hermite: coefficient of {key!r} must be finite, got {value!r}")
            if beta != 0.0:
                terms[index] = terms.get(index, 0.0) + beta
        self.U, self.noise = U, noise
        self.terms: tuple[tuple[tuple[int, ...], float], ...] = tuple(sorted(terms.items()))
        self.d, self.r, self.k = U.shape[0], U.shape[1], 1

    @classmethod
    def random(cls, d: int, hermite: Mapping[Any, float], r: int = 1, seed: Any = 0,
               noise: float = 0.0) -> IndexTarget:
        """The target with r orthonormal directions drawn uniformly (QR of a Gaussian d x r).

        Examples
        --------
        >>> import numpy as np, meanfield as mf
        >>> target = mf.IndexTarget.random(16, {2: 1.0}, seed=3)
        >>> bool(np.isclose(np.linalg.norm(target.U), 1.0)), target.information_exponent
        (True, 2)
        """
        if int(d) < int(r) or int(r) < 1:
            raise ValueError(f"need d >= r >= 1, got d = {d}, r = {r}")
        Q, R = np.linalg.qr(np.random.default_rng(seed).standard_normal((int(d), int(r))))
        return cls(Q * np.sign(np.diag(R)), hermite, noise)

    @property
    def degree(self) -> int:
        """The largest total degree |K| of a term (0 for a constant target)."""
        return max((sum(K) for K, _ in self.terms), default=0)

    @property
    def information_exponent(self) -> int:
        """The lowest total degree |K| >= 1 with a non-zero coefficient (0 if constant)."""
        return min((sum(K) for K, _ in self.terms if sum(K) > 0), default=0)

    @property
    def leap(self) -> int:
        """The leap complexity of the terms' supports in the basis U (see the module text)."""
        return _leap([K for K, _ in self.terms if sum(K) > 0])

    @property
    def mean(self) -> float:
        """E[y] = beta_0."""
        return sum(beta for K, beta in self.terms if sum(K) == 0)

    @property
    def second_moment(self) -> float:
        """E[y^2] = sum_K beta_K^2 K! + noise^2."""
        norms = [beta**2 * float(np.prod(factorial(K))) for K, beta in self.terms]
        return float(sum(norms) + self.noise**2)

    def best_risk(self, activation: Any, bias: bool = False) -> float | None:
        """inf over students of any width with this activation of 1/2 E[(f - y)^2], where
        closed (theory §13.5; :func:`meanfield.model.best_risk.best_risk`), else None.

        Examples
        --------
        >>> import numpy as np, meanfield as mf
        >>> mf.IndexTarget(np.eye(4)[:, :1], {2: 1.0}).best_risk("erf")   # even: out of reach
        1.0
        """
        from .best_risk import best_risk
        return best_risk(self, activation, bias)

    def overlaps(self, a: ArrayLike) -> np.ndarray:
        """u_j . a for every row a of ``a`` (n, d): shape (n, r)."""
        return np.asarray(a, dtype=float) @ self.U

    def __call__(self, X: ArrayLike, backend: Any = None) -> np.ndarray:
        """g(U^T x) without noise for every row of X, shape (n, 1)."""
        Z = np.asarray(X, dtype=float) @ self.U
        y = np.zeros(len(Z))
        for K, beta in self.terms:
            term = np.full(len(Z), beta)
            for j, k in enumerate(K):
                if k:
                    term *= hermite_e(k, Z[:, j])
            y += term
        return y[:, None]

    def sample(self, n: int, rng: Any) -> tuple[np.ndarray, np.ndarray]:
        """n inputs x ~ N(0, I_d) and their noisy labels, shapes (n, d) and (n, 1)."""
        rng = np.random.default_rng(rng)
        X = rng.standard_normal((int(n), self.d))
        y = self(X)
        if self.noise:
            y = y + self.noise * rng.standard_normal(y.shape)
        return X, y

    def __repr__(self) -> str:
        terms = ", ".join(f"{K}: {beta:g}" for K, beta in self.terms)
        return f"IndexTarget(d={self.d}, r={self.r}, hermite={{{terms}}}, noise={self.noise:g})"
