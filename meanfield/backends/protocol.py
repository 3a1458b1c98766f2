"""What a backend is: the required :class:`Backend` protocol (three reductions and a
name) and six optional capabilities a backend may offer for speed, each a
``runtime_checkable`` protocol (theory §1-2 for the reductions, §10 for ensembles).

Pair reduction, for targets i and sources j with weights q_j and the pair kernel
U(w, w') = (c . c') K(w, w') (:class:`meanfield.kernels.gaussian.PairKernel`):
    value_i = sum_j q_j U(w_i, w_j),   grad_i = sum_j q_j grad_{w_i} U(w_i, w_j).
Data reductions, on samples x_k: ``forward`` f(x_k) = sum_i q_i c_i sigma(a_i . x_k + b_i)
and ``data_grad`` grad_i = sum_k grad_{w_i}[c_i . R_k sigma(a_i . x_k + b_i)].

A backend of your own needs no base class: any object (a module, an instance) with the
members of :class:`Backend` works once registered (``meanfield.backends.register``).
What it lacks of the optional capabilities, :mod:`meanfield.backends` supplies by loops
over the single reductions; :func:`capabilities` says which it offers. The reference
implementation of every member is :mod:`meanfield.backends.numpy`.

The square loss's residual is a :class:`SquareResidual`: a backend may form
(F - labels)/divisor inside its compiled kernels instead of calling it.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # types only: importing the backends loads no SciPy
    from ..core.activations import Activation
    from ..core.layout import Layout
    from ..kernels.gaussian import PairKernel

__all__ = ["Backend", "BatchResidual", "BindsEulerSteps", "BindsForwardAndGrad",
           "BoundEulerSteps", "BoundForwardAndGrad",
           "Capabilities", "ForwardAndGrad", "ForwardAndGradBatch", "ForwardBatch",
           "PairReduceBatch", "Residual", "SquareResidual", "capabilities", "square_labels"]


class Residual(Protocol):
    """The residuals R (len(rows), k) of a pointwise loss on the samples ``rows``, from
    the outputs ``f`` on those samples: R_k = l'(f(x_k), y_k) / n."""

    def __call__(self, f: np.ndarray, rows: slice, /) -> np.ndarray: ...


class BatchResidual(Protocol):
    """The residuals (len(G), len(N), k) of the members G (a slice) on the samples N,
    from their outputs F (len(G), len(N), k)."""

    def __call__(self, F: np.ndarray, G: slice, N: slice, /) -> np.ndarray: ...


@dataclass(frozen=True)
class SquareResidual:
    """A residual of the square loss, R = (F - labels)/divisor, that says so: calling it
    calls ``residual`` (a :class:`Residual` or a :class:`BatchResidual`), and a backend
    may instead read ``labels`` ((1 or S, n, k): shared or per member) and ``divisor``
    and form R inside its kernels (theory §1).

    >>> import numpy as np
    >>> y = np.array([[1.0], [3.0]])
    >>> R = SquareResidual(lambda f, rows: (f - y[rows]) / 2, y[None], 2.0)
    >>> R(np.array([[2.0], [2.0]]), slice(None)).ravel().tolist()
    [0.5, -0.5]
    >>> square_labels(R)[1]
    2.0
    """

    residual: Callable[..., np.ndarray]
    labels: np.ndarray
    divisor: float

    def __call__(self, *args: Any) -> np.ndarray:
        return self.residual(*args)


def square_labels(residual: object) -> tuple[np.ndarray, float] | None:
    """(labels, divisor) of a :class:`SquareResidual`, None for any other residual."""
    if isinstance(residual, SquareResidual):
        return residual.labels, float(residual.divisor)
    return None


