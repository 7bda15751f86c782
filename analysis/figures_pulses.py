"""Figures of pulse trains: per-pulse levels (Fig. 5, 6a-d, S12), polar plot (Fig. 6e),
time-lag scatter and density (Fig. 6f), potentiation/depression fit (Fig. 7b, S13).
Each function takes a :class:`analysis.summary.RunAnalysis`."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from analysis.figure_style import (
    DOUBLE,
    G_LABEL,
    SINGLE,
    half_integer_lines,
    new_figure,
    styled,
    title,
)
from analysis.figures_states import NotApplicable
from analysis.polar import RULE_LABELS, polar_coordinates, ring_radii
from analysis.pulse_timing import time_unit, waveform_times, with_gaps
from analysis.pulses import PulseLevels, top_portion_mask
from analysis.summary import RunAnalysis
from analysis.timelag import (
    below_unity_fraction,
    clearly_above_unity_fraction,
    lag_density,
    lag_pairs,
)

MAX_SCATTER = 20000


def _pulses(an: RunAnalysis, figure: str) -> PulseLevels:
    p = an.pulses
    if p is None or p.current_A.size == 0:
        raise NotApplicable(f"the '{figure}' figure needs per-pulse data (waveforms, a "
                            f"reads stream or a pulse_index column); run {an.run.run_id} "
                            f"has none")
    return p


def figure_pulses(an: RunAnalysis) -> Figure:
    """Per-pulse levels.

    With waveforms: V(t) shaded and I(t) of the first pulses against time, each pulse at
    its recorded time so the gaps between pulses show (Fig. 6a-c), with the averaged top
    portion marked (Fig. 6d, S11), then I_i/I_1 and G_i over all pulses (Fig. S12).
    Without: G_i and I_i/I_1 versus pulse number (Fig. 5).
    """
    p = _pulses(an, "pulses")
    wf = an.run.waveforms
    has_wf = "current_A" in wf and wf["current_A"].size > 0
    fig, axes = new_figure(2 if has_wf else 1, 1, width=DOUBLE * 0.6,
                           height=1.5 * SINGLE if has_wf else SINGLE)
    axes = np.atleast_1d(axes)
    if has_wf:
        _waveform_panel(axes[0], an, p)
    g = np.abs(p.g_g0)
    n = p.pulse_index[0] + np.arange(g.size) if p.pulse_index.size else np.arange(g.size)
    if not has_wf and np.isfinite(g).any():
        _reads_panel(axes[-1], an, n, g, p.i_over_i1)
    else:
        _ratio_panel(axes[-1], n, g, p.i_over_i1)
    return styled(fig)


def _waveform_panel(ax, an: RunAnalysis, p: PulseLevels) -> None:
    """I(t) and shaded V(t) of the first 12 captured pulses, at their recorded times."""
    wf = an.run.waveforms
    cur = wf["current_A"]
    volt = wf.get("voltage_V")
    n_show = min(cur.shape[0], 12)
    ns = cur.shape[1]
    times = waveform_times(an.run, n_show)
    if times is None:  # no timing in the file: captures end to end, said on the axis
        t = np.arange(n_show * ns, dtype=float).reshape(n_show, ns)
        xlabel = f"Sample (–), {ns} per pulse; the run records no pulse times"
    else:
        factor, unit = time_unit(float(np.nanmax(times.t_s)))
        t = times.t_s * factor
        xlabel = f"Time t ({unit}), pulses at their {times.source}"
    mask = top_portion_mask(None if volt is None else volt[:n_show], (n_show, ns),
                            an.options.portion)
    ax.plot(*with_gaps(t, cur[:n_show] * 1e3), lw=0.6, color="C0", label="I(t)")
    ax.plot(t[mask], cur[:n_show][mask] * 1e3, ".", ms=1.5, color="C1",
            label="averaged top portion")
    t_mid = np.where(mask, t, 0.0).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
    ax.plot(t_mid, p.current_A[:n_show] * 1e3, "D", ms=3, color="C3", label="pulse mean I$_i$")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Current I (mA)")
    if volt is not None:
        ax2 = ax.twinx()
        tv, vv = with_gaps(t, volt[:n_show])
        ax2.fill_between(tv, vv, color="C0", alpha=0.12, lw=0)
        ax2.set_ylabel("Voltage V (V)")
    ax.legend(frameon=False, fontsize=6, loc="lower right")
    title(ax, an.run, f"first {n_show} of {cur.shape[0]} pulses")


def _reads_panel(ax, an: RunAnalysis, n: np.ndarray, g: np.ndarray, ratio: np.ndarray
                 ) -> None:
    """Read-based trains (paper 000 Fig. 5): G/G0 after each pulse, I_i/I_1 in grey."""
    ax.plot(n, g, "o-", ms=3, lw=0.6, color="C3", label="G after pulse")
    top = float(np.nanmax(g))
    half_integer_lines(ax, top * 1.05)
    ax.set_ylim(0, top * 1.08)
    ax.set_xlabel("Pulse number i (–)")
    ax.set_ylabel(G_LABEL)
    axr = ax.twinx()
    axr.plot(n, ratio, ".", ms=2, color="0.4")
    axr.set_ylabel("I$_i$/I$_1$ (–), grey", color="0.4")
    title(ax, an.run, f"{g.size} reads")


def _ratio_panel(ax, n: np.ndarray, g: np.ndarray, ratio: np.ndarray) -> None:
    """I_i/I_1 per pulse (Fig. S12) with G_i on a twin axis of the same scale."""
    ax.plot(n, ratio, ".-", ms=2, lw=0.4, color="C0", label="I$_i$/I$_1$")
    ax.set_xlabel("Pulse number i (–)")
    ax.set_ylabel("Normalised current I$_i$/I$_1$ (–)")
    if not np.isfinite(g).any():
        return
    axg = ax.twinx()
    axg.plot(n, g, ".", ms=1.5, color="C3", alpha=0.6)
    axg.set_ylabel(G_LABEL, color="C3")
    top = float(np.nanmax(g))
    half_integer_lines(axg, top * 1.05, bottom=float(np.nanmin(g)) * 0.95)
    g1 = g[0] if np.isfinite(g[0]) and g[0] > 0 else np.nan
    if np.isfinite(g1):  # same scale: ratio axis = G axis / G_1
        lo, hi = axg.get_ylim()
        ax.set_ylim(lo / g1, hi / g1)


#: angles (degrees) of the two ring scales of the polar plot: I_i/I_1 and G in G0
RATIO_SCALE_DEG, G0_SCALE_DEG = 100.0, 280.0


def figure_polar(an: RunAnalysis) -> Figure:
    """Polar plot r = I_i/I_1: paper rule theta = (i−1)π, and the 2π(i−1)/N variant.

    The rings are the quantized levels n/2 G0 (radius (n/2)/G_1). Their radial scale is
    the plotted quantity, I_i/I_1 (black, at 100°); the same rings read in G0 form a
    secondary scale (red, at 280°), as Fig. 6e labels states by conductance.
    """
    p = _pulses(an, "polar")
    ratio = np.abs(p.i_over_i1)
    fig, axes = new_figure(1, 2, width=DOUBLE * 0.75, height=SINGLE * 1.05,
                           subplot_kw={"projection": "polar"})
    g1 = abs(float(p.g_g0[0])) if np.isfinite(p.g_g0[0]) else float("nan")
    fin = ratio[np.isfinite(ratio)]
    r_hi = float(fin.max()) * 1.03 if fin.size else 1.0
    r_lo = max(float(fin.min()) * 0.97, 0.0) if fin.size else 0.0
    if r_hi - r_lo < 0.05:
        r_lo = max(r_hi - 0.05, 0.0)
    radii, levels = ring_radii(g1, r_hi)
    inside = radii >= r_lo
    idx = p.pulse_index - p.pulse_index.min() + 1
    for ax, rule in zip(axes, ("paper", "spread"), strict=True):
        theta, r = polar_coordinates(ratio, rule, idx)
        sc = ax.scatter(theta, r, s=5, c=idx, cmap="viridis", lw=0, zorder=3)
        ax.set_rlim(r_lo, r_hi)
        _ring_scales(ax, radii[inside], levels[inside], r_lo, r_hi)
        head, _, tail = RULE_LABELS[rule].rpartition(" (")
        ax.set_title(f"{head}\n({tail}", fontsize=7)
        ax.set_xlabel("Angle θ (°); radius I$_i$/I$_1$ (–)\n"
                      "rings at n/2 G$_0$, red scale: G (G$_0$)", fontsize=6)
    fig.colorbar(sc, ax=axes, label="Pulse number i (–)", shrink=0.6)
    return styled(fig)


def _ring_scales(ax, radii: np.ndarray, levels: np.ndarray, r_lo: float, r_hi: float
                 ) -> None:
    """Rings at the quantized levels; radial ticks in I_i/I_1, the G0 scale in red."""
    th = np.linspace(0, 2 * np.pi, 361)
    for rad, lv in zip(radii, levels, strict=True):
        ax.plot(th, np.full_like(th, rad), lw=0.4, color="0.55" if lv % 1 else "0.25")
    ax.set_rlabel_position(RATIO_SCALE_DEG)
    if not radii.size:
        return
    step = max(1, int(np.ceil(radii.size / 6)))
    shown, shown_lv = radii[::step], levels[::step]
    ax.set_rticks(shown)
    ax.set_yticklabels([f"{r:.3g}" for r in shown], fontsize=5)
    g0_angle = np.deg2rad(G0_SCALE_DEG)
    for rad, lv in zip(shown, shown_lv, strict=True):
        ax.text(g0_angle, rad, f"{lv:g}", color="C3", fontsize=5, ha="center",
                va="center", gid="g0-scale")
    outer = r_hi + 0.12 * (r_hi - r_lo)
    ax.text(np.deg2rad(RATIO_SCALE_DEG), outer, "I$_i$/I$_1$ (–)", fontsize=5,
            ha="center", va="center", gid="ratio-scale-title")
    ax.text(g0_angle, outer, "G (G$_0$)", color="C3", fontsize=5, ha="center",
            va="center", gid="g0-scale-title")


def figure_timelag(an: RunAnalysis) -> Figure:
    """I_{i+1} versus I_i with the unity line, and the 2-D density map."""
    p = _pulses(an, "timelag")
    cur = np.abs(p.current_A) * 1e3
    a, b = lag_pairs(cur)
    frac = below_unity_fraction(cur)
    above = clearly_above_unity_fraction(cur)
    fig, (a1, a2) = new_figure(1, 2, width=DOUBLE * 0.75, height=SINGLE)
    sel = np.arange(a.size)
    if a.size > MAX_SCATTER:
        sel = np.random.default_rng(0).choice(a.size, MAX_SCATTER, replace=False)
    a1.scatter(a[sel], b[sel], s=3, c=sel, cmap="viridis", lw=0)
    fin = np.concatenate((a[np.isfinite(a)], b[np.isfinite(b)]))
    lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
    pad = 0.03 * (hi - lo or 1.0)
    for ax in (a1, a2):
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.7,
                label="I$_{i+1}$ = I$_i$")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal")
        ax.set_xlabel("|I$_i$| (mA)")
        ax.set_ylabel("|I$_{i+1}$| (mA)")
    a1.legend(frameon=False, loc="upper left", title_fontsize=6,
              title=f"{100 * frac:.1f} % below the line\n"
                    f"{100 * above:.1f} % above it by > 2σ noise")
    title(a1, an.run, f"{a.size} pairs")
    d = lag_density(cur, bins=min(200, max(20, int(np.sqrt(max(a.size, 1))))),
                    value_range=(lo - pad, hi + pad))
    im = a2.pcolormesh(d.edges, d.edges, np.ma.masked_equal(d.counts, 0), cmap="magma_r",
                       norm=LogNorm(vmin=1, vmax=max(int(d.counts.max()), 2)))
    fig.colorbar(im, ax=a2, label="Pairs per bin (–)", shrink=0.8)
    a2.set_title("time-lag density map", fontsize=7)
    return styled(fig)


def figure_ltp_ltd(an: RunAnalysis) -> Figure:
    """Potentiation then depression: G per pulse with the fitted NeuroSim curves."""
    nl = an.nonlinearity
    lv = an.read_levels
    if not nl or lv is None:
        raise NotApplicable("the 'ltp-ltd' figure needs a potentiation/depression run "
                            "(protocol ltp-ltd with reads)")
    g = np.abs(lv.g_g0)
    fig, ax = new_figure(width=SINGLE * 1.2)
    n = np.arange(g.size)
    ax.plot(n, g, "o", ms=2.5, mfc="none", color="0.3", label="read after pulse")
    pot = nl.get("potentiation")
    dep = nl.get("depression")
    if pot is not None:
        pp = np.linspace(0, pot.p_max, 200)
        ax.plot(pp, pot.curve(pp), color="C3",
                label=f"LTP fit: A = {pot.A:.3g}, NL = {pot.label:.2f}")
    if dep is not None:
        start = g.size - 1 - dep.p_max  # depression data starts at the turning point
        k = np.linspace(0, dep.p_max, 200)
        ax.plot(start + k, dep.curve(dep.p_max - k), color="C0",
                label=f"LTD fit: A = {dep.A:.3g}, NL = {dep.label:.2f}")
    ax.set_xlabel("Pulse number (–)")
    ax.set_ylabel(G_LABEL)
    ax.legend(frameon=False, fontsize=6)
    title(ax, an.run)
    return styled(fig)
