"""Two-layer networks as particle clouds: layout of the packed array, scalings, inits.

A network f(x) = (alpha/m) sum_i c_i sigma(a_i . x + b_i) is the empirical measure of its
m neurons w_i = (c_i, a_i, b_i), stored as one packed float array of shape (m, p) with
columns [c (k) | a (d) | b (0 or 1)] (theory §1).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..core.activations import Activation, get_activation
from ..core.layout import Layout
from .laws import BIAS_LAWS, INPUT_WEIGHT_LAWS, OUTPUT_INITS
from .laws import biases, input_weights, output_weights

__all__ = ["ALPHA_NAMES", "BIAS_LAWS", "INPUT_WEIGHT_LAWS", "OUTPUT_INITS", "Network",
           "check_network", "coupled_indices", "resolve_alpha"]


#: names of the alpha scalings (theory §1): name -> alpha as a function of m
ALPHA_NAMES = {"mean-field": lambda m: 1.0, "mf": lambda m: 1.0, "meanfield": lambda m: 1.0,
               "ntk": lambda m: float(np.sqrt(m)), "sum": lambda m: float(m)}


def resolve_alpha(alpha, m: int) -> float:
    """The output scale alpha of f = (alpha/m) sum_i phi(w_i) (theory §1 "Scalings").

    "mean-field" (also "mf", "meanfield") gives 1, "ntk" gives sqrt(m) (the standard
    parametrization), "sum" gives m (no 1/m: f = sum_i phi(w_i), the Chizat-Oyallon-Bach
    code, theory §6), a positive number is used as is.

    Examples:

        >>> import meanfield as mf
        >>> mf.resolve_alpha(2.0, m=100)
        2.0
        >>> mf.resolve_alpha("ntk", m=100) # alpha = sqrt(m)
        10.0
    """
    if isinstance(alpha, str):
        key = alpha.lower().replace("_", "-")
        if key not in ALPHA_NAMES:
            raise ValueError(f"unknown scaling {alpha!r}; use a positive number or one of "
                             f"{', '.join(ALPHA_NAMES)}")
        return ALPHA_NAMES[key](m)
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive finite number, got {alpha}")
    return alpha


def coupled_indices(M: int, m: int, symmetric: bool = False) -> np.ndarray:
    """Rows of an M-particle initialisation that seed an m-particle system (theory §11).

    Plain init: the first m rows. Symmetrised init (``Network.init(symmetric=True)`` stores
    [w_1..w_{M/2} | their c-negated copies]): the first m/2 rows and their partners
    M/2 .. M/2 + m/2 - 1, so the small system is itself symmetrised (f(w0) = 0)."""
    M, m = int(M), int(m)
    if not 1 <= m <= M:
        raise ValueError(f"need 1 <= m <= M, got m={m}, M={M}")
    if not symmetric:
        return np.arange(m)
    if m % 2 or M % 2:
        raise ValueError(f"a symmetric coupling needs even m and M, got m={m}, M={M}")
    half = np.arange(m // 2)
    return np.concatenate([half, M // 2 + half])


def check_network(net, d: int, k: int, what: str) -> None:
    """TypeError unless ``net`` is a Network, ValueError unless it has input dimension d
    and k outputs (``what`` names the other side: "teacher", "data")."""
    if not isinstance(net, Network):
        raise TypeError(f"expected a meanfield.Network, got {type(net).__name__}")
    if net.layout.d != d or net.layout.k != k:
        raise ValueError(f"network has d={net.layout.d}, k={net.layout.k} but the {what} "
                         f"has d={d}, k={k}")


class Network:
    """A two-layer network f(x) = (alpha/m) sum_i c_i sigma(a_i . x + b_i).

    With ``centered=True`` the network outputs f(w) - f(w0), where w0 are the particles
    it was built with (the centred objective of theory §1); :meth:`with_w` keeps w0.

    Examples:

        >>> import numpy as np, meanfield as mf
        >>> net = mf.Network.init(m=100, d=3, seed=0)
        >>> net
        Network(m=100, d=3, k=1, bias=False, activation='relu', alpha=1, centered=False,
                dtype=float64)
        >>> net.w.shape                  # one row per neuron: [c | a]
        (100, 4)
        >>> X = np.ones((2, 3))
        >>> bool(np.allclose(net(X), net.c.T @ np.maximum(net.a @ X.T, 0) / 100))
        True
    """

    def __init__(self, c, a, b=None, activation="relu", alpha=1.0, centered=False,
                 dtype=None, _w0=None):
        a = np.asarray(a)
        if a.ndim != 2:
            raise ValueError(f"a must have shape (m, d), got shape {a.shape}")
        m, d = a.shape
        if m == 0:
            raise ValueError("a network needs at least one neuron")
        c = np.asarray(c)
        if c.ndim == 1:
            c = c[:, None]
        if c.ndim != 2 or c.shape[0] != m:
            raise ValueError(f"c must have shape (m,) or (m, k) with m = {m}, got {c.shape}")
        if b is not None:
            b = np.asarray(b).reshape(-1)
            if b.shape[0] != m:
                raise ValueError(f"b must have shape (m,) with m = {m}, got {np.shape(b)}")
        if dtype is None:
            dtype = np.result_type(c, a, *(() if b is None else (b,)), np.float32)
            if dtype not in (np.float32, np.float64):
                dtype = np.float64
        self.layout = Layout(k=c.shape[1], d=d, bias=b is not None)
        self.w = np.ascontiguousarray(self.layout.pack(c, a, b), dtype=dtype)
        if not np.all(np.isfinite(self.w)):
            raise ValueError("network parameters contain NaN or Inf")
        self.activation: Activation = get_activation(activation)
        self.alpha = resolve_alpha(alpha, m)
        self.centered = bool(centered)
        self.w0 = (self.w.copy() if _w0 is None else _w0) if centered else None

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_packed(cls, w, layout: Layout, activation="relu", alpha=1.0, centered=False,
                    w0=None) -> "Network":
        """Build a network from a packed (m, p) array and its layout."""
        c, a, b = layout.unpack(np.asarray(w))
        return cls(c, a, b, activation=activation, alpha=alpha, centered=centered,
                   dtype=np.asarray(w).dtype, _w0=w0)

    @classmethod
    def from_arrays(cls, c, a, b=None, activation="relu", alpha=1.0, centered=False,
                    dtype=None) -> "Network":
        """A network with given weights: output weights c (m,) or (m, k), input weights
        a (m, d), biases b (m,) or None (arrays or nested lists), e.g. a teacher
        sum_i relu(v_i . x) with orthonormal v_i: ``from_arrays(np.ones(k), np.eye(k, d),
        alpha="sum")``.

        >>> Network.from_arrays([1.0, 1.0], [[1.0, 0.0], [0.0, 1.0]], alpha="sum").m
        2
        """
        return cls(np.asarray(c, dtype=float), np.asarray(a, dtype=float),
                   None if b is None else np.asarray(b, dtype=float), activation=activation,
                   alpha=alpha, centered=centered, dtype=dtype)

    @classmethod
    def from_npz(cls, path, activation="relu", alpha=1.0, centered=False,
                 dtype=None) -> "Network":
        """A network whose weights are the arrays ``c``, ``a`` and optionally ``b`` of an
        .npz file (as written by ``np.savez(path, c=..., a=..., b=...)``); ValueError
        naming the file when it cannot be read or lacks c or a."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: np.array(data[key]) for key in data.files}
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read weights from {path}: {err}") from None
        missing = [key for key in ("c", "a") if key not in arrays]
        if missing:
            raise ValueError(f"{path} has no array {missing[0]!r} (needs c, a and "
                             f"optionally b)")
        return cls.from_arrays(arrays["c"], arrays["a"], arrays.get("b"),
                               activation=activation, alpha=alpha, centered=centered,
                               dtype=dtype)

    def with_w(self, w) -> "Network":
        """The same network (layout, activation, alpha, centring reference) at particles w."""
        new = object.__new__(Network)
        new.layout, new.activation, new.alpha = self.layout, self.activation, self.alpha
        new.centered, new.w0 = self.centered, self.w0
        new.w = np.asarray(w)
        if new.w.shape != self.w.shape:
            raise ValueError(f"particles must have shape {self.w.shape}, got {new.w.shape}")
        return new

    @classmethod
    def init(cls, m: int, d: int, activation="relu", k: int = 1, bias: bool = False,
             tau: float | Mapping[str, float] = 1.0, symmetric: bool = False,
             sphere: bool = False, seed=0, alpha=1.0, centered: bool = False,
             output: str = "gaussian", dtype=np.float64, input: str | None = None,
             bias_law: str = "gaussian") -> "Network":
        """Random initialisation of m neurons (theory §1, §6).

        Each block is its law (:mod:`meanfield.model.laws`) times its scale:
        c ~ tau_c N(0, I_k) (``output``: "gaussian", "uniform" tau_c U[0,1], "sign"
        tau_c * +-1, "ones" tau_c, "zeros"), a by the law ``input`` times tau_a
        ("gaussian" N(0, I_d), the default; "xavier" N(0, I_d/d); "sphere" Unif(S^{d-1}),
        also ``sphere=True``; "orthonormal" orthonormal rows, m <= d), b ~ tau_b N(0, 1)
        (``bias_law="zeros"``: 0). ``tau`` is one scale for every block (the mean-field
        shorthand) or a mapping {"c": .., "a": .., "b": ..}; Safran & Shamir's student
        is ``init(m, d, input="xavier", output="ones", alpha="sum")``.
        ``symmetric=True`` draws m/2 neurons and appends copies with c negated, so that
        f(w0) = 0 identically (m must be even).

        >>> Network.init(4, 3, input="xavier", output="ones", alpha="sum").c.ravel().tolist()
        [1.0, 1.0, 1.0, 1.0]
        """
        m, d, k = (_count(value, name) for value, name in ((m, "m"), (d, "d"), (k, "k")))
        if symmetric and m % 2:
            raise ValueError(f"a symmetric initialisation needs an even m, got m={m}")
        scales = _block_scales(tau)
        law = input or ("sphere" if sphere else "gaussian")
        if sphere and law != "sphere":
            raise ValueError(f"sphere=True contradicts input={input!r}")
        rng = np.random.default_rng(seed)
        half = m // 2 if symmetric else m
        c = output_weights(output, half, k, rng)
        a = input_weights(law, half, d, rng)
        b = biases(bias_law, half, rng) if bias else None
        if symmetric:
            c = np.concatenate([c, -c])
            a = np.concatenate([a, a])
            b = None if b is None else np.concatenate([b, b])
        c, a = scales["c"] * c, scales["a"] * a
        b = None if b is None else scales["b"] * b
        return cls(c, a, b, activation=activation, alpha=resolve_alpha(alpha, m),
                   centered=centered, dtype=dtype)

    # -- views --------------------------------------------------------------------
    @property
    def m(self) -> int:
        return self.w.shape[0]

    @property
    def c(self):
        return self.w[:, self.layout.c]

    @property
    def a(self):
        return self.w[:, self.layout.a]

    @property
    def b(self):
        return self.w[:, -1] if self.layout.bias else None

    def signed_particles(self):
        """The neurons whose weighted sum is f, with their weights q_j.

        f = sum_j q_j c_j sigma(a_j . x + b_j): q_j = alpha/m for the current particles and,
        when centred, -alpha/m for the reference particles w0.
        """
        q = np.full(self.m, self.alpha / self.m, dtype=self.w.dtype)
        if not self.centered:
            return self.w, q
        return np.concatenate([self.w, self.w0]), np.concatenate([q, -q])

    # -- forward pass ---------------------------------------------------------------
    def __call__(self, X, backend="numpy") -> np.ndarray:
        """Outputs f(X) of shape (n, k)."""
        from ..backends import get_backend

        X = np.asarray(X, dtype=self.w.dtype)
        if X.ndim != 2 or X.shape[1] != self.layout.d:
            raise ValueError(f"X must have shape (n, {self.layout.d}), got {X.shape}")
        w, q = self.signed_particles()
        return get_backend(backend).forward(self.activation, self.layout, w, q, X)

    def __repr__(self) -> str:
        return (f"Network(m={self.m}, d={self.layout.d}, k={self.layout.k}, "
                f"bias={self.layout.bias}, activation={self.activation.name!r}, "
                f"alpha={self.alpha:g}, centered={self.centered}, dtype={self.w.dtype})")


def _count(value, name: str) -> int:
    """A positive integer argument (an integral float such as 4.0 is accepted); a
    ValueError naming the argument otherwise (m = 2.5 is not rounded down to 2)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        ok = value >= 1
    elif isinstance(value, (float, np.floating)):
        ok = bool(np.isfinite(value)) and float(value).is_integer() and value >= 1
    else:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _block_scales(tau) -> dict[str, float]:
    if isinstance(tau, Mapping):
        unknown = set(tau) - {"c", "a", "b"}
        if unknown:
            raise ValueError(f"tau blocks must be among c, a, b; got {sorted(unknown)}")
        scales = {key: float(tau.get(key, 1.0)) for key in ("c", "a", "b")}
    else:
        scales = dict.fromkeys(("c", "a", "b"), float(tau))
    for key, value in scales.items():
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"tau[{key}] must be a non-negative number, got {value}")
    return scales
