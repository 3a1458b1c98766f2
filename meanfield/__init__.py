"""meanfield: two-layer neural networks as clouds of interacting particles.

f(x) = (alpha/m) sum_i c_i sigma(a_i . x + b_i) is an empirical measure of m neurons;
gradient descent on it is a Wasserstein gradient flow (see THEORY.md).
"""
from .activations import ACTIVATIONS, Activation, get_activation
from .backends import get_backend
from .gaussian import bvn_cdf, pair_kernel
from .model import Layout, Network, resolve_alpha
from .objectives import Empirical, GaussianPopulation, Online, empirical_velocity

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "Activation", "Empirical", "GaussianPopulation", "Layout", "Network",
    "Online", "bvn_cdf", "empirical_velocity", "get_activation", "get_backend",
    "pair_kernel", "resolve_alpha",
]

# Simulations (dynamics, recording)
from . import dynamics as integrators  # noqa: E402
from . import linear  # noqa: E402
from .dynamics import State  # noqa: E402
from .simulate import Divergence, LinearSchedule, LogSchedule, Trajectory, simulate  # noqa: E402

__all__ += ["Divergence", "LinearSchedule", "LogSchedule", "State", "Trajectory",
            "integrators", "linear", "simulate"]

# Runs (configs, run directories)
from .config import Config, ConfigError  # noqa: E402
from .runs import Result, load, resume, run  # noqa: E402

__all__ += ["Config", "ConfigError", "Result", "load", "resume", "run"]

# Sweeps (Dask) and their tables
from .collect import collect  # noqa: E402
from .sweep import sweep  # noqa: E402

__all__ += ["collect", "sweep"]
