"""Index learning: Hermite coefficients and escape times against closed forms, the
exponent fit on synthetic data with a known exponent, and a quick cell of online SGD and
of the population flow against the spherical ODE."""
import math

import numpy as np
import pytest

from meanfield.experiments import index_learning as il

PHI0 = 1 / math.sqrt(2 * math.pi)
ERF3 = -(2 / math.sqrt(math.pi)) * 2 / (3 * math.sqrt(3)) / 6   # E[erf'''(z)] / 3!


@pytest.mark.parametrize("activation, k, exact", [
    ("relu", 1, 0.5), ("relu", 2, PHI0 / 2), ("relu", 3, 0.0), ("relu", 4, -PHI0 / 24),
    ("erf", 1, 2 / math.sqrt(3 * math.pi)), ("erf", 2, 0.0), ("erf", 3, ERF3)])
def test_hermite_coefficients_of_the_students_match_stein(activation, k, exact):
    """sigma_k = E[sigma^(k)(z)] / k!: relu's from phi(0) and phi''(0) = -phi(0), erf's
    from E[e^(-z^2)] = 3^(-1/2) and E[z^2 e^(-z^2)] = 3^(-3/2)."""
    assert il.hermite_coefficient(activation, k) == pytest.approx(exact, abs=1e-9)


@pytest.mark.parametrize("m0", [0.01, 0.1, 0.3])
def test_escape_times_match_the_antiderivatives(m0):
    """k = 1: atanh; k = 2: ln m - ln(1 - m^2)/2; k = 3: -1/m + atanh m."""
    def between(f):
        return f(0.5) - f(m0)
    exact = {1: between(math.atanh),
             2: between(lambda m: math.log(m) - 0.5 * math.log(1 - m * m)),
             3: between(lambda m: -1 / m + math.atanh(m))}
    for k, value in exact.items():
        assert il.escape_time(k, m0) * il.rate(k) == pytest.approx(value, rel=1e-8)
    assert il.escape_time(3, 0.7) == 0.0


def test_fit_recovers_a_known_exponent_and_its_interval_covers_it():
    rng = np.random.default_rng(5)
    ds = [16, 32, 64, 128, 256]
    covered = 0
    for trial in range(20):
        samples = [3.0 * d ** 2.0 * rng.lognormal(0.0, 0.5, 16) for d in ds]
        fit = il.fit_exponent(ds, samples, n_boot=300, seed=trial)
        covered += fit["low"] <= 2.0 <= fit["high"]
        assert abs(fit["exponent"] - 2.0) < 0.3
    assert covered >= 15            # a 95% interval: 19 of 20 expected, 15 is 4+ sigma away
    # runs that never recovered count above every finite one; an all-censored d is left out
    # and a start already at weak recovery counts 0 samples; a d whose median is 0 or inf
    # is left out, and resamples with such a median are redrawn
    samples = [np.array([1.0, 2.0, math.inf]) * d for d in ds[:3]] + [[math.inf] * 3]
    samples[0] = np.array([0.0, 2.0 * 16, 3.0 * 16, math.inf])
    fit = il.fit_exponent(ds[:4] + [256], samples + [[0.0, 0.0, 1.0]], n_boot=50)
    assert fit["left_out"] == [128.0, 256.0] and np.isfinite([fit["low"], fit["high"]]).all()
    with pytest.raises(ValueError, match="samples"):
        il.fit_exponent([16, 32], [[math.inf], [math.inf]])


def test_law_exponents():
    assert il.law_exponent(1, [16, 256]) == pytest.approx(1.0)
    assert il.law_exponent(3, [16, 256]) == pytest.approx(2.0)
    # d log d: 1 + log(log 256 / log 16) / log 16 = 1.25 between 16 and 256
    assert il.law_exponent(2, [16, 256]) == pytest.approx(1.25)


def test_quick_sgd_cell_follows_the_population_ode_at_information_exponent_one():
    """k* = 1, d = 16: the samples to overlap 1/2 of each seed are T(|m0|)/eta up to the
    SGD noise and the time step (measured within 25% on these seeds; asserted within a
    factor 1.6), and the batch is dtau / eta."""
    cell = il.sgd_cell(1, 16, seeds=[0, 1, 2, 3])
    assert cell["batch"] == round(il.DTAU / il.learning_rate(1, 16))
    ratio = np.asarray(cell["samples"]) / np.asarray(cell["predicted"])
    assert np.all((ratio > 1 / 1.6) & (ratio < 1.6)), ratio


def test_population_flow_escapes_when_the_spherical_ode_says():
    """The exact population flow (eps = 1e-3, Euler at eps dt = 0.01) from overlap
    d^(-1/2) reaches 1/2 within 5% of the ODE's T(m0) (measured: 1-3%)."""
    out = il.population_escape(2, 16)
    assert out["escape_time"] == pytest.approx(out["predicted"], rel=0.05)


def test_crossing_interpolates_and_says_never():
    assert il.crossing(np.array([0.2, 0.4, 0.6]), np.array([0.0, 1.0, 2.0])) == \
        pytest.approx(1.5)
    assert il.crossing(np.array([0.2, 0.3]), np.array([0.0, 1.0])) == math.inf
