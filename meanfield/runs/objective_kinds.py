"""The objective kinds a run config can name (``objective.kind``), and how each is built.

This table is the one list of kinds: config validation, run building and the tables read
it. Each kind builds (objective, test objective or None) from the config, the exact
population of the config's teacher, and the data seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..objectives.datasets import DIGITS_D, digits_parity
from ..objectives.teacher_student import Empirical, GaussianPopulation, Online


@dataclass(frozen=True)
class ObjectiveKind:
    """``build(config, population, data_seed) -> (objective, test or None)``;
    ``fixed_data``: trains on a finite data set (any loss, a test set, a tangent model);
    ``d``: the input dimension the kind requires (None: any)."""

    build: Callable
    fixed_data: bool
    d: int | None = None


def _population(config, population: GaussianPopulation, data_seed):
    return population, None


def _online(config, population: GaussianPopulation, data_seed):
    t, o = config.teacher, config.objective
    return Online(population.teacher, batch=o.batch, noise=t.noise, inputs=o.inputs,
                  seed=data_seed, backend=config.backend), None


def _finite(config, data):
    o = config.objective
    if o.loss != "square":
        data = [(X, np.where(y >= 0, 1.0, -1.0)) for X, y in data]
    train = Empirical(*data[0], loss=o.loss, backend=config.backend)
    test = Empirical(*data[1], loss=o.loss, backend=config.backend) if o.n_test else None
    return train, test


def _empirical(config, population: GaussianPopulation, data_seed):
    rng = np.random.default_rng(data_seed)
    o = config.objective
    return _finite(config, [population.sample(n, rng) for n in (o.n_train, o.n_test)])


def _digits(config, population: GaussianPopulation, data_seed):
    o = config.objective
    return _finite(config, digits_parity(o.n_train, o.n_test, np.random.default_rng(data_seed)))


OBJECTIVE_KINDS = {
    "population": ObjectiveKind(_population, fixed_data=False),
    "empirical": ObjectiveKind(_empirical, fixed_data=True),
    "online": ObjectiveKind(_online, fixed_data=False),
    "digits": ObjectiveKind(_digits, fixed_data=True, d=DIGITS_D),
}
