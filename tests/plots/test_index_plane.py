"""The (u_1, u_2) picture of an index target, asserted from the matplotlib objects: each
neuron drawn at its hand-computed cosines with u_1 and u_2, start hollow and end filled,
by the sign of c, inside the unit disc; overlap curves on [0, 1] with the 1/2 line."""
import numpy as np

from meanfield.core.layout import Layout
from meanfield.plots.figures import subplots
from meanfield.plots.index_plane import draw_index_plane, draw_overlap_curves


def _rotation(d, seed=0):
    Q, R = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


def test_neurons_sit_at_their_cosines_with_u1_and_u2():
    Q = _rotation(4, seed=2)
    layout = Layout(k=1, d=4)
    # in the basis (u1, u2, e3, e4): n1 = 3u1 + 4u2 (c = 2), n2 = -u2 + e3 (c = -1)
    coords = np.array([[3.0, 4, 0, 0], [0, -1, 1, 0]])
    end = layout.pack(np.array([2.0, -1.0]), coords @ Q.T)
    start = layout.pack(np.array([2.0, -1.0]), np.array([[0, 0, 1.0, 0], [0, 0, 0, 1.0]]) @ Q.T)
    fig, ax = subplots()
    draw_index_plane(ax, np.stack([start, end]), layout, Q[:, :2], title="t")
    marks = {c.get_label(): c.get_offsets() for c in ax.collections}
    np.testing.assert_allclose(marks["end, $c_i > 0$"], [[0.6, 0.8]], atol=1e-12)
    np.testing.assert_allclose(marks["end, $c_i < 0$"], [[0.0, -2 ** -0.5]], atol=1e-12)
    np.testing.assert_allclose(marks["start, $c_i > 0$"], [[0.0, 0.0]], atol=1e-12)
    assert ax.get_xlim() == (-1.05, 1.05) and ax.get_aspect() == 1.0
    assert ax.get_xlabel() == "$u_1 \\cdot a_i / |a_i|$"
    circles = [line for line in ax.lines if "circle" in line.get_label()
               or "weak recovery" in line.get_label()]
    radii = sorted(float(np.hypot(*line.get_xydata()[0])) for line in circles)
    np.testing.assert_allclose(radii, [0.5, 1.0])


def test_overlap_curves_have_the_weak_recovery_line():
    fig, ax = subplots()
    draw_overlap_curves(ax, [1.0, 10.0, 100.0], {"$u_1$": [0.1, 0.4, 0.9]}, logx=True)
    assert ax.get_ylim() == (0.0, 1.02) and ax.get_xscale() == "log"
    assert [line.get_label() for line in ax.lines][0] == "$u_1$"
    assert any(np.allclose(line.get_ydata(), 0.5) for line in ax.lines[1:])
