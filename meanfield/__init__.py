"""meanfield: two-layer neural networks as clouds of interacting particles.

f(x) = (alpha/m) sum_i c_i sigma(a_i . x + b_i) is an empirical measure of m neurons;
gradient descent on it is a Wasserstein gradient flow (docs/theory.md §1).

This module is the public face of the package: every name below is re-exported from the
module that defines it, and nothing is imported until it is first used, so
``import meanfield`` is cheap and loads none of the heavy dependencies (SciPy, Numba,
KeOps, POT, pandas, Dask, matplotlib).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> module (relative to this package) that defines it
_EXPORTS = {
    # core: neurons, kernels, losses, objectives, backends
    "ACTIVATIONS": "activations", "Activation": "activations",
    "get_activation": "activations",
    "bvn_cdf": "bivariate", "pair_kernel": "gaussian",
    "Layout": "layout", "Network": "model", "resolve_alpha": "model",
    "LOSSES": "losses",
    "Empirical": "objectives", "GaussianPopulation": "objectives", "Online": "objectives",
    "empirical_velocity": "objectives",
    "get_backend": "backends",
    "hessian": "hessian", "hvp": "hessian", "hessian_operator": "hessian",
    # dynamics: integrators and trajectories
    "State": "dynamics",
    "Divergence": "trajectory", "LinearSchedule": "trajectory", "LogSchedule": "trajectory",
    "Trajectory": "trajectory", "simulate": "trajectory", "simulate_many": "trajectory",
    "Tangent": "tangent",
    # analysis: critical points
    "refine": "critical", "classify": "critical",
    # runs: configs, run directories, sweeps
    "Config": "runs.config", "ConfigError": "runs.config",
    "Result": "runs.run", "load": "runs.run", "resume": "runs.run", "run": "runs.run",
    "sweep": "runs.sweep", "collect": "runs.collect",
}
#: public submodules under another name or by their own
_SUBMODULES = {"integrators": "dynamics", "linear": "linear", "metrics": "metrics",
               "ntk": "ntk", "diagnostics": "diagnostics", "datasets": "datasets"}

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{_SUBMODULES[name]}", __name__)
        if name == "integrators":  # the ODE integrators register themselves ("ode")
            importlib.import_module(".ode", __name__)
    else:
        raise AttributeError(f"module 'meanfield' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__


if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from . import datasets, diagnostics, linear, metrics, ntk  # noqa: F401
    from . import dynamics as integrators  # noqa: F401
    from .activations import ACTIVATIONS, Activation, get_activation  # noqa: F401
    from .backends import get_backend  # noqa: F401
    from .dynamics import State  # noqa: F401
    from .critical import classify, refine  # noqa: F401
    from .bivariate import bvn_cdf  # noqa: F401
    from .gaussian import pair_kernel  # noqa: F401
    from .hessian import hessian, hessian_operator, hvp  # noqa: F401
    from .losses import LOSSES  # noqa: F401
    from .layout import Layout  # noqa: F401
    from .model import Network, resolve_alpha  # noqa: F401
    from .objectives import Empirical, GaussianPopulation, Online, empirical_velocity  # noqa: F401
    from .runs.collect import collect  # noqa: F401
    from .runs.config import Config, ConfigError  # noqa: F401
    from .runs.run import Result, load, resume, run  # noqa: F401
    from .runs.sweep import sweep  # noqa: F401
    from .trajectory import Divergence, LinearSchedule, LogSchedule, Trajectory, simulate  # noqa: F401
    from .trajectory import simulate_many  # noqa: F401
    from .tangent import Tangent  # noqa: F401
