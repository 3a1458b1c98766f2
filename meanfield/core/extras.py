"""Optional dependencies: import one, or say in one line which extra installs it.

The core (NumPy, SciPy, Numba, KeOps, POT, matplotlib) is always installed; a few paths
need more (docs/architecture.md "Dependencies"): ``pip install "meanfield[sweeps]"`` (Dask
and pandas: sweeps and their tables), ``[spectral]`` (FINUFFT: the 2-D spectral backend),
``[data]`` (scikit-learn: the digits data set).
"""
from __future__ import annotations

import importlib
from types import ModuleType

#: extra -> what it is for
EXTRAS = {"sweeps": "sweeps and their tables", "spectral": "the spectral backend",
          "data": "the digits data set"}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, extra: str) -> ModuleType:
    """The module ``module``, or MissingExtra naming ``pip install "meanfield[extra]"``.

    Examples:

        >>> require("math", "sweeps").sqrt(4.0)
        2.0
    """
    if extra not in EXTRAS:
        raise ValueError(f"extra must be one of {', '.join(EXTRAS)}, got {extra!r}")
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{EXTRAS[extra]} need {module.split('.')[0]}, which is not "
                           f'installed: pip install "meanfield[{extra}]"') from None
