"""The 2-D m -> infinity study (meanfield.experiments.mean_field_limit_2d) on tiny problems."""
import json

import numpy as np
import pytest

from meanfield import metrics
from meanfield.backends import spectral
from meanfield.analysis.circle_distances import circle_measure
from meanfield.experiments import mean_field_limit_2d as limit
from meanfield.experiments import mean_field_limit_2d_figures as figures

TINY = limit.Setting(M=2048, ms=(8, 32, 128), seeds=(0, 1), times=(0.0, 0.1, 0.2),
                     ref_points=128, w2_max_m=32, kymograph_m=32, kymograph_records=4,
                     bins=36)


def test_teacher_is_the_illustrations_teacher():
    teacher = limit.teacher()
    angles = np.degrees(np.arctan2(teacher.a[:, 1], teacher.a[:, 0]))
    assert np.allclose(angles, [-112.714, -30.985, 98.427], atol=1e-3)
    assert np.array_equal(teacher.c[:, 0], [-1.0, 1.0, -1.0])
    assert np.allclose(np.linalg.norm(teacher.a, axis=1), 1.0) and teacher.alpha == 3.0
    try:
        from meanfield.experiments.demo import demo_config
        from meanfield.runs.run import build
    except ImportError:  # the run machinery is not importable in this checkout
        return
    assert np.array_equal(build(demo_config(0.1)).teacher.w, teacher.w)


def test_initialisation_is_balanced_and_coupled():
    ref = limit.reference_start(TINY, 0)
    assert ref.m == TINY.M and ref.alpha == 1.0
    assert np.allclose(np.abs(ref.c[:, 0]), TINY.tau)
    assert np.allclose(np.linalg.norm(ref.a, axis=1), TINY.tau)
    assert 0.4 < np.mean(ref.c > 0) < 0.6
    coupled = limit.system_start(TINY, 0, 32, coupled=True)
    assert np.array_equal(coupled.w, ref.w[:32])  # the reference's first particles
    independent = limit.system_start(TINY, 0, 32, coupled=False)
    assert independent.m == 32 and not np.any(np.all(np.isin(independent.w, ref.w), axis=1))
    assert not np.array_equal(limit.system_start(TINY, 1, 32, True).w, coupled.w)


def test_spectral_reference_equals_the_dense_path():
    """Over a short horizon the spectral reference is the O(M^2) Numba run to 1e-10, and
    the balanced neurons stay balanced up to the Euler drift (c^2 - |a|^2 is conserved
    by the flow)."""
    setting = limit.Setting(M=1024, ms=(8,), seeds=(0,), times=(0.0, 0.25, 0.5),
                            kymograph_m=8)
    start = limit.reference_start(setting, 3)
    fast = limit.evolve(start, setting, backend=spectral.Spectral(setting.tol))
    dense = limit.evolve(start, setting, backend="numba")
    scale = np.max(np.abs(dense["snapshots"][-1]))
    assert np.max(np.abs(fast["snapshots"] - dense["snapshots"])) < 1e-10 * scale
    assert np.allclose(fast["risk"], dense["risk"], rtol=1e-10, atol=0)
    assert fast["risk"][-1] < 0.95 * fast["risk"][0]  # the particles did move
    w = fast["snapshots"][-1]
    invariant = w[:, 0] ** 2 - np.sum(w[:, 1:] ** 2, axis=1)
    assert np.max(np.abs(invariant)) < 2e-2 * setting.tau**2  # Euler: dt^2 |v|^2 per step


def test_angle_density_integrates_to_the_masses():
    net = limit.system_start(TINY, 0, 128, coupled=False)
    pos, neg = limit.angle_density(net.w, 128, 36)
    theta, nu = circle_measure(net.w, np.full(128, 1 / 128))
    width = 2 * np.pi / 36
    assert np.sum(pos) * width == pytest.approx(np.sum(nu[nu > 0]), rel=1e-12)
    assert np.sum(neg) * width == pytest.approx(-np.sum(nu[nu < 0]), rel=1e-12)


def test_slopes_and_prefactors_of_a_synthetic_series():
    ms = np.array([16, 64, 256, 1024, 4096])
    rng = np.random.default_rng(0)
    series = 0.3 * ms[:, None] ** -0.5 * np.array([1.0, 2.0, 4.0])  # three times
    noisy = series * np.exp(0.05 * rng.standard_normal(series.shape))
    assert np.allclose(limit.slopes(ms, series), -0.5, atol=1e-12)
    assert np.allclose(limit.slopes(ms, noisy), -0.5, atol=0.05)
    assert np.allclose(limit.prefactors(ms, series), [0.3, 0.6, 1.2], rtol=1e-12)
    with_nan = series.copy()
    with_nan[-2:, 0] = np.nan  # e.g. W2 above w2_max_m
    assert limit.slopes(ms, with_nan)[0] == pytest.approx(-0.5)


