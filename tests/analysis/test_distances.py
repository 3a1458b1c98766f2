"""Cloud distances (POT) and coupled diagnostics: meanfield.analysis.distances."""
import numpy as np
import pytest

from meanfield import metrics


@pytest.fixture
def cloud():
    return np.random.default_rng(0).standard_normal((60, 3))


def test_w2_to_itself_is_zero(cloud):
    assert metrics.w2(cloud, cloud) == pytest.approx(0.0, abs=1e-10)


def test_w2_to_translated_copy_is_translation_norm(cloud):
    shift = np.array([0.3, -1.2, 0.5])
    assert metrics.w2(cloud, cloud + shift) == pytest.approx(np.linalg.norm(shift), rel=1e-9)


def test_w2_in_one_dimension_is_sorted_matching():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(50), rng.exponential(size=50)
    expected = np.sqrt(np.mean((np.sort(x) - np.sort(y)) ** 2))
    assert metrics.w2(x, y) == pytest.approx(expected, rel=1e-9)


def test_sliced_is_below_w2(cloud):
    other = np.random.default_rng(2).standard_normal((60, 3)) * 1.5 + 0.4
    sliced = metrics.sliced_w2(cloud, other, n_projections=500)
    assert 0 < sliced <= metrics.w2(cloud, other)


@pytest.mark.parametrize("regs", [(0.5, 0.2),
                                  pytest.param((0.5, 0.1, 0.02), marks=pytest.mark.slow)])
def test_sinkhorn_divergence_tends_to_w2_as_reg_shrinks(regs):
    """The error to W2 falls as reg shrinks, to below 5% of W2 (2.6% at reg = 0.2, 0.2% at
    0.02); small regs need thousands of iterations (seconds), so they are a slow check."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((25, 2)), rng.standard_normal((25, 2)) + 1.0
    exact = metrics.w2(x, y)
    errors = [abs(metrics.sinkhorn_w2(x, y, reg=r, max_iter=20000, tol=1e-9) - exact)
              for r in regs]
    assert all(np.diff(errors) < 0)
    assert errors[-1] < 0.05 * exact


def test_baseline_is_positive_and_distances_report_it(cloud):
    ref = np.random.default_rng(4).standard_normal((200, 3))
    out = metrics.distance_with_baseline(cloud, ref, distance="w2")
    assert out["baseline"] > 0 and out["distance"] > 0
    assert out["baseline_sizes"] == [60, 140]
    assert metrics.baseline(ref, 50, 50, distance="sliced") > 0


def test_coupled_deviation_and_risk_gap():
    ref = np.zeros((10, 2))
    small = np.zeros((4, 2))
    small[:, 0] = 2.0
    assert metrics.coupled_deviation(small, ref) == pytest.approx(2.0)
    assert np.allclose(metrics.risk_gap([1.0, 0.5], [0.5, 1.0]), [0.5, 0.5])
    with pytest.raises(ValueError):
        metrics.coupled_deviation(np.zeros((12, 2)), ref)


def test_loglog_slope_recovers_power_laws_and_skips_bad_points():
    from meanfield.analysis.distances import loglog_slope
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    assert loglog_slope(x, 3.0 * x**-0.5) == pytest.approx(-0.5, abs=1e-12)
    assert loglog_slope(np.append(x, 32.0), np.append(x**2, 0.0)) == pytest.approx(2.0, abs=1e-12)
    assert np.isnan(loglog_slope([1.0, 2.0], [1.0, np.nan]))
