"""Pointwise losses l(f, y) and their derivatives dl/df (theory §1, §8).

``LOSSES`` is the one list of loss names: objectives, configs and the command line all
read it. Labels are real for the square loss and in {-1, +1} (k = 1) for the others.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from .activations import get_activation

LOSSES = ("square", "logistic", "hinge", "softhinge")


_softplus = get_activation("softplus").f  # log(1 + e^z), stable for large |z|


def check_loss(loss: str) -> str:
    """``loss`` if it names a loss of :data:`LOSSES`, else ValueError listing them."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    return loss


def loss_value(loss: str, f: np.ndarray, y: np.ndarray, beta: float = 20.0) -> np.ndarray:
    """Per-sample loss l(f, y) of shape (n,): 1/2|f - y|^2 (square), log(1 + e^{-yf})
    (logistic), max(0, 1 - yf) (hinge) or (1/beta) log(1 + e^{beta (1 - yf)}) (softhinge,
    theory §8)."""
    if loss == "square":
        return 0.5 * np.sum((f - y) ** 2, axis=1)
    margin = (y * f)[:, 0]
    if loss == "logistic":
        return _softplus(-margin)
    if loss == "hinge":
        return np.maximum(0.0, 1.0 - margin)
    return _softplus(beta * (1.0 - margin)) / beta


def loss_derivative(loss: str, f: np.ndarray, y: np.ndarray, beta: float = 20.0) -> np.ndarray:
    """dl/df of shape (n, k): f - y, -y e^{-yf}/(1 + e^{-yf}), -y 1{yf < 1} (hinge) or
    -y expit(beta (1 - yf)) (softhinge)."""
    if loss == "square":
        return f - y
    margin = y * f
    if loss == "logistic":
        return -y * expit(-margin)
    if loss == "hinge":
        return -y * (margin < 1.0)
    return -y * expit(beta * (1.0 - margin))


def loss_curvature(loss: str, f: np.ndarray, y: np.ndarray, beta: float = 20.0) -> np.ndarray:
    """d^2 l/df^2, shape (n, 1) (square: 1 for every output; hinge: 0 almost everywhere;
    logistic s(1 - s) with s = expit(-yf); softhinge beta s(1 - s) with
    s = expit(beta (1 - yf)))."""
    if loss == "square":
        return np.ones((len(f), 1))
    margin = y * f
    if loss == "logistic":
        s = expit(-margin)
        return s * (1.0 - s)
    if loss == "hinge":
        return np.zeros_like(f)
    s = expit(beta * (1.0 - margin))
    return beta * s * (1.0 - s)
