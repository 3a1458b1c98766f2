"""Two-layer linear networks (theory §4, §9): GD through the particle machinery,
its exact d x d reduction, the self-consistent dynamics and the Saxe solution."""
import numpy as np
import pytest

from meanfield import GaussianPopulation, linear


def _frames(d, r, seed):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((d, r)))[0]
    V = np.linalg.qr(rng.standard_normal((d, r)))[0]
    return U, V


def _weights(net):
    """(W1, W2) of a linear network with alpha = m."""
    return net.a.copy(), net.c.T.copy()


def test_task_scales_and_teacher_risk():
    task = linear.make_task(200, k=5, seed=3)
    sv = np.linalg.svd(task.A_star, compute_uv=False)
    assert np.sum(sv > 1e-8 * sv[0]) == 5
    assert abs(np.mean(task.A_star ** 2) - 1.0) < 0.25        # entries of variance ~1
    assert 0.5 < np.median(sv[:5]) / (200 / np.sqrt(5)) < 1.6  # sv ~ d/sqrt(k)
    assert abs(np.std(task.E) - 1.0) < 0.02
    net = linear.init_network(6, 0.3, 40, seed=1)
    target = np.random.default_rng(2).standard_normal((6, 6))
    risk = GaussianPopulation(linear.teacher(target)).risk(net)
    assert risk == pytest.approx(0.5 * np.sum((linear.matrix(net) - target) ** 2), rel=1e-12)


def test_particle_gd_equals_matrix_gd_and_gram():
    d, w, eta, steps = 7, 300, 0.004, 40
    target = np.random.default_rng(0).standard_normal((d, d)) * 3
    net = linear.init_network(d, 0.02, w, seed=5)
    W1, W2 = _weights(net)
    particles = linear.ParticleGD(net, target, eta)
    gram = linear.GramGD.from_blocks(linear.neuron_blocks(d, 0.02, w, seed=5), target, eta)
    for _ in range(steps):
        G = W2 @ W1 - target
        W1, W2 = W1 - eta * W2.T @ G, W2 - eta * G @ W1.T
        particles.step()
        gram.step()
    A = W2 @ W1
    scale = np.abs(A).max()
    assert np.abs(A - target).max() < 0.5 * np.abs(target).max()   # it did move
    assert np.abs(particles.matrix() - A).max() <= 1e-12 * scale
    assert np.abs(gram.matrix() - A).max() <= 1e-12 * scale
    assert np.abs(gram.P - W1.T @ W1).max() <= 1e-12 * np.abs(gram.P).max()
    assert np.abs(gram.Q - W2 @ W2.T).max() <= 1e-12 * np.abs(gram.Q).max()


def test_gram_paper_order_equals_authors_update():
    """The authors' code: W1 first, then W2 with the new W1 and the old residual."""
    d, w, eta = 6, 200, 0.01
    target = np.random.default_rng(1).standard_normal((d, d)) * 2
    W1, W2 = _weights(linear.init_network(d, 0.05, w, seed=2))
    gram = linear.GramGD.from_blocks(linear.neuron_blocks(d, 0.05, w, seed=2), target, eta,
                                     order="paper")
    simultaneous = linear.GramGD.from_blocks(linear.neuron_blocks(d, 0.05, w, seed=2),
                                             target, eta)
    for _ in range(30):
        G = W2 @ W1 - target
        W1 = W1 - eta * W2.T @ G
        W2 = W2 - eta * G @ W1.T
        gram.step()
        simultaneous.step()
    A = W2 @ W1
    assert np.abs(gram.matrix() - A).max() <= 1e-12 * np.abs(A).max()
    assert np.abs(simultaneous.matrix() - A).max() > 1e-6 * np.abs(A).max()


def test_gd_from_balanced_small_init_matches_saxe():
    """Particle GD (Euler, dt = eta m) from a balanced aligned start against the closed
    form u(t) = s e^{2st} / (e^{2st} - 1 + s/u0), t = eta x steps, to 1e-3 relative."""
    U, V = _frames(4, 3, seed=0)
    s, u0, eta = np.array([1.5, 1.0, 0.6]), np.full(3, 0.05), 4e-4
    gd = linear.ParticleGD(linear.balanced_aligned(U, V, u0, w=6, seed=1), (U * s) @ V.T, eta)
    worst = 0.0
    for i in range(1, 20_001):
        gd.step()
        if i % 100 == 0:
            sv = np.linalg.svd(gd.matrix(), compute_uv=False)[:3]
            exact = linear.saxe(s, u0, i * eta)
            worst = max(worst, float(np.max(np.abs(sv - exact) / exact)))
    assert exact[-1] > 0.99 * s[-1]          # every mode went through its sigmoid
    assert worst <= 1e-3


def test_self_consistent_lazy_limit():
    """s = sigma^2 w >> ||A||: dA/dt = -2 s G (the NTK dynamics of a linear net)."""
    rng = np.random.default_rng(4)
    A, target = rng.standard_normal((2, 5, 5))
    for s in (1e2, 1e4):
        v = linear.sc_velocity(A, target, s)
        lazy = -2 * s * (A - target)
        rel = np.linalg.norm(v - lazy) / np.linalg.norm(lazy)
        assert rel < 2 * np.linalg.norm(A, 2) ** 2 / s ** 2 + 1e-12
    # the trajectory: A(t) = T + (A0 - T) e^{-2 s t}
    s, eta = 1e3, 1e-6
    sc = linear.SelfConsistent(0.01 * A, target, s, eta)
    for _ in range(500):
        sc.step()
    exact = target + (0.01 * A - target) * np.exp(-2 * s * 500 * eta)
    assert np.linalg.norm(sc.matrix() - exact) / np.linalg.norm(exact) < 2e-3


def test_self_consistent_balanced_limit():
    """sigma -> 0: dA/dt = -[(AA^T)^{1/2} G + G (A^T A)^{1/2}]; an aligned mode follows
    ds/dt = 2 s (s* - s) (Saxe with tau = 1), and balanced GD follows the same flow."""
    U, V = _frames(5, 3, seed=7)
    s_star, u = np.array([2.0, 1.0, 0.5]), np.array([0.3, 0.8, 0.1])
    v = linear.sc_velocity((U * u) @ V.T, (U * s_star) @ V.T, 0.0)
    assert np.allclose(v, (U * (2 * u * (s_star - u))) @ V.T, atol=1e-12)
    # trajectories: SC with threshold 1e-6 vs balanced (non-aligned-to-target) GD
    target = np.random.default_rng(8).standard_normal((5, 5))
    U0, V0 = _frames(5, 5, seed=9)
    eta = 2e-4
    gd = linear.ParticleGD(linear.balanced_aligned(U0, V0, np.full(5, 0.2), w=8, seed=3),
                           target, eta)
    sc = linear.SelfConsistent(gd.matrix(), target, 1e-6, eta)
    worst = 0.0
    for _ in range(5000):
        gd.step()
        sc.step()
        worst = max(worst, np.linalg.norm(gd.matrix() - sc.matrix())
                    / np.linalg.norm(gd.matrix()))
    assert np.linalg.norm(gd.matrix() - target) < 0.5 * np.linalg.norm(target)
    assert worst < 2e-3


def test_errors_and_ranks():
    task = linear.make_task(20, k=3, seed=1)
    assert linear.errors(task.A_star, task) == pytest.approx((np.mean(task.E ** 2), 0.0))
    sv = np.array([10.0, 5.0, 2.1, 1.9, 0.0])
    assert linear.numerical_rank(sv) == 3
    assert linear.stable_rank(sv) == pytest.approx((100 + 25 + 4.41 + 3.61) / 100)
