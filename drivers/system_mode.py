"""System-mode tests of the SMUs and compliance-limited SMU pulses: the SMU part of
:class:`drivers.keithley4200.Keithley4200A` (which delegates its public methods here).

System mode runs whole tests on the instrument [M §5]: channel definitions on the ``DE``
page, sources on ``SS``, measurement set-up on ``SM``, ``ME1`` on ``MD``, then the buffer
is read with ``DO``. Modeless settings (``IT``, ``EC``, ``BC``, ``DO``, ``RD``) work on
any page [M 5-36].
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from drivers.cards import SMU_V_MAX
from drivers.readings import Reading, SweepData, parse_reading, parse_reading_list
from drivers.smu import SMU
from drivers.validation import (
    ParameterError,
    check_int,
    check_range,
    fmt_number,
    fmt_numbers,
)

log = logging.getLogger("labapp.driver")

MAX_LIST_POINTS = 4096  # VL [M 5-16]
MAX_VAR1_POINTS = 1024  # VR [M 5-19]
MAX_SAMPLES = 4096  # NR [M 5-23]
#: the host's default bound on the wait for a sweep, s
DEFAULT_TIMEOUT = 600.0
#: the :class:`SweepOptions` fields a sampling test uses
SAMPLE_OPTIONS = {"integration", "ground", "timeout", "should_stop"}
#: integration modes IT1..IT3 in PLC [M 5-40]
INTEGRATION_PLC = {"short": 0.1, "normal": 1.0, "long": 10.0}
_IT_CODE = {"short": 1, "normal": 2, "long": 3}

ShouldStop = Callable[[], bool] | None
#: receives the points of a running test as they are measured (live view)
LivePoints = Callable[[SweepData], None] | None


class TestInterrupted(InterruptedError):
    """The host stopped waiting for a test (abort). ``partial`` holds the points the
    instrument had measured when ``ME4`` ended it, or None when they could not be read."""

    def __init__(self, message: str, partial: SweepData | None = None) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class SweepOptions:
    """The options every SMU test threads through: timing, integration, compliance exit,
    grounded SMUs and the host's wait.

    Attributes
    ----------
    delay : ``DT`` before each point, 0..6.553 s [M 5-10].
    hold : ``HT`` before the first point, 0..655.3 s [M 5-12].
    integration : "short"/"normal"/"long" (``IT1..3``) or PLC 0.01..10 (``IT4``) [M 5-40].
    exit_on_compliance : ``EC 1``: end the test at the first compliance point [M 5-39].
    ground : SMUs defined as common (0 V) for the test.
    timeout : the host's bound on the wait, s (None: the method's default).
    should_stop : a callable; True aborts the test (``ME4``).
    live : receives the points as they are measured (``RD``).
    """

    delay: float = 0.0
    hold: float = 0.0
    integration: str | float = "normal"
    exit_on_compliance: bool = False
    ground: Sequence[int] = ()
    timeout: float | None = None
    should_stop: ShouldStop = None
    live: LivePoints = None

    def but(self, **changes) -> SweepOptions:
        """These options with ``changes`` (keyword arguments of the old signatures);
        an unknown name is a TypeError, as for any keyword argument."""
        return dataclasses.replace(self, **changes) if changes else self


class SystemModeTests:
    """SMU system-mode tests, modeless settings and SMU pulses of one 4200A.

    Parameters
    ----------
    inst : the instrument (:class:`drivers.keithley4200.Keithley4200A`) whose connection,
        SMUs and page state the tests use.
    """

    def __init__(self, inst) -> None:
        self.inst = inst

    # ------------------------------------------------------------------ modeless settings
    def integration(self, mode: str | float = "normal", delay_factor: float = 1.0,
                    filter_factor: float = 1.0) -> None:
        """``IT1``/``IT2``/``IT3`` ("short"/"normal"/"long" = 0.1/1/10 PLC) or, for a
        number of PLC, the custom ``IT4, delayF, filterF, ADplc`` (A/D 0.01..10 PLC,
        factors 0..100) [M 5-40]."""
        if isinstance(mode, str):
            if mode not in _IT_CODE:
                raise ParameterError("integration", mode,
                                     f"one of {sorted(_IT_CODE)} or a PLC number 0.01..10")
            self.inst.command(f"IT{_IT_CODE[mode]}")
            return
        plc = check_range("integration", mode, 0.01, 10.0, "PLC")
        check_range("delay_factor", delay_factor, 0.0, 100.0)
        check_range("filter_factor", filter_factor, 0.0, 100.0)
        self.inst.command(f"IT4, {fmt_number(delay_factor)}, {fmt_number(filter_factor)}, "
                     f"{fmt_number(plc)}")

    def exit_on_compliance(self, on: bool) -> None:
        """``EC 0|1``: end the test when an SMU reaches compliance [M 5-39]."""
        self.inst.command(f"EC {int(bool(on))}")

    def clear_buffer(self) -> None:
        """``BC``: clear the reading buffer and the data-ready bit [M 5-37]."""
        self.inst.command("BC")

    def read_buffer(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``DO 'name'`` -> (values, status letters); ``nameT`` gives timestamps [M 5-38]."""
        _check_name(name.removesuffix("T") if name.endswith("T") else name)
        return self.inst.query_parsed(f"DO '{name}'", parse_reading_list)

    def read_point(self, name: str, index: int) -> Reading | None:
        """``RD 'name', N``: one reading (1-based), usable while a test runs; None when
        not measured yet (the instrument answers ``0``) [M 5-41]."""
        _check_name(name.removesuffix("T") if name.endswith("T") else name)
        check_int("index", index, 1, MAX_LIST_POINTS)

        def parse(reply: str) -> Reading | None:
            if reply.lstrip("+") in ("0", "0.0"):
                return None
            if reply[:1].isalpha():
                return parse_reading(reply)
            return Reading(float(reply), "N")

        return self.inst.query_parsed(f"RD '{name}', {index}", parse)

    # ------------------------------------------------------------------ system mode
    def define_channel(self, smu: int, vname: str, iname: str, source: str = "V",
                       function: str = "VAR1") -> None:
        """``CHA, 'Vname', 'Iname', D, E`` on the DE page [M 5-7].

        ``source`` V, I or COMMON (D = 1, 2, 3); ``function`` VAR1, VAR2, CONST, VAR1'
        (E = 1..4); a common channel is always constant.
        """
        self._smu(smu)
        _check_name(vname)
        _check_name(iname)
        d = {"V": 1, "I": 2, "COMMON": 3}.get(source)
        e = {"VAR1": 1, "VAR2": 2, "CONST": 3, "VAR1'": 4}.get(function)
        if d is None:
            raise ParameterError("source", source, "one of V, I, COMMON")
        if e is None or (d == 3 and e != 3):
            raise ParameterError("function", function,
                                 "CONST for a common channel" if d == 3 else
                                 "one of VAR1, VAR2, CONST, VAR1'")
        self.inst.command(f"CH{smu}, '{vname}', '{iname}', {d}, {e}")

    def disable_channel(self, smu: int) -> None:
        """``CHA`` alone: channel off [M 5-7, 5-8]."""
        self._smu(smu)
        self.inst.command(f"CH{smu}")

    def _begin_test(self) -> None:
        """``BC``, and ``DR1`` when waiting for SRQ on GPIB, at the start of a test."""
        self.clear_buffer()
        if self.inst.srq and not self.inst.ack:
            self.inst.data_ready_srq(True)

    def _define_sweep_channels(self, smu: int, function: str, ground: Sequence[int]) -> None:
        """DE page: this SMU as ``function``, ``ground`` SMUs common, the rest disabled
        (the manual recommends disabling the 4145-like defaults first [M 5-5, 5-8])."""
        self.inst.page("DE")
        for n in self.inst.smus:
            if n != smu and n not in ground:
                self.disable_channel(n)
        for n in ground:
            self.define_channel(n, f"V{n}", f"I{n}", "COMMON", "CONST")
        self.define_channel(smu, f"V{smu}", f"I{smu}", "V", function)

    def _smu(self, smu: int) -> SMU:
        if smu not in self.inst.smus:
            raise ParameterError("smu", smu, f"one of {sorted(self.inst.smus)} (from *OPT?)")
        return self.inst.smus[smu]

    def _check_integration(self, integration: str | float) -> None:
        if isinstance(integration, str):
            if integration not in _IT_CODE:
                raise ParameterError("integration", integration,
                                     f"one of {sorted(_IT_CODE)} or a PLC number 0.01..10")
        else:
            check_range("integration", integration, 0.01, 10.0, "PLC")

    def abort_test(self) -> None:
        """``ME4`` on the MD page: abort a running SMU test [M 5-28].

        Sent when the host stops waiting (abort, timeout), so the SMU does not keep
        sweeping the device after the run has ended. Best effort: never raises, because it
        runs on the way out of an error that must not be masked.
        """
        try:
            self.inst.page("MD")
            self.inst.command("ME4")
        except Exception:  # noqa: BLE001 - the original error is what the caller sees
            log.warning("ME4 (abort the running SMU test) failed", exc_info=True)

    def _measure_setup(self, smu: int) -> None:
        """SM page: list display, the functions to list; then the MD page [M 5-22, 5-23]."""
        self.inst.page("SM")
        self.inst.command("DM2")
        self.inst.command(f"LI 'V{smu}', 'I{smu}', 'CH{smu}T'")
        self.inst.page("MD")

    def _run_and_fetch(self, smu: int, timeout: float, should_stop: ShouldStop,
                       program: np.ndarray | None, live: LivePoints = None) -> SweepData:
        """``ME1``, wait (reading live points with ``RD``), ``DO`` of V, I and timestamps
        [M 5-28, 5-38, 5-41]."""
        self.inst.command("ME1")
        self.inst.check_errors("ME1")
        seen: list[tuple[float, float, float]] = []  # (t, V, I) read with RD so far
        on_poll = None if live is None else (lambda: self._read_live(smu, seen, live, program))
        try:
            self.inst.wait_for_data(timeout, should_stop=should_stop, on_poll=on_poll)
        except InterruptedError as exc:
            self.abort_test()
            raise TestInterrupted(str(exc), self._measured_so_far(smu, seen, program)) from exc
        except TimeoutError:
            self.abort_test()
            raise
        return self._fetch(smu, program)

    # -- points of a running test (live view; kept when the test is aborted) -------------
    def _read_live(self, smu: int, seen: list[tuple[float, float, float]], live: LivePoints,
                   program: np.ndarray | None, limit: int = 512) -> None:
        """Read the points measured since the last call with ``RD`` and hand them to
        ``live``. As in the manual's real-time example [M 5-46, 5-47]: the timestamp
        ``RD 'CHnT', k`` answers ``0`` until point k is measured, then ``RD 'Vn', k`` and
        ``RD 'In', k`` give its readings [M 5-41]."""
        start = len(seen)
        while len(seen) - start < limit and len(seen) < MAX_LIST_POINTS:
            k = len(seen) + 1
            t = self.read_point(f"CH{smu}T", k)
            if t is None:
                break
            v = self.read_point(f"V{smu}", k)
            i = self.read_point(f"I{smu}", k)
            seen.append((t.value, v.value if v else 0.0, i.value if i else 0.0))
        if len(seen) > start:
            live(_as_sweep(seen[start:], program, start))

    def _measured_so_far(self, smu: int, seen: list[tuple[float, float, float]],
                         program: np.ndarray | None) -> SweepData | None:
        """After ``ME4``: the buffer's points with their status letters (``DO``), else the
        points already read with ``RD`` (status unknown: no compliance flag)."""
        try:
            return self._fetch(smu, program)
        except Exception:  # noqa: BLE001 - the abort must go on; fall back to what we read
            log.warning("reading the aborted test's points with DO failed", exc_info=True)
            return _as_sweep(seen, program, 0) if seen else None

    def _fetch(self, smu: int, program: np.ndarray | None) -> SweepData:
        """``DO`` of V, I and timestamps with the status letters (compliance = ``C``)."""
        vname, iname = f"V{smu}", f"I{smu}"
        volts, vstat = self.inst.query_parsed(f"DO '{vname}'", parse_reading_list)
        amps, istat = self.inst.query_parsed(f"DO '{iname}'", parse_reading_list)
        times, _ = self.inst.query_parsed(f"DO 'CH{smu}T'", parse_reading_list)
        comp = (vstat == "C") | (istat == "C")
        return SweepData(voltage=volts, current=amps, time=times, compliance=comp,
                         program=program)

    def list_sweep(self, smu: int, voltages: np.ndarray, compliance: float,
                   options: SweepOptions | None = None, **kwargs) -> SweepData:
        """Run one VAR1 list sweep on ``smu`` and fetch V, I, timestamps and compliance.

        ``options`` (:class:`SweepOptions`) or its fields as keyword arguments
        (``delay=``, ``hold=``, ``integration=``, ``exit_on_compliance=``, ``ground=``,
        ``timeout=`` (default 600 s), ``should_stop=``, ``live=``); keywords win.
        ``live`` receives the points while the test runs (``RD``, about every 0.25 s; for
        display: they come again, with status letters, in the returned data). An abort
        (``should_stop``) raises :class:`TestInterrupted` carrying the points measured
        before ``ME4``.

        Sequence [M 5-7, 5-16, 5-22, 5-23, 5-28, 5-38; reference note §1.8]: ``BC``,
        ``DE``, ``CHn`` (others off, ``ground`` SMUs common), ``CHn, 'Vn', 'In', 1, 1``,
        ``SS``, ``VLn, 1, comp, v...`` (<= 4096 points; e.g. the bipolar
        0 -> +V -> 0 -> -V -> 0 loop), ``HT``, ``DT``, ``ITk``, ``EC``, ``SM``, ``DM2``,
        ``LI``, ``MD``, ``ME1``, wait, ``DO``.
        """
        opts = (options or SweepOptions()).but(**kwargs)
        s = self._smu(smu)
        v = np.asarray(voltages, dtype=float)
        if not 1 <= v.size <= MAX_LIST_POINTS:
            raise ParameterError("points", int(v.size), f"[1, {MAX_LIST_POINTS}]")
        if not np.all(np.isfinite(v)) or np.any(np.abs(v) > SMU_V_MAX):
            bad = v[~np.isfinite(v) | (np.abs(v) > SMU_V_MAX)][0]
            raise ParameterError("voltage", float(bad), f"[-{SMU_V_MAX:g}, {SMU_V_MAX:g}] V")
        s.check_compliance(compliance)
        self._check_options(opts)
        source = (f"VL{smu}, 1, {fmt_number(abs(compliance))}, "
                  + ", ".join(fmt_numbers(v.tolist())))
        return self._var1_test(smu, source, v, opts)

    def _check_options(self, opts: SweepOptions) -> None:
        check_range("delay", opts.delay, 0.0, 6.553, "s")  # DT [M 5-10]
        check_range("hold", opts.hold, 0.0, 655.3, "s")  # HT [M 5-12]
        self._check_integration(opts.integration)

    def _var1_test(self, smu: int, source: str, program: np.ndarray,
                   opts: SweepOptions) -> SweepData:
        """Shared body of the VAR1 sweeps once their arguments are checked."""
        for n in opts.ground:
            self._smu(n)
        self.inst.clear_stale_errors()  # so each error is blamed on its own command [M 4-3]
        with self.inst.attributed_errors():
            self._begin_test()
            self._define_sweep_channels(smu, "VAR1", opts.ground)
            self.inst.page("SS")
            self.inst.command(source)
            if opts.hold:
                self.inst.command(f"HT {fmt_number(opts.hold)}")
            self.inst.command(f"DT {fmt_number(opts.delay)}")
            self.integration(opts.integration)
            self.exit_on_compliance(opts.exit_on_compliance)
            self._measure_setup(smu)
        timeout = DEFAULT_TIMEOUT if opts.timeout is None else opts.timeout
        return self._run_and_fetch(smu, timeout, opts.should_stop, program, opts.live)

    def linear_sweep(self, smu: int, start: float, stop: float, step: float,
                     compliance: float, options: SweepOptions | None = None,
                     **kwargs) -> SweepData:
        """Linear VAR1 sweep ``VR1, start, stop, step, compliance`` [M 5-19…5-21];
        ``options`` / keyword arguments as :meth:`list_sweep`.

        Points n = int(|(stop - start)/step| + 1.5) <= 1024; ``step`` must have the sign of
        ``stop - start``.
        """
        opts = (options or SweepOptions()).but(**kwargs)
        s = self._smu(smu)
        for name, x in (("start", start), ("stop", stop)):
            check_range(name, x, -SMU_V_MAX, SMU_V_MAX, "V")
        check_range("step", abs(step), 1e-3, 2 * SMU_V_MAX, "V")
        if stop != start and np.sign(step) != np.sign(stop - start):
            raise ParameterError("step", step, f"a step with the sign of stop-start "
                                 f"({stop - start:+g} V)")
        n = int(abs((stop - start) / step) + 1.5)
        if n > MAX_VAR1_POINTS:
            raise ParameterError("step", step, f"|step| >= {abs(stop - start) / 1023:g} V "
                                 f"({n} points > {MAX_VAR1_POINTS})")
        s.check_compliance(compliance)
        self._check_options(opts)
        source = (f"VR1, {fmt_number(start)}, {fmt_number(stop)}, {fmt_number(step)}, "
                  f"{fmt_number(abs(compliance))}")
        return self._var1_test(smu, source, start + step * np.arange(n), opts)

    def sample(self, smu: int, volts: float, compliance: float, count: int, interval: float,
               options: SweepOptions | None = None, *, wait: float = 0.0,
               **kwargs) -> SweepData:
        """Sampling mode (time-domain reads at a constant bias), e.g. retention.

        ``CHn, 'Vn', 'In', 1, 3``, ``VCn, volts, comp`` [M 5-15], ``NR count`` (1..4096),
        ``IN interval`` (0.01..10 s), ``WT wait`` (0..100 s) [M 5-22…5-24], ``DM2``, ``LI``,
        ``ME1``. Of the options (:class:`SweepOptions` or keywords) ``integration``,
        ``ground``, ``timeout`` and ``should_stop`` apply; the default timeout is the
        nominal test duration plus 60 s.
        """
        unused = sorted(set(kwargs) - SAMPLE_OPTIONS)
        if unused:
            raise TypeError(f"sample() got unexpected keyword arguments {unused}")
        opts = (options or SweepOptions()).but(**kwargs)
        s = self._smu(smu)
        check_range("volts", volts, -SMU_V_MAX, SMU_V_MAX, "V")
        s.check_compliance(compliance)
        check_int("count", count, 1, MAX_SAMPLES)
        check_range("interval", interval, 0.01, 10.0, "s")
        check_range("wait", wait, 0.0, 100.0, "s")
        self._check_integration(opts.integration)
        timeout = wait + count * interval + 60.0 if opts.timeout is None else opts.timeout
        self.inst.clear_stale_errors()  # so each error is blamed on its own command [M 4-3]
        with self.inst.attributed_errors():
            self._begin_test()
            self._define_sweep_channels(smu, "CONST", opts.ground)
            self.inst.page("SS")
            self.inst.command(f"VC{smu}, {fmt_number(volts)}, {fmt_number(abs(compliance))}")
            self.integration(opts.integration)
            self.inst.page("SM")
            self.inst.command(f"NR {count}")
            self.inst.command(f"IN {fmt_number(interval)}")
            self.inst.command(f"WT {fmt_number(wait)}")
            self._measure_setup(smu)
        return self._run_and_fetch(smu, timeout, opts.should_stop,
                                   np.full(count, float(volts)))

    # ------------------------------------------------------------------ SMU pulses
    def smu_pulse_train(self, smu: int, levels: np.ndarray, width: float, compliance: float,
                        options: SweepOptions | None = None, **kwargs) -> SweepData:
        """Compliance-limited pulses from an SMU: a VL list held ``width`` s per level.

        Each entry of ``levels`` (e.g. ``[w, 0, r, 0, w, 0, r, 0, ...]`` for write / read
        pairs with rests, <= 4096 entries) is one list-sweep point: the SMU steps to it,
        waits ``DT = width`` and then integrates for the ``integration`` time (default
        "short") before the next point [M 5-10, 5-16, 5-40]. So every level is held
        ``width + t_int`` and the reading is taken at its end; ``data.time`` gives the true
        point times. The SMU's hardware compliance is active throughout (one compliance
        for the whole list [M 5-16]) and ``data.compliance`` flags the clamped points.
        Widths of 1 ms..6.5 s; use ``integration=0.01`` (PLC, ``IT4``) for the shortest
        reads. ``options`` / keywords as :meth:`list_sweep` (``delay`` is ``width``).

        Returns the same :class:`SweepData` as :meth:`list_sweep`, with ``program`` =
        ``levels``.
        """
        if "delay" in kwargs:
            raise TypeError("smu_pulse_train() takes the hold time per level as width, "
                            "not delay")
        opts = (options or SweepOptions(integration="short")).but(**kwargs)
        check_range("width", width, 1e-3, 6.553, "s")
        return self.list_sweep(smu, levels, compliance, opts.but(delay=width))

    def smu_pulse(self, smu: int, volts: float, width: float, compliance: float, *,
                  base: float = 0.0, read_current: bool = True) -> Reading | None:
        """One host-timed user-mode pulse: ``DV`` to ``volts``, wait ``width``, ``TI``,
        back to ``base`` (``DV``) [M 5-33, 5-34].

        The compliance is the SMU's hardware limit (status letter ``C`` in the reading).
        On the simulator the wait is instrument time (``:SIM:ADVANCE``); on hardware it is
        a host sleep, so widths below ~10 ms are not accurate — use :meth:`smu_pulse_train`.
        """
        s = self._smu(smu)
        check_range("width", width, 0.0, 3600.0, "s")
        check_range("base", base, -SMU_V_MAX, SMU_V_MAX, "V")
        s.source_voltage(volts, compliance)
        self.wait(width)
        reading = s.measure_current() if read_current else None
        s.source_voltage(base, compliance)
        return reading

    def wait(self, seconds: float) -> None:
        """Wait on the instrument's clock: ``:SIM:ADVANCE`` on the simulator, a host sleep
        on hardware (:mod:`drivers.clock`)."""
        self.inst.clock.wait(seconds)


def _as_sweep(rows: Sequence[tuple[float, float, float]], program: np.ndarray | None,
              offset: int) -> SweepData:
    """SweepData of ``(t, V, I)`` rows that start at point ``offset`` of the test."""
    t, v, i = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    prog = None if program is None else np.asarray(program)[offset:offset + t.size]
    return SweepData(voltage=v, current=i, time=t, compliance=np.zeros(t.size, bool),
                     program=prog)


def _check_name(name: str) -> None:
    """KXCI function names: 1..6 characters, no quotes or separators [M 5-7]."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,6}", name):
        raise ParameterError("name", name, "1..6 letters, digits or _")


