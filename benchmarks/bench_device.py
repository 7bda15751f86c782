"""The quantized-conductance device model on the three workloads of its issue.

* a 12 000-point DC loop 0 -> 3 -> 0 -> -3 -> 0 V (1 mV steps, one list sweep = one
  ``drive`` call), compliance 5 mA, from the pristine state: target < 50 ms;
* a 500-pulse RESET train of -1.5 V / 5 ms with 100 samples per pulse (a PMU waveform:
  one ``drive`` call, one step per sample, 50 Ohm source), after a SET: target < 100 ms;
* a 6x10^3 s retention at one 0.1 V read per second (6 000 reads and the zero-volt gaps in
  one ``drive`` call): target < 100 ms.

Each is timed on several devices (seeds); the median and the worst wall time are printed
with the median CPU time of the process (``time.process_time``: what the work costs when
other jobs share the cores) and the number of random events (channel jumps) the device
went through. Two verdicts per workload: the median CPU time against the workload's target,
and the real-time factor (simulated time / median CPU time) against ``REALTIME_TARGET``
(1000x: a simulated instrument must run far ahead of the instrument it stands for). The
1-minute load average is printed first (CPU times grow when the 2 cores are shared). Model
only: no driver, no KXCI (``bench_kxci.py`` times that path).

Run: ``python benchmarks/bench_device.py`` or ``python -m benchmarks device``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim_backend.qc_device import QCDevice  # noqa: E402
from sim_backend.qc_stimulus import dc_loop, pulse_train, reads_at  # noqa: E402

SEEDS = range(7)
#: simulated (virtual) duration of each workload in s, for the real-time factor
VIRTUAL: dict[str, float] = {}
DC_POINT_TIME = 0.1 / 60 + 3.3e-5  # one point of a 0.1 PLC sweep (integration + overhead)
REALTIME_TARGET = 1000.0  # simulated time per CPU time, every workload


def _time(setup, work) -> tuple[float, float, float, int]:
    """Median and worst wall time, median CPU time (ms) of ``work(device)`` over SEEDS, and
    the median number of events."""
    times, cpu, events = [], [], []
    for seed in SEEDS:
        dev = setup(seed)
        e0 = dev.events
        t0, c0 = time.perf_counter(), time.process_time()
        work(dev)
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        events.append(dev.events - e0)
    return (statistics.median(times), max(times), statistics.median(cpu),
            int(statistics.median(events)))


def dc_loop_bench() -> tuple[float, float, float, int]:
    s = dc_loop(step=1e-3, dwell=DC_POINT_TIME, compliance=5e-3)
    assert s.v.size == 12_000
    VIRTUAL["DC loop, 12 000 points"] = float(s.dt.sum())
    return _time(QCDevice, lambda d: d.drive(s.dt, s.v, s.i_limit))


def reset_train_bench() -> tuple[float, float, float, int]:
    set_pulses = pulse_train([1.8] * 5, 20e-3, 5e-3, 0.1, 2e-3, 8e-3)
    train = pulse_train([-1.5] * 500, 5e-3, np.inf, 0.0, 0.0, 2e-3, samples_per_pulse=100)
    assert train.v.size == 500 * 101
    VIRTUAL["RESET train, 500 pulses x 100 samples"] = float(train.dt.sum())

    def setup(seed: int) -> QCDevice:
        dev = QCDevice(seed)
        dev.drive(set_pulses.dt, set_pulses.v, set_pulses.i_limit)
        return dev

    return _time(setup, lambda d: d.drive(train.dt, train.v, train.i_limit, r_source=50.0))


def retention_bench() -> tuple[float, float, float, int]:
    program = pulse_train([1.6] * 3, 20e-3, 5e-3, 0.1, 2e-3, 8e-3)
    reads = reads_at(np.arange(6000, dtype=float), 0.1, 2e-3)
    VIRTUAL["retention 6e3 s, 1 read/s"] = float(reads.dt.sum())

    def setup(seed: int) -> QCDevice:
        dev = QCDevice(seed)
        dev.drive(program.dt, program.v, program.i_limit)
        return dev

    return _time(setup, lambda d: d.drive(reads.dt, reads.v, reads.i_limit))


def main() -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) {load:.2f} on {os.cpu_count()} cores")
    totals = [0.0, 0.0]  # simulated s, CPU s
    for name, fn, target in (
        ("DC loop, 12 000 points", dc_loop_bench, 50.0),
        ("RESET train, 500 pulses x 100 samples", reset_train_bench, 100.0),
        ("retention 6e3 s, 1 read/s", retention_bench, 100.0),
    ):
        fn()  # warm-up (imports, first-call overheads)
        med, worst, cpu, events = fn()
        factor = VIRTUAL[name] / (cpu * 1e-3)
        totals[0] += VIRTUAL[name]
        totals[1] += cpu * 1e-3
        print(f"{name:40s} wall median {med:6.1f} ms, worst {worst:6.1f} ms; "
              f"CPU {cpu:6.1f} ms ({events} events); "
              f"target < {target:g} ms: {'ok' if cpu < target else 'SLOW'}; "
              f"{factor:,.0f}x real time, target >= {REALTIME_TARGET:,.0f}x: "
              f"{'ok' if factor >= REALTIME_TARGET else 'SLOW'}")
    print(f"{'all three':40s} {totals[0]:,.0f} s simulated in {totals[1] * 1e3:.0f} ms CPU: "
          f"{totals[0] / totals[1]:,.0f}x real time (target >= {REALTIME_TARGET:,.0f}x)")


if __name__ == "__main__":
    main()
