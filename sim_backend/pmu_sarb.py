"""Segment Arb of the simulated 4225-PMU [M 7-39…7-57]: the ``:PMU:SARB:`` commands that
define sequences and the sequence list (:class:`SegmentArbCommands`), and the sequences as
test units.

At ``:PMU:EXECUTE`` in Segment Arb mode each sequence of a channel's sequence list becomes
one :class:`~sim_backend.pmu_schedule.UnitSpec` (breakpoints, measure windows, loop count,
spans with the output relay open), after the manual's checks: at least three segments
(-958), fields of equal length (-962), seamless levels inside a sequence, across the list
and around a loop (-956), measure windows inside their segments (-962) and at least one
sample long (-957), relay transitions only in segments of 25 µs or more [M 7-46], and at
most 65 536 spot-mean records (-963).
"""

from __future__ import annotations

import numpy as np

from sim_backend.kxci_common import KXCIError, parse_float, parse_int, split_args
from sim_backend.kxci_state import CardPart
from sim_backend.pmu_schedule import (
    UnitSpec,
    Window,
    check_internal,
    segment_breakpoints,
    source_gain,
)
from sim_backend.pmu_state import (
    MAX_POINTS,
    SAMPLE_CLOCK,
    SARB_FIELDS,
    PulseChannel,
    pulse_channel,
    require_pmu_mode,
)

#: shortest segment with an output-relay transition [M 7-46]
SSR_MIN_SEGMENT = 25e-6
_ATOL_V = 1e-9


def _fields(seq: dict[str, list[float]], seq_no: int) -> dict[str, np.ndarray]:
    """The sequence's fields as arrays, with the manual's defaults for the optional ones."""
    times = np.asarray(seq.get("TIME", []))
    n = times.size
    if n < 3:
        raise KXCIError(-958)
    f = {"TIME": times,
         "STARTV": np.asarray(seq.get("STARTV", [])),
         "STOPV": np.asarray(seq.get("STOPV", [])),
         "MEAS:TYPE": np.asarray(seq.get("MEAS:TYPE", [0] * n), dtype=int),
         "MEAS:START": np.asarray(seq.get("MEAS:START", [0.0] * n)),
         "MEAS:STOP": np.asarray(seq.get("MEAS:STOP", list(times))),
         "SSR": np.asarray(seq.get("SSR", [1] * n), dtype=int),
         "TRIG": np.asarray(seq.get("TRIG", [1] * n), dtype=int)}
    if any(a.size != n for a in f.values()):
        raise KXCIError(-962, f"sequence {seq_no}: field lengths differ")
    return f


def _check(f: dict[str, np.ndarray], loops: int, prev_stop: float | None) -> None:
    """Seamless levels, windows inside their segments, relay transitions on long segments."""
    start_v, stop_v, times = f["STARTV"], f["STOPV"], f["TIME"]
    if np.any(~np.isclose(stop_v[:-1], start_v[1:], atol=_ATOL_V)) or (
            prev_stop is not None and not np.isclose(prev_stop, start_v[0], atol=_ATOL_V)):
        raise KXCIError(-956)
    if loops > 1 and not np.isclose(stop_v[-1], start_v[0], atol=_ATOL_V):
        raise KXCIError(-956, "looped sequence does not end where it starts")
    mstart, mstop = f["MEAS:START"], f["MEAS:STOP"]
    if np.any(mstop > times * (1 + 1e-9)) or np.any(mstart > mstop):
        raise KXCIError(-962, "measure window outside its segment")
    if np.any((f["MEAS:TYPE"] > 0) & (mstop - mstart < 1.0 / SAMPLE_CLOCK - 1e-15)):
        raise KXCIError(-957, "measure window shorter than one sample")
    ssr = f["SSR"]
    relay = np.concatenate(([ssr[-1] if loops > 1 else 1], ssr))
    changed = relay[1:] != relay[:-1]
    if np.any(changed & (times < SSR_MIN_SEGMENT * (1 - 1e-9))):
        raise KXCIError(-962, "relay transition in a segment shorter than 25 us")


def _unit(c: PulseChannel, f: dict[str, np.ndarray], loops: int) -> UnitSpec:
    times, mtype, ssr = f["TIME"], f["MEAS:TYPE"], f["SSR"]
    bt, bv = segment_breakpoints(f["STARTV"], f["STOPV"], times)
    seg0 = np.concatenate(([0.0], np.cumsum(times)[:-1]))
    windows = [Window(seg0[k] + f["MEAS:START"][k], seg0[k] + f["MEAS:STOP"][k],
                      "spot" if mtype[k] in (1, 3) else "wave", k, mtype[k] in (3, 4))
               for k in range(times.size) if mtype[k]]
    spans = tuple((float(seg0[k]), float(seg0[k] + times[k]))
                  for k in range(times.size) if ssr[k] == 0)
    spec = UnitSpec(bt, bv, windows, loops, source_gain(c), spans)
    check_internal(c, spec)
    return spec


