"""Physics unit tests of the quantized-conductance device: conduction and circuit.

Oracles are independent of the implementation: the numerical Landauer integral, the
analytic limits of the Miranda–Suñé formula, a root finder from scipy, and Ohm's law for a
series resistance.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from analysis.constants import G0
from sim_backend.qc_device import QCDevice
from sim_backend.qc_kernel import operating_point
from sim_backend.qc_params import QCParams
from sim_backend.qpc import (
    landauer_current_numeric,
    qpc_current,
    qpc_differential_conductance,
    zero_bias_transmission,
)
from tests.support.qc_params import NO_REARRANGE


@pytest.mark.parametrize("alpha", [2.0, 4.0, 6.0])
@pytest.mark.parametrize("beta", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("phi", [-1.0, -0.2, 0.0, 0.3, 1.0])
@pytest.mark.parametrize("v", [0.01, 0.1, 0.5, 1.5, -0.7])
def test_closed_form_equals_numerical_landauer_integral(alpha, beta, phi, v):
    exact = landauer_current_numeric(v, phi, alpha, beta)
    closed = float(qpc_current(v, phi, alpha, beta))
    assert closed == pytest.approx(exact, rel=1e-9, abs=1e-18)


def test_half_open_channel_phi_zero_gives_half_g0():
    # linear response of one channel with its barrier at the Fermi level, any shape
    for alpha in (1.0, 4.0, 10.0):
        assert float(qpc_differential_conductance(0.0, 0.0, alpha)) == pytest.approx(0.5 * G0,
                                                                                   rel=1e-12)
        assert float(qpc_current(1e-6, 0.0, alpha)) / 1e-6 == pytest.approx(0.5 * G0, rel=1e-6)
        assert float(zero_bias_transmission(0.0, alpha)) == pytest.approx(0.5, rel=1e-15)


def test_open_and_closed_channel_limits():
    # phi << 0: an open channel is ohmic with G0; phi >> 0: the tunnelling sinh law
    v = np.array([0.05, 0.2, 1.0])
    assert qpc_current(v, -5.0, 4.0) == pytest.approx(G0 * v, rel=1e-8)
    phi, a = 2.0, 4.0
    tunnelling = (2 * G0 / a) * np.exp(-a * phi) * np.sinh(a * v / 2)
    assert qpc_current(v, phi, a) == pytest.approx(tunnelling, rel=0.05)


def test_derivative_matches_finite_difference():
    v = np.linspace(-1.5, 1.5, 31)
    for phi in (-0.5, 0.0, 0.7):
        h = 1e-6
        fd = (qpc_current(v + h, phi, 4.0, 0.4) - qpc_current(v - h, phi, 4.0, 0.4)) / (2 * h)
        assert qpc_differential_conductance(v, phi, 4.0, 0.4) == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("n", [1, 3, 10, 20])
def test_fully_open_channels_give_n_g0_less_the_series_drop(n):
    p = QCParams(rtn_traps=0, tau_sigma=0.0, phi_gap=(4.0, 4.0), **NO_REARRANGE)
    dev = QCDevice(seed=0, params=p, spread=False, n_channels=n)
    res = dev.drive([1e-3], [0.01], [1.0])
    g = res.i[0] / res.v[0]
    expected = 1.0 / (1.0 / (n * G0) + p.r_series)
    assert g == pytest.approx(expected, rel=1e-6)
    # the constriction alone is exactly n G0: remove the series drop
    assert 1.0 / (1.0 / g - p.r_series) / G0 == pytest.approx(n, rel=1e-6)
    assert res.n_channels[0] == n and res.partial[0] < 1e-6


def test_half_integer_state_reads_n_plus_half():
    p = QCParams(rtn_traps=0, tau_sigma=0.0, phi_gap=(4.0, 4.0), **NO_REARRANGE,
                 phi_half_sigma=0.0)
    dev = QCDevice(seed=0, params=p, spread=False, n_channels=4, half_open=True)
    res = dev.drive([1e-3], [0.001], [1.0])
    g_constriction = 1.0 / (res.v[0] / res.i[0] - p.r_series) / G0
    assert g_constriction == pytest.approx(4.5, rel=1e-5)
    assert res.partial[0] == pytest.approx(0.5, abs=1e-12)
    assert res.g_true_g0[0] == pytest.approx(4.5, abs=1e-12)


def _solve(v, lim, r, g_open, phi):
    """The compiled circuit solve of every element: (x, i, clamped) as arrays."""
    out = [operating_point(float(v[k]), float(lim[k]), r, float(g_open[k]), float(phi[k]),
                           4.0, 0.5) for k in range(v.size)]
    x, i, clamp = (np.array(col) for col in zip(*out, strict=True))
    return x, i, clamp


def test_circuit_solution_matches_scipy_root_finder():
    rng = np.random.default_rng(7)
    m = 200
    v = rng.uniform(-3, 3, m)
    g_open = rng.uniform(0, 40, m)
    phi = rng.uniform(-1, 1.5, m)
    r = 80.0
    x, i, clamp = _solve(v, np.full(m, np.inf), r, g_open, phi)
    assert not clamp.any()
    for k in range(0, m, 7):
        def f(x, k=k):
            return x + r * G0 * (g_open[k] * x + float(qpc_current(x, phi[k], 4.0)) / G0) - v[k]

        root = brentq(f, min(0.0, v[k]), max(0.0, v[k]), xtol=1e-15)
        assert x[k] == pytest.approx(root, rel=1e-9, abs=1e-12)
    # Kirchhoff: the source voltage is the constriction's plus the drop on r
    assert v == pytest.approx(x + r * i, rel=1e-9, abs=1e-12)


def test_circuit_with_an_asymmetric_drop_matches_scipy_root_finder():
    # beta != 1/2: the negative branch is solved as the positive one with 1 - beta
    rng = np.random.default_rng(8)
    for v, g_open, phi in zip(rng.uniform(-3, 3, 30), rng.uniform(0, 20, 30),
                              rng.uniform(-1, 1.5, 30), strict=True):
        x, i, _ = operating_point(v, np.inf, 50.0, g_open, phi, 4.0, 0.3)

        def f(x, g_open=g_open, phi=phi, v=v):
            return x + 50.0 * (g_open * G0 * x + float(qpc_current(x, phi, 4.0, 0.3))) - v

        assert x == pytest.approx(brentq(f, min(0.0, v), max(0.0, v), xtol=1e-15),
                                  rel=1e-9, abs=1e-12)


def test_source_clamp_limits_current_and_lowers_the_voltage():
    v = np.linspace(0.1, 3.0, 50)
    lim = np.full(50, 1e-3)
    x, i, clamp = _solve(v, lim, 30.0, np.full(50, 10.0), np.full(50, 1.0))
    assert np.all(np.abs(i) <= lim * (1 + 1e-9))
    assert clamp.any() and not clamp.all()
    assert np.allclose(i[clamp], 1e-3, rtol=1e-9)
    # the clamped constriction voltage carries the limit through the closed-form current
    x_c = x[clamp]
    i_at_x = 10.0 * G0 * x_c + qpc_current(x_c, 1.0, 4.0, 0.5)
    assert i_at_x == pytest.approx(np.full(x_c.size, 1e-3), rel=1e-9)
    assert np.all(x_c + 30.0 * i[clamp] < v[clamp])


def test_diffusive_channels_above_the_ballistic_limit_are_not_quantized():
    p = QCParams(rtn_traps=0, **NO_REARRANGE)
    dev = QCDevice(seed=3, params=p, spread=False, n_channels=40)
    res = dev.drive([1e-3], [0.01], [1.0])
    t = res.open_transmission[0]
    assert t < 40 - 5  # the 15 diffusive channels transmit 0.3-0.9 each
    assert 25 + 15 * 0.3 - 1 < t < 25 + 15 * 0.9


def _with(like: np.ndarray, value: float, at: int, bad: float) -> np.ndarray:
    """An array like ``like`` filled with ``value``, holding ``bad`` at ``at``."""
    out = np.full(like.size, value)
    out[at] = bad
    return out


def test_inputs_are_checked_before_anything_changes():
    dev = QCDevice(seed=0)
    with pytest.raises(ValueError, match="dt"):
        dev.drive([-1e-3], [0.1], [1e-3])
    with pytest.raises(ValueError, match="i_limit"):
        dev.drive([1e-3], [0.1], [0.0])
    with pytest.raises(ValueError, match="v_source"):
        dev.drive([1e-3], [np.nan], [1e-3])
    with pytest.raises(ValueError, match="r_source"):
        dev.drive([1e-3], [0.1], [1e-3], r_source=-1.0)
    # NaN and inf anywhere in a long schedule (the checks are min / max reductions)
    long = np.full(5000, 1e-4)
    for dt, v, ilim, name in ((long, _with(long, 0.1, 2500, np.inf), 1e-3, "v_source"),
                              (_with(long, 1e-4, 4999, np.nan), long, 1e-3, "dt"),
                              (_with(long, 1e-4, 17, np.inf), long, 1e-3, "dt"),
                              (long, long, _with(long, 1e-3, 3, np.nan), "i_limit")):
        with pytest.raises(ValueError, match=name):
            dev.drive(dt, v, ilim)
    with pytest.raises(ValueError, match="duration"):
        dev.rest(-1.0)
    with pytest.raises(ValueError, match="n_channels"):
        QCDevice(seed=0, n_channels=1000)
    assert dev.time == 0.0
