"""Laziness diagnostics (meanfield.diagnostics)."""
import numpy as np
import pytest

from meanfield import diagnostics as dg
from meanfield.dynamics import euler
from meanfield.model import Network
from meanfield.ntk import tangent_kernel
from meanfield.objectives import Empirical
from meanfield.simulate import LinearSchedule, simulate


@pytest.fixture
def run():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = np.sign(X[:, 0]) * 2.0
    net0 = Network.init(16, 3, seed=2, alpha=1.0, centered=True, bias=True)
    traj = simulate(net0, Empirical(X, y, backend="numpy"), euler(0.05), 5.0,
                    record=LinearSchedule(6))
    return X, y, net0, traj


def test_diagnostics_start_at_identity_and_then_move(run):
    X, _, net0, traj = run
    diag = dg.diagnose(traj.snapshots, net0, X)
    assert diag["displacement"][0] == 0.0
    assert diag["kernel_change"][0] == 0.0
    assert diag["activation_stability"][0] == 1.0
    assert diag["kernel_change"][-1] > 0.05
    assert np.all(np.diff(diag["displacement"]) > 0)
    assert diag["kernel_change"][-1] > diag["kernel_change"][1]
    assert diag["activation_stability"][-1] < 1.0


def test_kernel_change_and_stability_by_hand(run):
    X, _, net0, traj = run
    net = traj.final
    K0, K1 = tangent_kernel(net0, X), tangent_kernel(net, X)
    assert dg.kernel_change(net, net0, X) == pytest.approx(
        np.linalg.norm(K1 - K0) / np.linalg.norm(K0))
    z0 = X @ net0.a.T + net0.b
    z1 = X @ net.a.T + net.b
    assert dg.activation_stability(net, net0, X) == pytest.approx(np.mean((z0 > 0) == (z1 > 0)))


def test_kappa_matches_brute_force_and_scales_like_one_over_alpha(run):
    X, y, _, _ = run
    nets = [Network.init(6, 3, seed=4, alpha=a, centered=True) for a in (1.0, 10.0)]
    kappas = [dg.laziness_kappa(net, X, y) for net in nets]
    assert kappas[1] == pytest.approx(kappas[0] / 10, rel=1e-6)
    net = nets[0]
    n = len(X)
    first = np.linalg.eigvalsh(tangent_kernel(net, X) / n)[-1]
    second = max(np.sqrt(np.linalg.eigvalsh((X * (X @ a > 0)[:, None]).T @ X / n)[-1])
                 for a in net.a)
    residual = np.sqrt(np.mean(y ** 2))
    assert kappas[0] == pytest.approx(residual * second / first, rel=1e-5)


def test_kappa_rejects_curved_activations(run):
    X, y, _, _ = run
    with pytest.raises(ValueError):
        dg.laziness_kappa(Network.init(4, 3, activation="erf"), X, y)


# ------------------------------------------------- experiments produce their summaries
def _diagnosed_run(tmp_path, alpha, tangent=True, activation="relu"):
    from meanfield.config import Config
    from meanfield.runs import run

    config = Config.from_dict({
        "d": 5, "t_end": 2.0, "backend": "numpy",
        "teacher": {"m": 3, "activation": activation},
        "student": {"m": 40, "activation": activation, "alpha": alpha, "centered": True},
        "objective": {"kind": "empirical", "n_train": 30, "n_test": 20},
        "integrator": {"name": "euler", "dt": 0.05}, "record": {"n": 6},
        "diagnostics": {"probe": 20, "tangent": tangent}})
    return run(config, tmp_path / f"{activation}{alpha}")


def test_runs_record_diagnostics_in_metrics(tmp_path):
    """diagnostics.probe makes every run write the diagnostics at each record into
    metrics.json; they equal the functions applied to the saved snapshots, kappa is the
    one of the initial network on the training data, and collect() reports them."""
    import json

    from meanfield.runs import build

    result = _diagnosed_run(tmp_path, 1.0)
    diag = json.loads((result.run_dir / "metrics.json").read_text())["diagnostics"]
    traj, problem = result.trajectory, build(result.config)
    assert len(diag["kernel_change"]) == len(traj.times) == len(diag["tangent_distance"])
    assert diag["displacement"][0] == 0 and diag["tangent_distance"][0] == 0
    X = problem.test.X[:20]
    assert diag["kernel_change"][-1] == pytest.approx(
        dg.kernel_change(traj.final, problem.student, X), rel=1e-12)
    assert diag["activation_stability"][-1] == dg.activation_stability(
        traj.final, problem.student, X)
    assert diag["kappa"] == pytest.approx(
        dg.laziness_kappa(problem.student, problem.objective.X, problem.objective.y))


