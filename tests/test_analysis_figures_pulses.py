"""Paper 000 Fig. 6 figures of RESET trains run on the simulated 4200A, read from their artists.

References: Fig. 6a-c plots the applied voltage pulses against time; Fig. 6e is a polar
plot of I_i/I_1 whose concentric rings are the quantized states (000 L115-L121). The
pulse times are the run's own record (the ``samples`` stream's per-pulse ``time_s`` and
the protocol's ``width`` and ``period``), so the figure is held to what the instrument
did, not to a layout of our choosing.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis.figures_pulses import figure_polar, figure_pulses
from analysis.inputs import load_run
from analysis.summary import RunAnalysis
from labapp.instrument_choice import connect
from protocols import PulseTrain, ResetTrain, RunEngine


@pytest.fixture(scope="module")
def trains(tmp_path_factory):
    """A SET train, then RESET trains captured by the SMU (5 ms every 20 ms) and by the
    PMU (2 us every 10 us)."""
    root = tmp_path_factory.mktemp("fig6")
    eng = RunEngine(connect(sim=True, seed=3), metadata={"device_id": "sim",
                                                         "operator": "test"})
    eng.run(PulseTrain(count=5, amplitude=2.3, compliance=5e-3), root / "set.h5")
    smu = eng.run(ResetTrain(count=12), root / "smu.h5")
    pmu = eng.run(ResetTrain(count=6, width=2e-6, period=1e-5), root / "pmu.h5")
    return {"smu": RunAnalysis(load_run(smu.path)), "pmu": RunAnalysis(load_run(pmu.path))}


def _pulse_spans(line) -> list[np.ndarray]:
    """The x data of a NaN-separated line, one array per pulse."""
    x = np.asarray(line.get_xdata(), dtype=float)
    cut = np.flatnonzero(np.isnan(x))
    return [p for p in np.split(x, cut) if np.isfinite(p).any()] if cut.size else [x]


@pytest.mark.parametrize("kind, unit, factor", [("smu", "ms", 1e3), ("pmu", "µs", 1e6)])
def test_waveform_against_time_shows_the_gaps_between_pulses(trains, kind, unit, factor):
    an = trains[kind]
    fig = figure_pulses(an)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith(f"Time t ({unit})")
    assert "(mA)" in ax.get_ylabel()
    assert any("(V)" in a.get_ylabel() for a in fig.axes if a is not ax)
    current = next(ln for ln in ax.get_lines() if ln.get_label() == "I(t)")
    spans = [p[np.isfinite(p)] for p in _pulse_spans(current)]
    n = min(12, an.run.waveforms["current_A"].shape[0])
    assert len(spans) == n
    start = np.array([s[0] for s in spans])
    end = np.array([s[-1] for s in spans])
    period = an.run.param("period") * factor
    width = an.run.param("width") * factor
    # each pulse ends at the time the instrument recorded for it (samples.time_s), the
    # pulses are one period apart and each about one width long
    recorded = np.asarray(an.run.samples["time_s"][:n], dtype=float) * factor
    np.testing.assert_allclose(end - end[0], recorded - recorded[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.diff(start), period, rtol=0.01)
    assert (end - start <= 1.5 * width).all() and (end - start >= 0.8 * width).all()
    assert (start[1:] - end[:-1] >= 0.4 * (period - width)).all()  # the gaps are there
    # the voltage is shaded pulse by pulse (no polygon bridges a gap)
    shaded = [c for a in fig.axes for c in a.collections]
    assert sum(len(c.get_paths()) for c in shaded) == n
    # each pulse's mean sits inside its own pulse
    mean = next(ln for ln in ax.get_lines() if ln.get_label() == "pulse mean I$_i$")
    assert ((mean.get_xdata() >= start) & (mean.get_xdata() <= end)).all()
    plt.close(fig)


def test_polar_rings_read_in_current_ratio_with_a_g0_scale(trains):
    an = trains["smu"]
    g1 = abs(float(an.pulses.g_g0[0]))
    assert g1 > 1.0  # the SET train left a filament: rings exist
    fig = figure_polar(an)
    polar = [a for a in fig.axes if a.name == "polar"]
    assert len(polar) == 2
    for ax in polar:
        r_lo, r_hi = ax.get_ylim()
        ring_r = sorted({float(ln.get_ydata()[0]) for ln in ax.get_lines()
                         if np.ptp(ln.get_ydata()) == 0})
        # every ring is a quantized level n/2 G0 at radius (n/2)/G_1, inside the data range
        np.testing.assert_allclose(np.array(ring_r) * g1 * 2, np.round(np.array(ring_r) * g1 * 2),
                                   atol=1e-9)
        assert ring_r and r_lo <= min(ring_r) and max(ring_r) <= r_hi
        # radial tick labels: the I_i/I_1 value of the ring they mark
        ticks = ax.get_yticks()
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert len(labels) == len(ticks) >= 2
        for tick, text in zip(ticks, labels, strict=True):
            assert float(text) == pytest.approx(tick, rel=5e-3)
            assert min(abs(tick - r) for r in ring_r) < 1e-9
        # secondary scale: the same rings in G0 (n/2), at the same radii
        g0 = [t for t in ax.texts if t.get_gid() == "g0-scale"]
        assert len(g0) == len(ticks)
        for t in g0:
            _, r = t.get_position()
            assert float(t.get_text()) == pytest.approx(r * g1, abs=1e-6)
            assert 2 * float(t.get_text()) == round(2 * float(t.get_text()))
        titles = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
        assert titles["ratio-scale-title"] == "I$_i$/I$_1$ (–)"
        assert titles["g0-scale-title"] == "G (G$_0$)"
        assert "I$_i$/I$_1$" in ax.get_xlabel()
    plt.close(fig)
