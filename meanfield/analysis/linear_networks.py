"""Two-layer linear networks A = W2 W1: lazy, balanced and mixed regimes.

theory §4 (Saxe et al.) and §9 (Tu, Aranguri & Jacot 2024). W1 is w x d, W2 is d x w,
entries N(0, sigma^2) with sigma^2 = d^gamma_sigma2 and w = d^gamma_w. The loss is the
authors' L = 1/2 ||W2 W1 - A_target||_F^2: their code steps W1 <- W1 - eta W2^T G,
W2 <- W2 - eta G W1^T with G = A - A_target, the gradients of 1/2||.||^2 (not ||.||^2),
and uses the same eta for the self-consistent equation.

**As particles.** Neuron i is (c_i, a_i) = (column i of W2, row i of W1) with linear
activation, k = d outputs and alpha = m = w, so f(x) = sum_i c_i (a_i . x) = A x. With
x ~ N(0, I_d), :class:`~meanfield.GaussianPopulation` of the target (a teacher with d
neurons c_j = column j of A_target, a_j = e_j, alpha = d) has risk R = 1/2 ||A - A_target||_F^2
exactly, and the velocity v_i = -m grad_{w_i}(R/alpha^2) = -(1/m) grad_{w_i} R. So one
GD step of size eta on L is one Euler step of size **dt = eta m** (mean-field time
t = m x GD time), and the self-consistent equation, written in GD time, is integrated with
the step eta itself. The linear pair reduction goes through the d x d moment matrix, so a
step costs O(w d^2).

**As d x d matrices.** GD is closed in (A, P, Q) = (W2 W1, W1^T W1, W2 W2^T): with
W1' = W1 - h W2^T G and W2' = W2 - h G W1^T,
    A' = A - h (G P + Q G) + h^2 G A^T G,
    P' = P - h (A^T G + G^T A) + h^2 G^T Q G,
    Q' = Q - h (G A^T + A G^T) + h^2 G P G^T,
exactly. This makes the paper's sizes (w ~ 10^6, where W1 alone is gigabytes) cost
O(w d^2) once for the initial Gram matrices and O(d^3) per step (:class:`GramGD`);
a test checks it against the particle path to 1e-12.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..dynamics.integrators import euler
from ..dynamics.protocols import Field
from ..model.network import Network
from ..objectives.teacher_student import GaussianPopulation

__all__ = ["Task", "make_task", "scales", "paper_step", "neuron_blocks", "network",
           "init_network", "matrix", "teacher", "balanced_aligned", "ParticleGD", "GramGD",
           "sc_velocity", "SelfConsistent", "saxe", "errors", "stable_rank", "numerical_rank"]

CHUNK = 4096  # neurons drawn per block: the same numbers for the particle and Gram paths


# ----------------------------------------------------------------------- the task
@dataclass(frozen=True)
class Task:
    """A* = C D^T (rank k) and the noise E; the training target is A* + E (theory §9).

    Examples:

        >>> import meanfield as mf
        >>> task = mf.linear.make_task(d=10, k=2, seed=0)
        >>> task.d, task.k, task.target.shape
        (10, 2, (10, 10))
    """

    A_star: np.ndarray
    E: np.ndarray
    k: int

    @property
    def d(self) -> int:
        return self.A_star.shape[0]

    @property
    def target(self) -> np.ndarray:
        return self.A_star + self.E


def make_task(d: int, k: int = 5, noise: float = 1.0, seed=0) -> Task:
    """C, D in R^{d x k} with entries N(0, k^{-1/2}) -- *variance* k^{-1/2}: the authors'
    code draws k^{-1/4} * randn -- so A* = C D^T has entries of variance 1 and k singular
    values near d/sqrt(k); E_ij ~ N(0, noise^2) (theory §9).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> task = mf.linear.make_task(d=10, k=2, noise=0.5, seed=0)
        >>> int(np.linalg.matrix_rank(task.A_star)), task.E.shape
        (2, (10, 10))
    """
    d, k = int(d), int(k)
    if d < 1 or not 1 <= k <= d:
        raise ValueError(f"need d >= 1 and 1 <= k <= d, got d={d}, k={k}")
    rng = np.random.default_rng(seed)
    C, D = k ** -0.25 * rng.standard_normal((2, d, k))
    return Task(C @ D.T, float(noise) * rng.standard_normal((d, d)), k)


def scales(d: int, gamma_sigma2: float, gamma_w: float) -> tuple[float, int]:
    """(sigma^2, w) = (d^gamma_sigma2, int(d^gamma_w)) (theory §9: powers of d).

    Examples:

        >>> import meanfield as mf
        >>> mf.linear.scales(16, 1.0, 0.5)
        (16.0, 4)
    """
    sigma2, w = float(d) ** gamma_sigma2, int(float(d) ** gamma_w)
    if w < 1:
        raise ValueError(f"width d^gamma_w = {float(d) ** gamma_w:.3g} is below 1")
    return sigma2, w


def paper_step(task: Task, sigma2: float, w: int, gamma_sigma2: float, gamma_w: float,
               divisor: float = 5.0) -> float:
    """The authors' GD step: 1/(divisor sigma^2 w) when gamma_sigma2 + gamma_w > 1 (lazy
    side), else 1/(divisor ||A*||_op); divisor 5 for Figure 1, 50 for Figure 2 (§9).

    Examples:

        >>> import meanfield as mf
        >>> task = mf.linear.make_task(d=16, k=2, seed=0)
        >>> mf.linear.paper_step(task, 16.0, 4, 1.0, 0.5)  # lazy side: 1/(5 sigma^2 w) = 1/320
        0.003125
    """
    if gamma_sigma2 + gamma_w > 1:
        return 1.0 / (divisor * sigma2 * w)
    return 1.0 / (divisor * np.linalg.norm(task.A_star, 2))


# ------------------------------------------------------------------ initialisation
def neuron_blocks(d: int, sigma2: float, w: int, seed=0, chunk: int = CHUNK):
    """Yield (c, a) blocks of the i.i.d. N(0, sigma^2) initialisation: rows c_i (columns
    of W2) and a_i (rows of W1), ``chunk`` neurons at a time, from one seeded stream.

    Examples:

        >>> import meanfield as mf
        >>> [c.shape for c, a in mf.linear.neuron_blocks(3, 1.0, w=5, chunk=2)]
        [(2, 3), (2, 3), (1, 3)]
    """
    rng = np.random.default_rng(seed)
    sigma = math.sqrt(sigma2)
    for start in range(0, w, chunk):
        n = min(chunk, w - start)
        block = sigma * rng.standard_normal((n, 2 * d))
        yield block[:, :d], block[:, d:]


def network(c, a) -> Network:
    """The particle cloud of A = W2 W1 = sum_i c_i a_i^T: linear units, alpha = m.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net = mf.linear.network(np.eye(2), np.eye(2))
        >>> net.m, net.alpha
        (2, 2.0)
    """
    return Network(c, a, activation="linear", alpha=len(a), dtype=np.float64)


def init_network(d: int, sigma2: float, w: int, seed=0) -> Network:
    """The random network of :func:`neuron_blocks` as particles (memory 2 w d floats).

    Examples:

        >>> import meanfield as mf
        >>> net = mf.linear.init_network(3, 1.0, w=5, seed=0)
        >>> net.m, mf.linear.matrix(net).shape
        (5, (3, 3))
    """
    c, a = zip(*neuron_blocks(d, sigma2, w, seed), strict=False)
    return network(np.concatenate(c), np.concatenate(a))


def matrix(net: Network) -> np.ndarray:
    """A = (alpha/m) sum_i c_i a_i^T, the linear map of a linear network (d_out x d_in).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> mf.linear.matrix(mf.linear.network(np.eye(2), np.eye(2)))
        array([[1., 0.],
               [0., 1.]])
    """
    return (net.alpha / net.m) * (net.c.T @ net.a)


def teacher(target) -> Network:
    """The target matrix as a teacher network: d neurons c_j = column j, a_j = e_j,
    alpha = d, so that x -> target x.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> A = np.array([[1.0, 2.0], [0.0, 3.0]])
        >>> X = np.random.default_rng(0).standard_normal((5, 2))
        >>> bool(np.allclose(mf.linear.teacher(A)(X), X @ A.T))
        True
    """
    target = np.asarray(target, dtype=np.float64)
    return Network(target.T, np.eye(target.shape[1]), activation="linear",
                   alpha=target.shape[1])


def balanced_aligned(U, V, u0, w: int | None = None, seed=0) -> Network:
    """A balanced, aligned initialisation (theory §4): W2 = U diag(sqrt u0) R^T,
    W1 = R diag(sqrt u0) V^T with R (w x r) orthonormal columns (R = I when w = r), so
    W1 W1^T = W2^T W2 and A(0) = U diag(u0) V^T.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net = mf.linear.balanced_aligned(np.eye(2), np.eye(2), [1.0, 0.25])
        >>> bool(np.allclose(mf.linear.matrix(net), np.diag([1.0, 0.25])))  # A(0) = U diag(u0) V^T
        True
    """
    U, V, root = np.asarray(U), np.asarray(V), np.sqrt(np.asarray(u0, dtype=float))
    r = len(root)
    w = r if w is None else int(w)
    R = np.eye(r) if w == r else \
        np.linalg.qr(np.random.default_rng(seed).standard_normal((w, r)))[0]
    return network(R @ (U * root).T, R @ (V * root).T)


# ------------------------------------------------------------------- dynamics
class ParticleGD:
    """GD on 1/2||W2 W1 - target||_F^2 through the package's machinery: the exact
    Gaussian-population objective of the teacher :func:`teacher` (target) and the Euler
    integrator with dt = eta m (one Euler step = one GD step of size eta; module doc).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net = mf.linear.init_network(4, 0.5, w=6, seed=2)
        >>> gd = mf.linear.ParticleGD(net, np.eye(4), eta=0.01)
        >>> gd.integrator.params["dt"]  # dt = eta m
        0.06
        >>> bool(np.allclose(gd.matrix(), mf.linear.matrix(net)))
        True
    """

    def __init__(self, net: Network, target, eta: float, seed=0):
        self.objective = GaussianPopulation(teacher(target))
        self.field = Field(net, self.objective)
        self.integrator = euler(eta * net.m)
        self.state = self.integrator.init(net.w, self.field, seed)

    @property
    def net(self) -> Network:
        return self.field.network(self.state.w)

    def step(self) -> None:
        """Advance one GD step."""
        self.state = self.integrator.step(self.state, self.field)

    def matrix(self) -> np.ndarray:
        return matrix(self.net)


@dataclass
class GramGD:
    """GD on 1/2||W2 W1 - target||_F^2 in the closed d x d variables (A, P, Q) =
    (W2 W1, W1^T W1, W2 W2^T) of the module doc; exact for any width.

    ``order="simultaneous"`` is plain GD (the particle path); ``order="paper"`` is the
    authors' update, W1 first, then W2 with the new W1 and the old G:
        W1' = W1 - h W2^T G,  A_m = W2 W1' = A - h Q G,
        P' = P - h (A^T G + G^T A) + h^2 G^T Q G,
        A' = A_m - h G P',    Q' = Q - h (G A_m^T + A_m G^T) + h^2 G P' G^T.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> c, a = next(mf.linear.neuron_blocks(3, 0.5, w=4, seed=1))
        >>> W2, W1, target, eta = c.T, a, np.eye(3), 0.01
        >>> gd = mf.linear.GramGD.from_blocks([(c, a)], target, eta)
        >>> gd.step()
        >>> G = W2 @ W1 - target  # the same step on the weights themselves
        >>> W1, W2 = W1 - eta * W2.T @ G, W2 - eta * G @ W1.T
        >>> bool(np.allclose(gd.matrix(), W2 @ W1, rtol=0.0, atol=1e-12))
        True
    """

    A: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    target: np.ndarray
    eta: float
    order: str = "simultaneous"

    def __post_init__(self):
        if self.order not in ("simultaneous", "paper"):
            raise ValueError(f"order must be 'simultaneous' or 'paper', got {self.order!r}")

    @classmethod
    def from_blocks(cls, blocks, target, eta: float, order="simultaneous") -> "GramGD":
        """Accumulate A = sum c_i a_i^T, P = sum a_i a_i^T, Q = sum c_i c_i^T over the
        (c, a) blocks of :func:`neuron_blocks` (O(w d^2) time, O(d^2) memory)."""
        d = np.shape(target)[0]
        A, P, Q = np.zeros((d, d)), np.zeros((d, d)), np.zeros((d, d))
        for c, a in blocks:
            A += c.T @ a
            P += a.T @ a
            Q += c.T @ c
        return cls(A, P, Q, np.asarray(target, dtype=float), float(eta), order)

    def step(self) -> None:
        """Advance one GD step (exact matrix identities of the class doc)."""
        A, P, Q, h = self.A, self.P, self.Q, self.eta
        G = A - self.target
        P_new = P - h * (A.T @ G + G.T @ A) + h * h * (G.T @ Q @ G)
        if self.order == "simultaneous":
            self.A = A - h * (G @ P + Q @ G) + h * h * (G @ A.T @ G)
            self.Q = Q - h * (G @ A.T + A @ G.T) + h * h * (G @ P @ G.T)
        else:
            A_mid = A - h * (Q @ G)
            self.A = A_mid - h * (G @ P_new)
            self.Q = Q - h * (G @ A_mid.T + A_mid @ G.T) + h * h * (G @ P_new @ G.T)
        self.P = P_new

    def matrix(self) -> np.ndarray:
        return self.A


def sc_velocity(A, target, threshold: float) -> np.ndarray:
    """The self-consistent dynamics of Tu et al. (theory §9), in GD time:
        dA/dt = -[(A A^T + s^2 I)^{1/2} G + G (A^T A + s^2 I)^{1/2}],  G = A - target,
    with s = ``threshold`` = sigma^2 w. Both square roots come from one SVD A = U S V^T:
    (A A^T + s^2)^{1/2} = U (S^2 + s^2)^{1/2} U^T and likewise with V.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> float(np.abs(mf.linear.sc_velocity(np.eye(2), np.eye(2), 1.0)).max())  # at the target
        0.0
    """
    U, S, Vt = np.linalg.svd(A)
    root = np.sqrt(S * S + threshold * threshold)
    G = A - target
    return -((U * root) @ (U.T @ G) + (G @ Vt.T * root) @ Vt)


class SelfConsistent:
    """Explicit Euler for :func:`sc_velocity` with the GD step eta: A <- A + eta dA/dt
    (the authors' discretisation), from A(0) = W2(0) W1(0).

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> sc = mf.linear.SelfConsistent(np.zeros((2, 2)), np.eye(2), threshold=1.0, eta=0.1)
        >>> for _ in range(200):
        ...     sc.step()
        >>> bool(np.allclose(sc.matrix(), np.eye(2)))  # converges to the target
        True
    """

    def __init__(self, A0, target, threshold: float, eta: float):
        self.A, self.target = np.array(A0, dtype=float), np.asarray(target, dtype=float)
        self.threshold, self.eta = float(threshold), float(eta)

    def step(self) -> None:
        self.A = self.A + self.eta * sc_velocity(self.A, self.target, self.threshold)

    def matrix(self) -> np.ndarray:
        return self.A


def saxe(s, u0, t, tau: float = 1.0) -> np.ndarray:
    """Saxe-McClelland-Ganguli mode strength for a balanced aligned start (theory §4):
    u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0), the gradient flow of
    1/2||W2 W1 - S||^2 with tau = 1 (GD time). Broadcasts over s, u0 and t.

    Examples:

        >>> import meanfield as mf
        >>> float(mf.linear.saxe(1.0, 1.0, 5.0))  # started at s: stays there
        1.0
        >>> round(float(mf.linear.saxe(2.0, 0.01, 100.0)), 6)  # from a small start: reaches s
        2.0
    """
    s, u0, t = np.asarray(s, float), np.asarray(u0, float), np.asarray(t, float)
    x = -2.0 * s * t / tau  # u = s / (1 + (s/u0 - 1) e^{-2st/tau}): no overflow
    return s / (1.0 + (s / u0 - 1.0) * np.exp(x))


# ---------------------------------------------------------------- diagnostics
def errors(A, task: Task) -> tuple[float, float]:
    """(train, test) = (||A - (A* + E)||_F^2 / d^2, ||A - A*||_F^2 / d^2) (theory §9).

    Examples:

        >>> import meanfield as mf
        >>> task = mf.linear.make_task(d=10, k=2, seed=0)
        >>> mf.linear.errors(task.A_star, task)[1]  # A* itself has no test error
        0.0
    """
    d2 = task.d ** 2
    return (float(np.sum((A - task.target) ** 2)) / d2,
            float(np.sum((A - task.A_star) ** 2)) / d2)


def stable_rank(sv) -> float:
    """||A||_F^2 / ||A||_op^2 from the singular values (descending).

    Examples:

        >>> import meanfield as mf
        >>> mf.linear.stable_rank([2.0, 1.0])  # (4 + 1) / 4
        1.25
    """
    sv = np.asarray(sv)
    return float(np.sum(sv * sv) / sv[0] ** 2) if sv[0] > 0 else 0.0


def numerical_rank(sv, fraction: float = 0.2) -> int:
    """The number of singular values above ``fraction`` x s_max (the authors' rank, 1/5).

    Examples:

        >>> import meanfield as mf
        >>> mf.linear.numerical_rank([10.0, 3.0, 1.0])  # above 2
        2
    """
    sv = np.asarray(sv)
    return int(np.sum(sv > fraction * sv[0]))