def test_large_alpha_runs_stay_near_their_tangent_model(tmp_path):
    """The recorded distance to the tangent model shrinks like 1/alpha (lazy theorem; erf,
    where no activation pattern flips), the kernel change too, and kappa = O(1/alpha)
    exactly for centred relu networks (kappa is None for erf: sigma'' != 0)."""
    small, large = (json_diag(_diagnosed_run(tmp_path, a, activation="erf"))
                    for a in (10.0, 100.0))
    ratio = large["tangent_distance_rel"][-1] / small["tangent_distance_rel"][-1]
    assert 0.07 < ratio < 0.15 and small["kappa"] is None  # measured 0.108
    assert large["kernel_change"][-1] < 0.15 * small["kernel_change"][-1]
    small, large = (json_diag(_diagnosed_run(tmp_path, a, tangent=False))
                    for a in (1.0, 100.0))
    assert large["kappa"] == pytest.approx(small["kappa"] / 100, rel=1e-6)


def json_diag(result):
    import json

    return json.loads((result.run_dir / "metrics.json").read_text())["diagnostics"]


def test_collect_reports_end_of_run_diagnostics(tmp_path):
    """A sweep's results table gets kappa and the end-of-run diagnostics of each cell."""
    import json

    from meanfield.collect import _scalars

    metrics = json.loads((_diagnosed_run(tmp_path, 1.0).run_dir / "metrics.json").read_text())
    row = _scalars(metrics, "done")
    diag = metrics["diagnostics"]
    assert row["kappa"] == diag["kappa"] > 0
    assert row["final_kernel_change"] == diag["kernel_change"][-1] > 0
    assert row["final_tangent_distance_rel"] == diag["tangent_distance_rel"][-1]


def test_lazy_theorem_and_tangent_exit_fields():
    from meanfield import lazy_theorem as lt

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
    from meanfield.lazy_theorem import exit_time

    assert exit_time([0, 1, 10], [0, 0.01, 1.0], 0.1) == pytest.approx(np.sqrt(10))
    assert exit_time([0, 1], [0, 0.01], 0.1) == np.inf


def test_lazy_vs_scale_fields(tmp_path):
    from meanfield import lazy_scale as ls

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


def test_population_sgd_resumes_from_its_cell_cache(tmp_path):
    from meanfield import lazy_scale as ls
    from meanfield.store import read_json, write_json

    kwargs = dict(iterations=3, batch=10, d=5, m=4, workers=1, cache_dir=tmp_path / "sgd")
    first = ls.population_sgd([0.1, 1.0], [0, 1], **kwargs)
    files = sorted((tmp_path / "sgd").glob("*.json"))
    assert len(files) == 4
    direct = ls.population_sgd_cell(1.0, 1, iterations=3, batch=10, d=5, m=4)
    cached = [read_json(f) for f in files]
    assert any(c["tau"] == 1.0 and c["seed"] == 1 and c["loss"] == direct for c in cached)
    # a rerun reads the cells instead of recomputing: doctor one and see it come back
    write_json(files[0], {**cached[0], "loss": 0.0})
    again = ls.population_sgd([0.1, 1.0], [0, 1], **kwargs)
    i = [0.1, 1.0].index(cached[0]["tau"])
    means = [np.asarray(r["loss"]) * r["raw_max"] for r in (first, again)]
    assert means[1][i] == pytest.approx(means[0][i] - cached[0]["loss"] / 2, rel=1e-12)
    assert means[1][1 - i] == pytest.approx(means[0][1 - i], rel=1e-12)
    assert len(list((tmp_path / "sgd").glob("*.json"))) == 4


def test_geiger_fields_and_digits_config(tmp_path):
    from meanfield import geiger
    from meanfield.config import Config, ConfigError
    from meanfield.runs import build

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
