"""The device's fast event loop against a plain reference loop kept here.

``QCDevice.drive`` is written for speed: a compiled loop
(:func:`sim_backend.qc_kernel.advance`) walks the steps, or runs of identical steps as one
element each, solves each operating point by Newton steps stopped on a convergence bound,
and spends each clock's budget element by element; only the run holding an event is
looked at step by step. None of that may change the physics. The reference below is the
algorithm of ``docs/simulator-physics.md`` ("Algorithm") written the plain way, in numpy:
fixed windows of steps, every step solved on its own by a bracketed Newton iteration on
the closed-form QPC current of :mod:`sim_backend.qpc` (itself held to the numerical
Landauer integral in ``test_physics_qpc.py``), the rates taken from the device's own rate
function (:func:`sim_backend.qc_kernel.rates`: one place for the physics) step by step,
the hazard as a cumulative sum over each window.

Both consume the device's random stream in the same order (the drive's fluctuations, then
per event of the shared clock the pick and its next budget, per event of a staged process
(trace regrowth and stripping: one clock each, a Gamma budget per channel) its next
budget), so the same seed must give the same history:
identical channel counts and event counts, and currents, partial transmissions and
temperatures equal to 1e-9 relative (the tolerance allows for the different order of
floating-point operations; a jump that moved to another step would change a current by
far more).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from labcore.constants import G0
from sim_backend import qc_kernel as kernel
from sim_backend.device_model import DriveResult
from sim_backend.qc_device import _REBREAK, _REFORM, _SLOT_KINDS, _STAGED_KINDS, _TIP_FIX, QCDevice
from sim_backend.qc_stimulus import Schedule, concatenate, dc_loop, pulse_train, reads_at
from sim_backend.qpc import qpc_current_and_conductance

RTOL = 1e-9
_WINDOW = 256  # steps per window of the reference (the fast loop sizes its own)


def _root(fun, lo, hi, x):
    """Root of increasing ``fun(x) -> (f, df)`` in ``[lo, hi]``: Newton kept in the bracket."""
    for _ in range(100):
        f, df = fun(x)
        hi, lo = np.where(f > 0, x, hi), np.where(f > 0, lo, x)
        x_new = x - f / df
        x_new = np.where((x_new >= lo) & (x_new <= hi), x_new, 0.5 * (lo + hi))
        done = np.all(np.abs(x_new - x) <= 1e-14 * np.abs(x_new))
        x = x_new
        if done:
            break
    return x


@dataclass
class _Solution:
    v_constriction: np.ndarray
    v_terminal: np.ndarray
    i: np.ndarray
    compliance: np.ndarray


def _conduction(dev, fl):
    """Open channels' summed transmission and the partial barrier per step: the state's
    plus the drive's offsets (the rearranged neck's scales with the root of the count)."""
    if dev.n > 0:
        g_open = np.maximum(dev.tau_sum + fl.tip + fl.dg + fl.dg_neck * np.sqrt(dev.n), 0.0)
    else:
        g_open = np.maximum(fl.tip, 0.0)
    return g_open, dev.phi_partial + (fl.dphi_half if dev.half else fl.dphi)


def _reference_solve(dev, v, ilim, r_source, g_open, phi):
    """Operating point of every step: ``x + R f(x) = v``, else ``f(x) = +-i_limit``."""
    p = dev.params

    def device_current(x, k=slice(None)):
        i_qpc, di_qpc = qpc_current_and_conductance(x, phi[k], p.alpha, p.beta)
        return g_open[k] * G0 * x + i_qpc, g_open[k] * G0 + di_qpc

    def free(x):
        f, df = device_current(x)
        return x + (p.r_series + r_source) * f - v, 1.0 + (p.r_series + r_source) * df

    r_total = (p.r_series + r_source) * G0
    x = _root(free, np.minimum(v, 0.0), np.maximum(v, 0.0), v / (1.0 + r_total * g_open))
    i = device_current(x)[0]
    clamp = np.abs(i) > ilim
    k = np.flatnonzero(clamp)
    if k.size:
        target = np.sign(v[k]) * ilim[k]

        def limited(xs):
            f, df = device_current(xs, k)
            return f - target, df

        x, i = x.copy(), i.copy()
        x[k] = _root(limited, np.minimum(x[k], 0.0), np.maximum(x[k], 0.0), x[k])
        i[k] = target
    return _Solution(x, x + p.r_series * i, i, clamp)


def _reference_drive(dev: QCDevice, s: Schedule, r_source: float = 0.0) -> DriveResult:
    """What ``dev.drive(s.dt, s.v, s.i_limit, r_source)`` must return (see module doc)."""
    v, ilim, dts = s.v.astype(float), s.i_limit.astype(float), s.dt.astype(float).copy()
    size = v.size
    t_end = dev.time + np.cumsum(dts)
    fl = dev.noise.draw(v, dts, dev.n > 0 and dev.n >= dev.n_peak)
    cols = {name: np.empty(size) for name in ("v", "i", "n", "partial", "g", "temp")}
    comp = np.zeros(size, dtype=bool)
    pv, slots = kernel.param_vector(dev.params), np.empty(kernel.SLOTS)
    k = 0
    while k < size:
        e = min(size, k + _WINDOW)
        g_open, phi = _conduction(dev, fl[k:e])
        sol = _reference_solve(dev, v[k:e], ilim[k:e], r_source, g_open, phi)
        # the device's rate functions, step by step
        state = dev.state_vector()
        rates, temp = np.empty((e - k, kernel.SLOTS)), np.empty(e - k)
        for j in range(e - k):
            temp[j] = kernel.rates(pv, state, float(sol.v_constriction[j]), float(sol.i[j]),
                                   float(fl.tip[k + j]), slots)
            rates[j] = slots
        # clocks: the shared one (every process but the staged ones), each staged alone
        totals = {kernel.CLOCK_SHARED: rates[:, :kernel.SHARED_SLOTS].sum(axis=1),
                  kernel.CLOCK_SOFT: rates[:, kernel.SLOT_SOFT],
                  kernel.CLOCK_STRIP: rates[:, kernel.SLOT_STRIP]}
        hazards = {c: np.cumsum(totals[c] * dts[k:e]) for c in totals}
        # a clock's event: the first step where its hazard reaches its budget
        times = {}
        for c, h in hazards.items():
            budget = dev.clocks.left[c]
            if h[-1] >= budget:
                j = int(np.searchsorted(h, budget))
                # the earliest: first by step, then by the time into that step
                times[c] = (j, (budget - (h[j - 1] if j else 0.0)) / totals[c][j])
        win = min(times, key=times.get) if times else None
        j = e - k if win is None else times[win][0]
        for name, val in (("v", sol.v_terminal), ("i", sol.i), ("temp", temp)):
            cols[name][k:k + j] = val[:j]
        comp[k:k + j] = sol.compliance[:j]
        cols["n"][k:k + j], cols["partial"][k:k + j] = dev.n, dev.partial_transmission
        cols["g"][k:k + j] = dev.tau_sum
        if win is None:
            for c, h in hazards.items():
                dev.clocks.left[c] -= h[-1]
            k = e
            continue
        tau = times[win][1]
        for c, h in hazards.items():
            if c != win:
                dev.clocks.left[c] -= (h[j - 1] if j else 0.0) + totals[c][j] * tau
        dts[k + j] *= max(0.0, 1.0 - tau / dts[k + j])
        if win == kernel.CLOCK_SHARED:
            at_j = rates[j, :kernel.SHARED_SLOTS]
            pick = int(np.searchsorted(np.cumsum(at_j), dev.rng.random() * at_j.sum(),
                                       side="right"))
            kind = _SLOT_KINDS[min(pick, kernel.SHARED_SLOTS - 1)]
            if kind == _REBREAK and dev.osc_phase == 1:
                kind = _REFORM
        else:
            kind = _STAGED_KINDS[win]
        x_j = float(fl.tip[k + j]) if kind == _TIP_FIX else float(sol.v_constriction[j])
        dev._apply(kind, float(sol.i[j]), x_j)
        if win == kernel.CLOCK_SHARED:
            dev.clocks.draw(dev.rng, kernel.CLOCK_SHARED)
        k += j
    dev.time = float(t_end[-1])
    dev.temperature = float(cols["temp"][-1])
    return DriveResult(t=t_end, v=cols["v"], i=cols["i"], compliance=comp,
                       n_channels=cols["n"].astype(np.int64), partial=cols["partial"],
                       open_transmission=cols["g"], temperature=cols["temp"])


_SET5 = pulse_train([1.8] * 5, 20e-3, 5e-3, 0.1, 2e-3, 8e-3)
#: a wide body, then a RESET that leaves its trace (Fig. 7b's formed device)
_TRACE = concatenate(pulse_train([2.3, 2.3], 20e-3, 5e-3, 0.1, 5e-3, 75e-3),
                     pulse_train([-2.6], 20e-3, 5e-3, -0.1, 5e-3, 75e-3))
#: (name, preparation, (schedule, source resistance) driven and compared)
WORKLOADS = {
    "dc loop 5 mA": (None, (dc_loop(step=2e-3, dwell=1.7e-3, compliance=5e-3), 0.0)),
    "dc loop 2 mA": (None, (dc_loop(step=2e-3, dwell=1.7e-3, compliance=2e-3), 0.0)),
    "SET train 1.5 V, 2.2 mA": (None, (pulse_train([1.5] * 40, 1e-3, 2.2e-3), 0.0)),
    "RESET train -1.5 V after a 5 mA SET": (
        _SET5, (pulse_train([-1.5] * 40, 1e-3, np.inf, -0.1), 0.0)),
    "PMU RESET waveform, 50 Ohm": (_SET5, (pulse_train(
        [-1.5] * 40, 5e-3, np.inf, 0.0, 0.0, 2e-3, samples_per_pulse=100), 50.0)),
    "PMU SET waveform, 50 Ohm": (None, (pulse_train(
        [1.5] * 20, 1e-3, 2e-3, 0.0, 0.0, 1e-3, samples_per_pulse=50), 50.0)),
    "one long step": (None, (Schedule(np.array([20e-3]), np.array([2.0]),
                                      np.array([10e-3]), np.array([0])), 0.0)),
    # the trace regrown and stripped (the staged processes' own clocks)
    "potentiation and depression after a RESET": (_TRACE, (pulse_train(
        [1.5] * 15 + [-1.5] * 15, 5e-3, 5e-3, 0.2, 5e-3, 10e-3), 0.0)),
    "reads after a SET": (_SET5, (reads_at(np.arange(300, dtype=float) * 0.05, 0.15,
                                           2e-3), 0.0)),
}


@pytest.mark.parametrize("name", list(WORKLOADS))
@pytest.mark.parametrize("seed", [0, 3])
def test_fast_event_loop_reproduces_the_reference(name, seed):
    prep, (s, r_source) = WORKLOADS[name]
    fast, ref = QCDevice(seed), QCDevice(seed)
    if prep is not None:
        fast.drive(prep.dt, prep.v, prep.i_limit)
        _reference_drive(ref, prep)
    assert fast.events == ref.events
    got = fast.drive(s.dt, s.v, s.i_limit, r_source=r_source)
    want = _reference_drive(ref, s, r_source)
    assert fast.events == ref.events
    assert np.array_equal(got.n_channels, want.n_channels)
    assert np.array_equal(got.compliance, want.compliance)
    for field in ("t", "v", "i", "partial", "open_transmission", "temperature"):
        assert getattr(got, field) == pytest.approx(getattr(want, field), rel=RTOL,
                                                    abs=1e-300), field
    assert fast.time == ref.time and fast.n_body == ref.n_body