def test_setting_is_checked():
    with pytest.raises(ValueError, match="multiple of dt"):
        limit.Setting(times=(0.0, 0.33))
    with pytest.raises(ValueError, match="M/2"):
        limit.Setting(M=100, ms=(16, 64), kymograph_m=16)
    with pytest.raises(ValueError, match="kymograph_m"):
        limit.Setting(ms=(16, 256))
    assert limit.Setting.from_dict(TINY.to_dict()) == TINY


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("limit2d")
    return limit.run_study(out, TINY, log=lambda *_: None)


@pytest.mark.slow  # the tiny study takes ~20 s to build
def test_tiny_study_measures_every_system(study):
    arrays = limit.measure(study)
    shape = (len(TINY.seeds), len(TINY.ms), len(TINY.times))
    for label in ("coupled", "independent"):
        for key in ("circle_w", "function_distance", "w2", "coupled_deviation"):
            assert arrays[label][key].shape == shape
    coupled, independent = arrays["coupled"], arrays["independent"]
    assert np.all(coupled["coupled_deviation"][:, :, 0] == 0)  # coupled start
    assert np.all(coupled["coupled_deviation"][:, :, 1:] > 0)
    assert np.all(np.isnan(independent["coupled_deviation"]))
    big = np.asarray(TINY.ms) > TINY.w2_max_m  # W2 only where the cost matrix is small
    assert np.all(np.isnan(coupled["w2"][:, big])) and np.all(coupled["w2"][:, ~big] > 0)
    for label in ("coupled", "independent"):
        for key in ("circle_w", "function_distance", "w2"):
            values, base = arrays[label][key], arrays[label][key + "_baseline"]
            assert np.all(np.isfinite(base) == np.isfinite(values))
            assert np.all(values[np.isfinite(values)] > 0)
    # at t = 0 a coupled system is an m-subsample of the reference, as the baseline is
    ratio = (coupled["function_distance"][:, :, 0].mean()
             / coupled["function_distance_baseline"][:, :, 0].mean())
    assert 0.3 < ratio < 3
    risk_gap = coupled["risk_gap"][:, :, 0]
    assert np.all(risk_gap >= 0)


@pytest.mark.slow  # the tiny study takes ~20 s to build
def test_tiny_study_summary(study, tmp_path):
    summary = limit.summary(study)
    for key in ("m", "M", "times", "slope_circle_w", "slope_function_distance",
                "slope_w2", "slope_coupled_deviation"):
        assert key in summary
    assert summary["m"] == list(TINY.ms) and summary["M"] == TINY.M
    assert summary["times"] == list(TINY.times)
    json.dumps(summary, allow_nan=False)  # NaN written as null
    coupled = summary["coupled"]
    assert len(coupled["function_distance"]) == len(TINY.ms)
    assert len(coupled["function_distance"][0]) == len(TINY.times)
    assert summary["slopes"]["coupled"]["coupled_deviation"][0] is None  # all zero at t = 0
    assert "coupled_deviation" not in summary["slopes"]["independent"]
    expected = metrics.loglog_slope(TINY.ms, limit.aggregate(study)["coupled"]
                                    ["function_distance_mean"][:, -1])
    assert summary["slope_function_distance"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow  # the tiny study takes ~20 s to build
def test_tiny_study_resumes_and_refuses_another_setting(study):
    """The study is function cells of the sweep machinery: a rerun keeps every cell."""
    from meanfield.runs import store

    out = study["out"]
    results = sorted((out / "systems" / store.CELLS).glob(f"*/{store.RESULT}"))
    assert len(results) == len(TINY.seeds) * len(TINY.ms) * 2
    before = [path.stat().st_mtime_ns for path in results]
    again = limit.run_study(out, TINY, log=lambda *_: None)
    assert [path.stat().st_mtime_ns for path in results] == before
    assert again["systems"][(0, 8, True)] == study["systems"][(0, 8, True)]
    with pytest.raises(ValueError, match="another setting"):
        limit.run_study(out, limit.Setting(**{**TINY.__dict__, "tau": 0.3}))
    fewer = limit.load_study(out, seeds=(1,))
    assert fewer["setting"].seeds == (1,) and (0, 8, True) not in fewer["systems"]


@pytest.mark.slow  # the tiny study takes ~20 s to build
def test_figures_build(study):
    for fig in (figures.kymograph_figure(study), figures.slopes_figure(study),
                figures.slopes_figure(study, "independent")):
        assert len(fig.axes) >= 6
