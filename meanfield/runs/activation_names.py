"""The activations a run config may name (``student.activation``, ``teacher.activation``).

One of :data:`meanfield.ACTIVATIONS`, or a polynomial ``"hermite[h_0, h_1, ...]"``
(:func:`meanfield.hermite_activation`, theory §13.1) with finite coefficients h_k of the
probabilists' Hermite polynomials; the name is kept as written (a TOML round trip returns
it unchanged) and read by :func:`meanfield.get_activation` wherever the run builds a
network.

Examples:

    >>> choices("tanh")[-1], choices("hermite[0, 0, 1]")[-1]
    ('hermite[h_0, h_1, ...]', 'hermite[0, 0, 1]')
    >>> import meanfield as mf
    >>> config = mf.Config.from_dict({"student": {"activation": "hermite[0.0, 0.0, 1.0]"}})
    >>> mf.Config.from_toml(config.to_toml()) == config
    True
"""
from __future__ import annotations

from ..core.activations import ACTIVATIONS, HERMITE_PREFIX, get_activation

#: how an error message spells the polynomial activations
POLYNOMIAL = HERMITE_PREFIX + "h_0, h_1, ...]"


def choices(value: object) -> tuple[str, ...]:
    """The accepted names for a field holding ``value``: every name of ACTIVATIONS, the
    pattern POLYNOMIAL, and ``value`` itself when it is a valid polynomial name (so that a
    membership test accepts it and an error message lists the names and the pattern)."""
    names = (*ACTIVATIONS, POLYNOMIAL)
    if isinstance(value, str) and value.startswith(HERMITE_PREFIX):
        try:
            get_activation(value)
        except ValueError:
            return names
        return (*names, value)
    return names


__all__ = ["POLYNOMIAL", "choices"]