@runtime_checkable
class Backend(Protocol):
    """The three reductions every backend implements (module docstring), and its name.

    ``pair_reduce`` returns (grad (m_t, p), value (m_t,) or None: only when
    ``with_value``); ``forward`` f (n, k); ``data_grad`` (m, p) for residuals R (n, k).

    >>> import meanfield as mf
    >>> isinstance(mf.get_backend("numpy"), Backend)
    True
    """

    @property
    def name(self) -> str: ...

    @overload
    def pair_reduce(self, kernel: PairKernel, layout: Layout, w_t: np.ndarray,
                    w_s: np.ndarray, q_s: np.ndarray,
                    with_value: Literal[False] = False) -> tuple[np.ndarray, None]: ...

    @overload
    def pair_reduce(self, kernel: PairKernel, layout: Layout, w_t: np.ndarray,
                    w_s: np.ndarray, q_s: np.ndarray,
                    with_value: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...

    @overload
    def pair_reduce(self, kernel: PairKernel, layout: Layout, w_t: np.ndarray,
                    w_s: np.ndarray, q_s: np.ndarray,
                    with_value: bool) -> tuple[np.ndarray, np.ndarray | None]: ...

    def forward(self, activation: Activation, layout: Layout, w: np.ndarray, q: np.ndarray,
                X: np.ndarray) -> np.ndarray: ...

    def data_grad(self, activation: Activation, layout: Layout, w: np.ndarray,
                  X: np.ndarray, R: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class PairReduceBatch(Protocol):
    """Optional: the pair reductions of S systems, w_t (S, m_t, p), w_s (S, m_s, p),
    q_s (S, m_s) -> (grad (S, m_t, p), value (S, m_t) or None); member s equals
    ``pair_reduce`` of member s bit for bit."""

    def pair_reduce_batch(self, kernel: PairKernel, layout: Layout, w_t: np.ndarray,
                          w_s: np.ndarray, q_s: np.ndarray, with_value: bool = False
                          ) -> tuple[np.ndarray, np.ndarray | None]: ...


@runtime_checkable
class ForwardBatch(Protocol):
    """Optional: outputs (S, n, k) of S networks w (S, m, p), q (S, m) on X (n, d)
    shared or (S, n, d) per member."""

    def forward_batch(self, activation: Activation, layout: Layout, w: np.ndarray,
                      q: np.ndarray, X: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class ForwardAndGrad(Protocol):
    """Optional: both data reductions from one pass over blocks of samples, (f (n, k),
    grad (m_grad, p)) of the first ``m_grad`` rows, with R = residual(f_N, N)."""

    def forward_and_grad(self, activation: Activation, layout: Layout, w: np.ndarray,
                         q: np.ndarray, m_grad: int, X: np.ndarray,
                         residual: Residual) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class ForwardAndGradBatch(Protocol):
    """Optional: :class:`ForwardAndGrad` for S networks, (f (S, n, k), grad (S, m_grad,
    p)), with R = residual(F, G, N)."""

    def forward_and_grad_batch(self, activation: Activation, layout: Layout,
                               w: np.ndarray, q: np.ndarray, m_grad: int, X: np.ndarray,
                               residual: BatchResidual) -> tuple[np.ndarray, np.ndarray]: ...


#: ``forward_and_grad_batch`` on data bound once: (w (S, M, p), q (S, M)) -> (f, grad)
BoundForwardAndGrad = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@runtime_checkable
class BindsForwardAndGrad(Protocol):
    """Optional: ``forward_and_grad_batch`` on fixed data X for members of M rows in
    ``dtype``, as a function (w, q) -> (f, grad) with what does not depend on w prepared
    once (the per-step cost of a small ensemble is its call overhead)."""

    def bind_forward_and_grad(self, activation: Activation, layout: Layout, M: int,
                              dtype: Any, m_grad: int, X: np.ndarray,
                              residual: BatchResidual) -> BoundForwardAndGrad: ...


#: fused Euler steps on data bound once: (w (S, M, p), q (S, M), neg (S,), h (S,), n) ->
#: (w after n steps, w after n - 1 steps)
BoundEulerSteps = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int],
                           tuple[np.ndarray, np.ndarray]]


@runtime_checkable
class BindsEulerSteps(Protocol):
    """Optional: n explicit Euler steps w <- w + h_s (grad_s / neg_s) of S members in one
    call, grad the data gradient of ``forward_and_grad_batch`` with this residual, on
    fixed data X (theory §10.1), or None where the backend has no such path for these
    sizes, dtype and residual. Each step must be the same IEEE operations as the
    per-step path (``bind_forward_and_grad``, then ``w + h * (grad / neg)`` in NumPy), so
    the result equals n separate steps bit for bit."""

    def bind_euler_steps(self, activation: Activation, layout: Layout, M: int, dtype: Any,
                         m_grad: int, X: np.ndarray,
                         residual: BatchResidual) -> BoundEulerSteps | None: ...


@dataclass(frozen=True)
class Capabilities:
    """The optional capabilities a backend offers, each its bound function or None."""

    pair_reduce_batch: Callable[..., tuple[np.ndarray, np.ndarray | None]] | None
    forward_batch: Callable[..., np.ndarray] | None
    forward_and_grad: Callable[..., tuple[np.ndarray, np.ndarray]] | None
    forward_and_grad_batch: Callable[..., tuple[np.ndarray, np.ndarray]] | None
    bind_forward_and_grad: Callable[..., BoundForwardAndGrad] | None
    bind_euler_steps: Callable[..., BoundEulerSteps | None] | None


def capabilities(backend: Backend) -> Capabilities:
    """Which optional capabilities ``backend`` offers (found once per backend: the
    ``isinstance`` checks of the protocols above are slow for a per-step call).

    >>> import meanfield as mf
    >>> caps = capabilities(mf.get_backend("numpy"))
    >>> caps.forward_and_grad is not None, caps.bind_forward_and_grad is None
    (True, True)
    """
    key: Any = backend  # a module, or an object: hashable or not
    try:
        return _capabilities(key)
    except TypeError:  # an unhashable backend object: look again each time
        return _capabilities.__wrapped__(key)


@functools.lru_cache(maxsize=64)
def _capabilities(backend: Any) -> Capabilities:
    return Capabilities(
        backend.pair_reduce_batch if isinstance(backend, PairReduceBatch) else None,
        backend.forward_batch if isinstance(backend, ForwardBatch) else None,
        backend.forward_and_grad if isinstance(backend, ForwardAndGrad) else None,
        backend.forward_and_grad_batch if isinstance(backend, ForwardAndGradBatch) else None,
        backend.bind_forward_and_grad if isinstance(backend, BindsForwardAndGrad) else None,
        backend.bind_euler_steps if isinstance(backend, BindsEulerSteps) else None)