def sarb_specs(c: PulseChannel) -> list[UnitSpec]:
    """One unit per sequence of the list, with its loop count [M 7-39…7-57]."""
    if not c.seq_list:
        raise KXCIError(-961, "no sequence list")
    specs = []
    prev_stop = None
    for seq_no, loops in c.seq_list:
        seq = c.sequences.get(seq_no)
        if seq is None:
            raise KXCIError(-961, f"sequence {seq_no}")
        f = _fields(seq, seq_no)
        _check(f, loops, prev_stop)
        prev_stop = f["STOPV"][-1]
        specs.append(_unit(c, f, loops))
    n_spot = sum(w.points(1.0, s.repeats) for s in specs for w in s.windows
                 if w.kind == "spot")
    if n_spot > MAX_POINTS:  # no sample rate reduces these [M 7-24]
        raise KXCIError(-963, f"{n_spot} spot-mean records")
    return specs


class SegmentArbCommands(CardPart):
    """``:PMU:SARB:SEQ:<field>[:ADD]`` and ``:PMU:SARB:WFM:SEQ:LIST[:ADD]``."""

    def handlers(self) -> dict:
        h = {":PMU:SARB:WFM:SEQ:LIST:ADD": self._sarb_list(add=True),
             ":PMU:SARB:WFM:SEQ:LIST": self._sarb_list(add=False)}
        for name in SARB_FIELDS:
            h[f":PMU:SARB:SEQ:{name}:ADD"] = self._sarb_field(name, add=True)
            h[f":PMU:SARB:SEQ:{name}"] = self._sarb_field(name, add=False)
        return h

    def _sarb_field(self, name: str, add: bool):
        def handler(rest: str) -> None:
            """``:PMU:SARB:SEQ:<field>[:ADD] ch, seq, v1, ...`` (<= 128 values) [M 7-40…7-55]."""
            require_pmu_mode(self.st, 1)
            args = split_args(rest)
            if len(args) < 3:
                raise KXCIError(-969, f"{name} needs channel, sequence and values")
            if len(args) - 2 > 128:
                raise KXCIError(-969, f"{len(args) - 2} values > 128 per command")
            ch = pulse_channel(self.st, args[0])
            seq = parse_int(args[1], 1, 512, code=-960)
            values = [parse_float(a, -962) for a in args[2:]]
            _check_field(ch, name, values)
            fields = ch.sequences.setdefault(seq, {})
            if add:
                fields.setdefault(name, []).extend(values)
            else:
                fields[name] = values
            if sum(len(f.get("TIME", [])) for f in ch.sequences.values()) > 2048:
                raise KXCIError(-954)

        return handler

    def _sarb_list(self, add: bool):
        def handler(rest: str) -> None:
            """``:PMU:SARB:WFM:SEQ:LIST[:ADD] ch, seq1, loops1, ...`` [M 7-56, 7-57]."""
            require_pmu_mode(self.st, 1)
            args = split_args(rest)
            if len(args) < 3 or len(args) % 2 == 0:
                raise KXCIError(-969, "sequence list needs channel and (seq, loops) pairs")
            ch = pulse_channel(self.st, args[0])
            pairs = []
            for s, loops in zip(args[1::2], args[2::2], strict=True):
                seq = parse_int(s, 1, 512, code=-961)
                if seq not in ch.sequences:
                    raise KXCIError(-961, f"sequence {seq}")
                n = parse_float(loops, -969)
                if n != int(n) or not 1 <= n <= 1e12:
                    raise KXCIError(-969, f"loops {loops}")
                pairs.append((seq, int(n)))
            ch.seq_list = (ch.seq_list if add else []) + pairs

        return handler


def _check_times(ch: PulseChannel, values: list[float]) -> None:
    """Segment times: 20 ns (10 V range) or 50 ns (40 V) to 1 s, in 10 ns steps [M 7-52]."""
    lo = 20e-9 if ch.v_range == 10 else 50e-9
    for t in values:
        if not lo * (1 - 1e-9) <= t <= 1.0 or abs(t / 10e-9 - round(t / 10e-9)) > 1e-6:
            raise KXCIError(-962, f"segment time {t}")


def _check_field(ch: PulseChannel, name: str, values: list[float]) -> None:
    """The values of one Segment Arb field on channel ``ch`` (-962, -955) [M 7-40…7-55]."""
    if name in ("STARTV", "STOPV") and max(abs(v) for v in values) > ch.v_range:
        raise KXCIError(-962, f"{name} beyond +-{ch.v_range} V")
    if name == "TIME":
        _check_times(ch, values)
    if name in ("MEAS:TYPE",) and any(v not in (0, 1, 2, 3, 4) for v in values):
        raise KXCIError(-962, "measure type")
    if name in ("TRIG", "SSR") and any(v not in (0, 1) for v in values):
        raise KXCIError(-962, name)
    if name == "SSR" and 0 in values and ch.rpm and ch.i_range < 10e-3:
        raise KXCIError(-955)
