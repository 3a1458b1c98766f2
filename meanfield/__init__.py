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
    "ACTIVATIONS": "core.activations", "Activation": "core.activations",
    "get_activation": "core.activations", "hermite_activation": "core.activations",
    "bvn_cdf": "kernels.bivariate", "pair_kernel": "kernels.gaussian",
    "gaussian_derivatives": "kernels.hermite",
    "Layout": "core.layout", "Network": "model.network", "resolve_alpha": "model.network",
    "IndexTarget": "model.targets",
    "LOSSES": "core.losses",
    "Empirical": "objectives.teacher_student",
    "GaussianPopulation": "objectives.teacher_student",
    "Online": "objectives.teacher_student",
    "empirical_velocity": "objectives.teacher_student",
    "get_backend": "backends",
    "hessian": "objectives.hessian", "hvp": "objectives.hessian",
    "hessian_operator": "objectives.hessian",
    "Tangent": "objectives.tangent",
    # dynamics: integrators and trajectories
    "State": "dynamics.protocols",
    "Divergence": "dynamics.trajectory", "LinearSchedule": "dynamics.trajectory",
    "LogSchedule": "dynamics.trajectory", "Trajectory": "dynamics.trajectory",
    "simulate": "dynamics.trajectory", "simulate_many": "dynamics.trajectory",
    # analysis: critical points
    "refine": "analysis.critical", "classify": "analysis.critical",
    "neuron_overlaps": "analysis.overlaps", "overlap_measure": "analysis.overlaps",
    "overlaps_along": "analysis.overlaps",
    # runs: configs, run directories, sweeps
    "Config": "runs.config", "ConfigError": "runs.config",
    "Result": "runs.run", "load": "runs.run", "resume": "runs.run", "run": "runs.run",
    "sweep": "runs.sweep", "collect": "runs.collect",
}
#: public submodules, by their public name
_SUBMODULES = {"integrators": "dynamics.integrators", "linear": "analysis.linear_networks",
               "metrics": "analysis.distances", "ntk": "analysis.ntk",
               "diagnostics": "analysis.diagnostics", "datasets": "objectives.datasets"}

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{_SUBMODULES[name]}", __name__)
    else:
        raise AttributeError(f"module 'meanfield' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__


if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from .analysis import diagnostics, ntk  # noqa: F401
    from .analysis import distances as metrics  # noqa: F401
    from .analysis import linear_networks as linear  # noqa: F401
    from .analysis.critical import classify, refine  # noqa: F401
    from .analysis.overlaps import neuron_overlaps, overlap_measure, overlaps_along  # noqa: F401
    from .backends import get_backend  # noqa: F401
    from .core.activations import (ACTIVATIONS, Activation, get_activation,  # noqa: F401
                                   hermite_activation)
    from .core.layout import Layout  # noqa: F401
    from .core.losses import LOSSES  # noqa: F401
    from .dynamics import integrators  # noqa: F401
    from .dynamics.protocols import State  # noqa: F401
    from .dynamics.trajectory import Divergence, LinearSchedule, LogSchedule  # noqa: F401
    from .dynamics.trajectory import Trajectory, simulate, simulate_many  # noqa: F401
    from .kernels.bivariate import bvn_cdf  # noqa: F401
    from .kernels.gaussian import pair_kernel  # noqa: F401
    from .kernels.hermite import gaussian_derivatives  # noqa: F401
    from .model.network import Network, resolve_alpha  # noqa: F401
    from .objectives import datasets  # noqa: F401
    from .objectives.hessian import hessian, hessian_operator, hvp  # noqa: F401
    from .objectives.tangent import Tangent  # noqa: F401
    from .objectives.teacher_student import Empirical, GaussianPopulation  # noqa: F401
    from .objectives.teacher_student import Online, empirical_velocity  # noqa: F401
    from .runs.collect import collect  # noqa: F401
    from .runs.config import Config, ConfigError  # noqa: F401
    from .runs.run import Result, load, resume, run  # noqa: F401
    from .runs.sweep import sweep  # noqa: F401
