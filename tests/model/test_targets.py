"""IndexTarget (theory §13.1): moments against Monte Carlo, the information exponent and the
leap of known examples, validation."""
import math

import numpy as np
import pytest

import meanfield as mf


@pytest.mark.parametrize("hermite,exponent", [
    ({1: 1.0}, 1), ({2: 1.0, 4: 0.5}, 2), ({3: 1.0}, 3), ({0: 2.0, 4: 1.0}, 4),
    ({0: 1.0}, 0)])
def test_information_exponent_of_single_index_targets(hermite, exponent):
    assert mf.IndexTarget(np.eye(4)[:, :1], hermite).information_exponent == exponent


@pytest.mark.parametrize("hermite,leap", [
    ({(1, 0, 0): 1, (1, 1, 0): 1, (1, 1, 1): 1}, 1),     # the staircase (Abbe et al. 2023)
    ({(1, 1, 1): 1}, 3),                                 # x1 x2 x3: all three at once
    ({(1, 0, 0): 1, (1, 1, 1): 1}, 2),
    ({(2, 0, 0): 1, (2, 2, 0): 1, (0, 0, 1): 1}, 2),
    ({(0, 0, 3): 1, (1, 0, 3): 1}, 3),
    ({(1, 1, 0): 1, (0, 1, 1): 1}, 2)])
def test_leap_of_known_multi_index_targets(hermite, leap):
    assert mf.IndexTarget(np.eye(5)[:, :3], hermite).leap == leap


def test_moments_match_monte_carlo():
    target = mf.IndexTarget.random(6, {(0, 0): 0.5, (2, 1): 1.0, (0, 3): -0.3}, r=2, seed=2,
                                   noise=0.2)
    X, y = target.sample(400_000, rng=1)
    assert target.second_moment == pytest.approx(0.25 + 2 + 0.09 * 6 + 0.04)
    for value, samples in ((target.mean, y), (target.second_moment, y**2)):
        assert abs(samples.mean() - value) <= 4 * samples.std() / math.sqrt(len(samples))


def test_bad_targets_raise_naming_the_argument():
    with pytest.raises(ValueError, match="orthonormal"):
        mf.IndexTarget(np.ones((3, 2)), {(1, 0): 1})
    with pytest.raises(ValueError, match="hermite"):
        mf.IndexTarget(np.eye(3)[:, :2], {(1,): 1})
    with pytest.raises(ValueError, match="noise"):
        mf.IndexTarget(np.eye(3)[:, :1], {1: 1}, noise=-1)
