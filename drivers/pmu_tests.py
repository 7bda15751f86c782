"""PMU tests over KXCI's ``:PMU:`` command set: the PMU part of
:class:`drivers.keithley4200.Keithley4200A`, which delegates its public methods here [M §7].

Mainframe-wide PMU commands (``:PMU:INIT``, measure mode, burst count, sample rate,
``EXECUTE``, ``TEST:STATUS?``, ``ABORT``) and whole tests: a waveform pulse train, a spot-mean
pulse train and a Segment Arb waveform. Per-channel commands are in :mod:`drivers.pmu`.
The PMU has no current compliance: see :mod:`drivers.pmu_config`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from drivers.pmu import PMUChannel
from drivers.pmu_config import (
    MEASURE_MODES,
    SAMPLE_CLOCK,
    PulseTrainConfig,
    SarbSequence,
    check_measure_range,
    check_source_range,
    effective_sample_rate,
)
from drivers.pmu_data import MAX_POINTS, PMUSpotMean, PMUWaveform
from drivers.validation import ParameterError, check_int, check_range, fmt_number

log = logging.getLogger("labapp.driver")

ShouldStop = Callable[[], bool] | None


class PMUTests:
    """PMU mainframe commands and whole PMU tests of one 4200A.

    Parameters
    ----------
    inst : the instrument (:class:`drivers.keithley4200.Keithley4200A`) whose connection
        and PMU channels the tests use.
    """

    def __init__(self, inst) -> None:
        self.inst = inst
        self.mode: str | None = None  # the last :PMU:INIT mode sent ("pulse" / "sarb")

    # ------------------------------------------------------------------ PMU
    def _pmu(self, channel: int) -> PMUChannel:
        if channel not in self.inst.pmus:
            raise ParameterError("channel", channel,
                                 f"one of {sorted(self.inst.pmus)} (PMU channels from *OPT?)")
        return self.inst.pmus[channel]

    def pmu_init(self, mode: str = "pulse") -> None:
        """``:PMU:INIT 0`` (standard pulse) or ``1`` (Segment Arb); resets both channels of
        every PMU, clears data and all sequences [M 7-9]."""
        codes = {"pulse": 0, "sarb": 1}
        if mode not in codes:
            raise ParameterError("mode", mode, "'pulse' or 'sarb'")
        if not self.inst.pmus:
            raise ParameterError("pmu", None, "a 4225-PMU in *OPT?")
        self.inst.command(f":PMU:INIT {codes[mode]}")
        self.mode = mode
        for ch in self.inst.pmus.values():
            ch.v_range, ch.load_ohms, ch.i_range = 10, 1e6, 10e-3

    def pmu_measure_mode(self, mode: str) -> None:
        """``:PMU:MEASURE:MODE n`` (0 none, 1 spot mean, 2 waveform, 3 spot-mean average,
        4 waveform average) [M 7-13]."""
        if mode not in MEASURE_MODES:
            raise ParameterError("mode", mode, f"one of {sorted(MEASURE_MODES)}")
        self.inst.command(f":PMU:MEASURE:MODE {MEASURE_MODES[mode]}")

    def pmu_burst_count(self, count: int) -> None:
        """``:PMU:PULSE:BURST:COUNT n`` (1..10 000, all channels) [M 7-17]."""
        check_int("count", count, 1, 10000)
        self.inst.command(f":PMU:PULSE:BURST:COUNT {count}")

    def pmu_sample_rate(self, rate: float) -> float:
        """``:PMU:SAMPLE:RATE rate`` (1e3..200e6 S/s); returns the rate used (200e6/n)
        [M 7-23]."""
        used = effective_sample_rate(rate)
        self.inst.command(f":PMU:SAMPLE:RATE {fmt_number(rate)}")
        return used

    def pmu_execute(self) -> None:
        """``:PMU:EXECUTE``: validate and start; returns immediately [M 7-9]."""
        self.inst.command(":PMU:EXECUTE")
        self.inst.check_errors(":PMU:EXECUTE")

    def pmu_running(self) -> bool:
        """``:PMU:TEST:STATUS?`` -> True while any PMU test runs [M 7-32]."""
        return self.inst.query_parsed(":PMU:TEST:STATUS?", lambda r: int(float(r))) != 0

    def pmu_wait(self, timeout: float = 60.0, poll: float = 0.001,
                 should_stop: ShouldStop = None) -> None:
        """Poll ``:PMU:TEST:STATUS?`` until 0 [M 7-32]; bounded and interruptible (then
        aborts with ``:PMU:ABORT`` [M 7-4])."""
        deadline = time.monotonic() + timeout
        while self.pmu_running():
            if should_stop is not None and should_stop():
                self.pmu_abort()
                raise InterruptedError("PMU test interrupted")
            if time.monotonic() > deadline:
                self.pmu_abort()
                raise TimeoutError(f"PMU test still running after {timeout:g} s")
            time.sleep(poll)
            poll = min(0.05, poll * 1.5)

    def pmu_abort(self) -> None:
        """``:PMU:ABORT``: stop the test and turn outputs off; data is kept [M 7-4]."""
        self.inst.command(":PMU:ABORT")

    def pmu_pulse_train(self, channel: int, config: PulseTrainConfig, *,
                        timeout: float = 60.0, should_stop: ShouldStop = None) -> PMUWaveform:
        """A standard-mode pulse train with waveform capture on one PMU channel.

        The manual's sequence [M 7-20, reference note §1.10], with the settings that differ
        from the ``:PMU:INIT 0`` defaults added::

            :PMU:INIT 0
            :PMU:RPM:CONFIGURE PMU1-1, 0          (only with an RPM)
            :PMU:SOURCE:RANGE 1, 40               (only if not 10 V)
            :PMU:LOAD 1, ohms                     (only if not 1e6)
            :PMU:MEASURE:RANGE 1, 2, amps
            :PMU:MEASURE:MODE 2                   (4 with average=True)
            :PMU:TIMES:WAVEFORM 1, pre, post      (only if not 0.2, 0.2)
            :PMU:SAMPLE:RATE rate                 (only if not 200e6)
            :PMU:PULSE:TRAIN 1, base, amplitude
            :PMU:PULSE:TIMES 1, period, width, rise, fall[, delay]
            :PMU:PULSE:BURST:COUNT n
            :PMU:OUTPUT:STATE 1, 1
            :PMU:EXECUTE                          (then :ERROR:LAST:GET)
            :PMU:TEST:STATUS?                     (until 0)
            :PMU:DATA:COUNT? 1 / :PMU:DATA:GET 1, start, 2048 ...
            :PMU:OUTPUT:STATE 1, 0

        Everything is validated before the first command (timing rules, ranges, load,
        <= 65 536 samples). The output is switched off on every exit path. The result
        carries the declared series element's current bound — not a compliance.
        """
        ch = self._pmu(channel)
        config.validate(rpm=ch.rpm)

        def measure() -> None:
            self.pmu_measure_mode("waveform_average" if config.average else "waveform")
            if (config.pre, config.post) != (0.2, 0.2):
                ch.times_waveform(config.pre, config.post)

        return self._pmu_standard_test(
            ch, config, measure, lambda: ch.fetch_waveform(config.current_bound()),
            timeout, should_stop)

    def pmu_pulse_spot_means(self, channel: int, config: PulseTrainConfig, *,
                             window: tuple[float, float] = (0.75, 0.9),
                             acquire_low: bool = False, timeout: float = 60.0,
                             should_stop: ShouldStop = None) -> PMUSpotMean:
        """A standard-mode pulse train measured as one spot mean per pulse (pulse I-V).

        As :meth:`pmu_pulse_train` but ``:PMU:MEASURE:MODE 1`` (3 with
        ``config.average``: one mean over the burst), ``:PMU:MEASURE:PIV ch, 1, low`` and
        ``:PMU:TIMES:PIV ch, start, stop`` (the averaging window as fractions of the pulse
        width) [M 7-13, 7-14, 7-32, 7-30]; returns ``VH,IH,TH,SH,VL,IL,TL,SL`` records.
        """
        ch = self._pmu(channel)
        config.validate(rpm=ch.rpm, waveform=False)
        check_range("window start", window[0], 0.0, 1.0)
        check_range("window stop", window[1], window[0], 1.0)

        def measure() -> None:
            self.pmu_measure_mode("spot_mean_average" if config.average else "spot_mean")
            ch.measure_piv(True, acquire_low)
            ch.times_piv(*window)

        return self._pmu_standard_test(ch, config, measure, ch.fetch_spot_mean, timeout,
                                       should_stop)

    def _pmu_standard_test(self, ch: PMUChannel, config: PulseTrainConfig,
                           measure: Callable[[], None], fetch: Callable[[], object],
                           timeout: float, should_stop: ShouldStop):
        """Shared body of the standard-mode pulse tests (arguments already checked)."""
        self.pmu_init("pulse")
        with _output_off_after(ch):
            if ch.rpm:
                ch.rpm_configure("pmu")
            if config.v_range != 10:
                ch.source_range(config.v_range)
            if config.load != 1e6:
                ch.load(config.load)
            ch.measure_range(config.i_range)
            measure()
            if config.sample_rate != SAMPLE_CLOCK:
                self.pmu_sample_rate(config.sample_rate)
            ch.pulse_train(config.base, config.amplitude)
            ch.pulse_times(config.timing)
            self.pmu_burst_count(config.count)
            ch.output(True)
            self.pmu_execute()
            self.pmu_wait(timeout, should_stop=should_stop)
            data = fetch()
        return data

    def pmu_segment_arb(
        self,
        channel: int,
        sequences: Mapping[int, SarbSequence],
        sequence_list: Sequence[tuple[int, int]],
        *,
        i_range: float = 0.2,
        v_range: int = 10,
        sample_rate: float = SAMPLE_CLOCK,
        timeout: float = 60.0,
        should_stop: ShouldStop = None,
    ) -> PMUWaveform:
        """A Segment Arb waveform (e.g. write pulse + read pulse, looped) on one channel.

        The manual's sequence [M 7-39…7-58, example 7-57]: ``:PMU:INIT 1``, RPM to PMU,
        ``:PMU:MEASURE:RANGE ch, 2, amps`` (fixed ranges only in Segment Arb),
        ``:PMU:SARB:SEQ:STARTV/STOPV/TIME/MEAS:TYPE/MEAS:START/MEAS:STOP`` per sequence,
        ``:PMU:SARB:WFM:SEQ:LIST ch, seq, loops, ...``, output on, ``:PMU:EXECUTE``, poll,
        fetch, output off. Checked before sending: >= 3 seamless segments per sequence,
        segment times, levels, sequences exist, the list is seamless, <= 65 536 points.

        Points come back in time order: waveform samples of the measured windows and one
        spot-mean point per spot-mean segment (status-word measurement type 1).
        """
        ch = self._pmu(channel)
        check_source_range(v_range)
        check_measure_range(i_range, v_range, ch.rpm)
        rate = effective_sample_rate(sample_rate)
        for number, seq in sequences.items():
            check_int("sequence", number, 1, 512)
            seq.validate(v_range, rpm_range=ch.rpm and i_range < 10e-3)
        _check_sequence_list(sequences, sequence_list)
        points = sum(int(loops) * sequences[s].measured_points(rate) for s, loops in sequence_list)
        if points > MAX_POINTS:
            raise ParameterError("sequence_list", list(sequence_list),
                                 f"<= {MAX_POINTS} measured points per channel "
                                 f"(this list measures {points}; KXCI -963)")
        self.pmu_init("sarb")
        with _output_off_after(ch):
            if ch.rpm:
                ch.rpm_configure("pmu")
            if v_range != 10:
                ch.source_range(v_range)
            ch.measure_range(i_range)
            if sample_rate != SAMPLE_CLOCK:
                self.pmu_sample_rate(sample_rate)
            for number, seq in sequences.items():
                ch.sarb_sequence(number, seq)
            ch.sarb_sequence_list(sequence_list)
            ch.output(True)
            self.pmu_execute()
            self.pmu_wait(timeout, should_stop=should_stop)
            data = ch.fetch_waveform()
        return data


@contextlib.contextmanager
def _output_off_after(ch: PMUChannel) -> Iterator[None]:
    """The channel's output goes off on every exit, but never hides the error that ended
    the test: after a failure the cleanup is tried, and if it fails too that is logged and
    noted on the original error, which is what propagates (the run engine's safe-off then
    reports the output state and reconnects after a lost connection)."""
    try:
        yield
    except BaseException as exc:
        try:
            ch.output(False)
        except Exception as cleanup:  # noqa: BLE001 - reported, never raised
            log.warning("PMU output off after %s failed too: %s", type(exc).__name__,
                        cleanup)
            exc.add_note(f"cleanup also failed: {cleanup}")
        raise
    ch.output(False)


def _check_sequence_list(sequences: Mapping[int, SarbSequence],
                         items: Sequence[tuple[int, int]]) -> None:
    """Every listed sequence exists; the concatenated waveform is seamless [M 7-48, 7-56]."""
    if not items:
        raise ParameterError("sequence_list", items, "at least one (sequence, loops) pair")
    prev_stop = None
    for k, (seq, loops) in enumerate(items):
        if seq not in sequences:
            raise ParameterError(f"sequence_list[{k}]", seq,
                                 f"a defined sequence {sorted(sequences)} (KXCI -961)")
        check_range("loops", loops, 1, 1e12)
        s = sequences[seq]
        if prev_stop is not None and not np.isclose(prev_stop, s.start_v[0], atol=1e-9):
            raise ParameterError(f"sequence_list[{k}]", seq,
                                 f"a sequence starting at {prev_stop:g} V (seamless; "
                                 f"it starts at {s.start_v[0]:g} V)")
        if loops > 1 and not np.isclose(s.stop_v[-1], s.start_v[0], atol=1e-9):
            raise ParameterError(f"loops[{k}]", loops,
                                 "1 unless the sequence ends where it starts (seamless loop)")
        prev_stop = s.stop_v[-1]
