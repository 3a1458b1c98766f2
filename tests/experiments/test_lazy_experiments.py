"""The lazy-versus-feature experiments (lazy theorem, tangent exit, Chizat-Oyallon-Bach
scale sweep, population SGD, Geiger phase diagram) on small problems."""
import numpy as np
import pytest


def test_lazy_theorem_and_tangent_exit_fields():
    from meanfield.experiments import lazy_theorem as lt

    res = lt.lazy_theorem([10.0, 100.0], m=8, d=2, n_train=6, n_test=10, t_end=0.5, dt=0.05)
    assert res["alpha"] == [10.0, 100.0]
    for init in ("centred", "symmetrised"):
        assert len(res[init]["distance_to_tangent"]) == 2
        assert np.isfinite(res[init]["slope"])
    assert res["symmetrised"]["slope"] < res["centred"]["slope"] < -0.8
    ex = lt.tangent_exit([8, 16], [0.1, 0.3], d=2, n_train=6, n_test=10, steps=40)
    assert ex["t1"].shape == (2, 2) and ex["alpha"] == [0.1, 0.3]
    assert np.all(ex["t1"] > 0) and "exponent_alpha" in ex


def test_exit_time_interpolates():
    from meanfield.experiments.lazy_theorem import exit_time

    assert exit_time([0, 1, 10], [0, 0.01, 1.0], 0.1) == pytest.approx(np.sqrt(10))
    assert exit_time([0, 1], [0, 0.01], 0.1) == np.inf


def test_lazy_vs_scale_fields(tmp_path):
    from meanfield.experiments import lazy_vs_scale as ls

    res = ls.test_vs_scale(tmp_path / "cob", [0.01, 1.0], [0], iterations=20, d=5, n=20, m=4,
                           workers=1)
    assert res["tau"] == [0.01, 1.0]
    for key in ("test_loss_end", "test_loss_best"):
        assert len(res[key]["mean"]) == 2
        assert np.all(np.asarray(res[key]["mean"]) > 0)
    assert np.all(np.asarray(res["test_loss_best"]["mean"])
                  <= np.asarray(res["test_loss_end"]["mean"]))
    # relu is 2-homogeneous: Dh scales like tau, D^2h not at all, f(w0) = 0: kappa ~ tau^-2
    assert res["kappa"]["mean"][0] == pytest.approx(1e4 * res["kappa"]["mean"][1], rel=1e-6)
    assert res["kernel_change_end"]["mean"][0] > res["kernel_change_end"]["mean"][1]
    # a student that barely moves (tau = 0.01, 2 steps) keeps R = E[y^2]/2: their code's teacher
    # divided by the batch size gives batch^2 times less
    plain, quirk = (ls.population_sgd_cell(1e-2, 0, iterations=2, batch=10, d=5, m=4,
                                           teacher_divisor=div) for div in (1.0, 10.0))
    assert quirk == pytest.approx(plain / 100, rel=1e-3)


def test_population_sgd_resumes_from_its_cells(tmp_path):
    """Population SGD is one function cell per tau (meanfield.runs.sweep.map_cells), its
    seeds one ensemble: each seed's value is the direct single run's, and a rerun reads
    the cells instead of recomputing them (a doctored cell comes back doctored)."""
    from meanfield.experiments import lazy_vs_scale as ls
    from meanfield.runs import store

    kwargs = dict(iterations=3, batch=10, d=5, m=4, workers=1)
    first = ls.population_sgd([0.1, 1.0], [0, 1], tmp_path / "sgd", **kwargs)
    results = sorted((tmp_path / "sgd" / store.CELLS).glob(f"*/{store.RESULT}"))
    assert len(results) == 2
    tasks = [store.read_json(r.parent / store.TASK)["kwargs"] for r in results]
    values = [store.read_json(r)["value"] for r in results]
    direct = ls.population_sgd_cell(1.0, 1, iterations=3, batch=10, d=5, m=4)
    assert any(t["tau"] == 1.0 and t["seeds"] == [0, 1] and v[1] == direct
               for t, v in zip(tasks, values, strict=False))
    store.write_json(results[0], {"value": [0.0, values[0][1]]})
    again = ls.population_sgd([0.1, 1.0], [0, 1], tmp_path / "sgd", **kwargs)
    i = [0.1, 1.0].index(tasks[0]["tau"])
    means = [np.asarray(r["loss"]) * r["raw_max"] for r in (first, again)]
    assert means[1][i] == pytest.approx(means[0][i] - values[0][0] / 2, rel=1e-12)
    assert means[1][1 - i] == pytest.approx(means[0][1 - i], rel=1e-12)


def test_geiger_fields_and_digits_config(tmp_path):
    from meanfield.experiments import geiger_phase as geiger
    from meanfield.runs.config import Config, ConfigError
    from meanfield.runs.run import build

    res = geiger.phase_diagram(tmp_path / "g", "digits", [0.3, 100.0], [4, 8], [0],
                               n_train=20, n_test=20, t_end=5.0, probe=10, workers=1)
    assert res["m"] == [4, 8] and res["kernel_change"].shape == (2, 2)
    assert np.all(res["kernel_change"][:, 0] > res["kernel_change"][:, 1])
    assert len(res["alpha_star_geiger"]) == 2 and "exponent" in res
    # centred net, one seed: f(w0) = 0 and the same w0 at both alphas, so kappa ~ 1/alpha
    assert np.allclose(res["kappa"][:, 0], res["kappa"][:, 1] * 100.0 / 0.3, rtol=1e-6)
    problem = build(Config.from_dict(geiger.base_config("digits", 30, 10, 1.0)))
    assert problem.objective.X.shape == (30, 64)
    assert set(np.unique(problem.objective.y)) == {-1.0, 1.0}
    with pytest.raises(ConfigError):
        Config.from_dict({**geiger.base_config("digits", 30, 10, 1.0), "d": 10})
