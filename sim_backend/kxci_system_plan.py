"""What a system-mode test of the simulated 4200A sources, channel by channel [M 5-7…5-24].

:func:`plan_test` turns the DE / SS / SM page settings into one :class:`Source` per
defined channel (the value it sources at every point of the test), the time per point
and the time before the first point. Sweep layout [M 5-17…5-21]: VAR1 (the sweep, or the
VAR1 channel's master list) runs once per VAR2 step (1..32 steps, up to four VAR2
channels, in definition order, with equal step counts); VAR1' = VAR1 × ratio + offset;
subordinate lists step with VAR1; constants hold. Without a VAR1 channel the test samples
``NR`` readings at constant bias (``IN`` apart, after ``WT``). A set-up the instrument
cannot run is refused with -991 before anything is sourced.

Also here, because the page commands and the test both need them: the page check
(:func:`require_page`), quoted names (:func:`parse_quoted`) and the names the DE page
defines (:func:`defined_names`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from sim_backend.kxci_channels import PLC_S, SMUChannel, VSVMChannel
from sim_backend.kxci_common import KXCIError
from sim_backend.kxci_state import InstrumentState


@dataclass
class Source:
    """One channel's part of a test: what it sources per point, and its readings."""

    key: str  # "CHn", "VSn", "VMn"
    kind: str  # V, I or M (voltmeter) or C (common)
    values: np.ndarray
    compliance: float
    smu: SMUChannel | None = None
    vsvm: VSVMChannel | None = None


@dataclass
class TestPlan:
    """Every defined channel's source values, the time per point, the time before the
    first point, and whether this is a sampling test."""

    sources: list[Source]
    steps: np.ndarray
    pre: float
    sampling: bool


@dataclass
class _Axes:
    """The test's VAR1 values (per sweep) and VAR2 step count, and each VAR2 channel's
    step values."""

    v1: np.ndarray
    comp1: float
    n2: int
    sampling: bool
    var2: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)

    @property
    def n1(self) -> int:
        return int(self.v1.size)


def require_page(st: InstrumentState, *pages: str) -> None:
    """-975 in user mode [M 2-12]; -989 on a page other than ``pages``."""
    if st.sm.mode != "system":
        raise KXCIError(-975)  # system-mode command in user mode [M 2-12]
    if pages and st.sm.page not in pages:
        raise KXCIError(-989)


def parse_quoted(text: str, max_len: int = 6) -> str:
    """A quoted name: ``'V1'`` [M 5-7]."""
    m = re.fullmatch(r"'([^']{1,%d})'".replace("%d", str(max_len)), text.strip())
    if not m:
        raise KXCIError(-993, f"name {text!r}")
    return m.group(1).strip()


def defined_names(st: InstrumentState) -> set[str]:
    """The function names of every channel the DE page defines."""
    names = {n for s in st.smus.values() if s.defined for n in (s.vname, s.iname)}
    names |= {c.name for c in st.vsvm.values() if c.defined}
    names |= {c.name for c in st.phantom_vm.values()}
    return names


def channel_kind(c) -> str:
    """V or I source, C common (SMU); V (VS) or M (VM)."""
    if isinstance(c, SMUChannel):
        return {1: "V", 2: "I", 3: "C"}[c.source_mode]
    return "V" if c.kind == "VS" else "M"


def _function(c) -> int:
    """1 VAR1, 2 VAR2, 3 constant, 4 VAR1'; 0 for a voltmeter."""
    return c.function if isinstance(c, SMUChannel) or c.kind == "VS" else 0


def _test_channels(st: InstrumentState) -> list[tuple[str, object]]:
    chans: list[tuple[str, object]] = [(f"CH{s.number}", s) for s in
                                        sorted(st.smus.values(), key=lambda s: s.number)
                                        if s.defined]
    chans += [(f"{c.kind}{c.number}", c) for c in st.vsvm.values() if c.defined]
    chans += [(f"VM{c.number}", c) for c in st.phantom_vm.values()]
    return chans


def _var1_values(st: InstrumentState, key: str, ch) -> tuple[np.ndarray, float]:
    """VAR1 per sweep: the channel's master list, else the ``VR``/``IR`` sweep."""
    kind = channel_kind(ch)
    if ch.list_values is not None and ch.list_master:
        if isinstance(ch, SMUChannel) and ch.list_kind != kind:
            raise KXCIError(-991, f"{key} list kind differs from its mode")
        return ch.list_values, ch.list_compliance if isinstance(ch, SMUChannel) else 0.0
    if st.sm.var1.kind != kind:
        raise KXCIError(-991, f"VAR1 set up with {st.sm.var1.kind}R for a {kind} source")
    return st.sm.var1.values(), st.sm.var1.compliance


def _axes(st: InstrumentState, chans: list[tuple[str, object]]) -> _Axes:
    funcs = [(key, c, _function(c)) for key, c in chans]
    var1 = [(key, c) for key, c, f in funcs if f == 1]
    var2 = [(key, c) for key, c, f in funcs if f == 2]
    if len(var1) > 1:
        raise KXCIError(-991, f"more than one VAR1 channel: {[k for k, _ in var1]}")
    if len(var2) > 4:
        raise KXCIError(-991, "more than four VAR2 channels")
    if not var1:
        if st.sm.samples == 0:
            raise KXCIError(-991, "no VAR1 channel and no sampling set-up (NR)")
        return _Axes(np.zeros(st.sm.samples), 0.0, 1, True)
    v1, comp1 = _var1_values(st, *var1[0])
    axes = _Axes(v1, comp1, 1, False)
    axes.var2, axes.n2 = _var2_values(st, var2)
    return axes


def _var2_values(st: InstrumentState, var2: list[tuple[str, object]]
                 ) -> tuple[dict[str, tuple[np.ndarray, float]], int]:
    """Each VAR2 channel's step values and compliance, and the common step count."""
    out, steps = {}, set()
    for index, (key, c) in enumerate(var2, start=1):
        spec = st.sm.var2.get(index)
        if spec is None:
            raise KXCIError(-991, f"no VP/IP set-up for VAR2 stepper {index}")
        if spec.kind != channel_kind(c):
            raise KXCIError(-991, f"VAR2 {index} source kind differs from {key}")
        out[key] = (spec.values(), spec.compliance)
        steps.add(spec.n)
    if len(steps) > 1:
        raise KXCIError(-991, "VAR2 steppers with different step counts")
    return out, (steps.pop() if steps else 1)


def _ratio_offset(st: InstrumentState, c) -> tuple[float, float]:
    """``RT``/``FS`` for this channel, else the ones for every VAR1' channel [M 5-11, 5-13]."""
    ratio, offset = getattr(c, "ratio", None), getattr(c, "offset", None)
    return (st.sm.ratio if ratio is None else ratio,
            st.sm.offset if offset is None else offset)


def _constant(key: str, c, kind: str, total: int) -> tuple[np.ndarray, float]:
    """A channel that holds one level: voltmeter, VS constant, common, SMU constant."""
    if kind == "M":
        return np.zeros(total), 0.0
    if not isinstance(c, SMUChannel):  # VS constant
        return np.full(total, c.const_value), 0.0
    if kind == "C":
        return np.zeros(total), c.i_max
    if c.const_kind != kind:
        raise KXCIError(-991, f"{key} constant set with the other source mode")
    return np.full(total, c.const_value), c.const_compliance


def _values(st: InstrumentState, key: str, c, axes: _Axes) -> tuple[np.ndarray, float]:
    """What channel ``c`` sources at every point, and its compliance."""
    f, n1, n2 = _function(c), axes.n1, axes.n2
    if f == 1:
        return np.tile(axes.v1, n2), axes.comp1
    if f in (2, 4) and axes.sampling:
        raise KXCIError(-991, f"{key}: VAR2 or VAR1' without a VAR1 channel")
    if f == 4:
        ratio, offset = _ratio_offset(st, c)
        return np.tile(axes.v1 * ratio + offset, n2), axes.comp1
    if f == 2:
        v2, comp = axes.var2[key]
        return np.repeat(v2, n1), comp
    if c.list_values is not None and not c.list_master and not axes.sampling:
        if c.list_values.size != n1:
            raise KXCIError(-991, f"{key} subordinate list has {c.list_values.size} "
                            f"points, VAR1 has {n1}")
        return np.tile(c.list_values, n2), (c.list_compliance if isinstance(c, SMUChannel)
                                            else 0.0)
    return _constant(key, c, channel_kind(c), n1 * n2)


def plan_test(st: InstrumentState) -> TestPlan:
    """The test the pages define (see the module doc)."""
    chans = _test_channels(st)
    axes = _axes(st, chans)
    sources = []
    for key, c in chans:
        vals, comp = _values(st, key, c, axes)
        smu = c if isinstance(c, SMUChannel) else None
        sources.append(Source(key, channel_kind(c), np.asarray(vals, dtype=float), comp, smu,
                              None if smu is not None else c))
    total, sm = axes.n1 * axes.n2, st.sm
    if axes.sampling:
        step = max(sm.interval_s, sm.integration_plc * PLC_S)
        return TestPlan(sources, np.full(total, step), sm.wait_s, True)
    return TestPlan(sources, np.full(total, sm.delay_s + sm.integration_plc * PLC_S),
                    sm.hold_s, False)
