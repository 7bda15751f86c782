"""KXCI over loopback: median command round trip and the time to fetch 65 536 PMU points.

Both go through the real client path (pyvisa + pyvisa-py ``TCPIP::SOCKET`` with NUL
terminations) to the simulated 4200A's TCP server on 127.0.0.1, so they measure the
driver + transport + simulator overhead, not a real instrument's latency (unpublished).
Targets: round trip < 1 ms; 65 536 points (32 pages of ``:PMU:DATA:GET``) < 0.5 s.
An unterminated 50 MB message is refused and discarded as it arrives at > 100 MB/s (the
old ``buf +=`` receive, quadratic in the message length, took 10 s: 5 MB/s).

Run: ``python benchmarks/bench_kxci.py`` or ``python -m benchmarks``.
"""

from __future__ import annotations

import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.keithley4200 import Keithley4200A  # noqa: E402
from drivers.pmu_config import SarbSequence  # noqa: E402
from sim_backend.adapter import SimAdapter  # noqa: E402
from sim_backend.kxci import KXCIEngine  # noqa: E402
from sim_backend.server import KXCIServer  # noqa: E402

ROUND_TRIPS = 2000
FETCH_REPEATS = 5
POINTS = 65536


def round_trip_ms(k: Keithley4200A, n: int = ROUND_TRIPS) -> tuple[float, float]:
    """Median and 95th percentile of ``SP`` query round trips in ms."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        k.query("SP")
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times) * 1e3, times[int(0.95 * len(times))] * 1e3


def command_ms(k: Keithley4200A, n: int = ROUND_TRIPS // 2) -> float:
    """Median of ACK-ed command round trips (``BC``) in ms."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        k.command("BC")
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def fetch_65536(k: Keithley4200A) -> tuple[float, float, int]:
    """(Segment Arb test wall time, median fetch time in s, points fetched)."""
    n_seg = round(POINTS * 5e-9 / 10e-9) * 10e-9  # 65 536 samples at 200 MS/s
    seq = SarbSequence(start_v=(0.0, 0.1, 0.1), stop_v=(0.1, 0.1, 0.0),
                       time=(1e-6, n_seg, 1e-6), meas_type=(0, 2, 0))
    t0 = time.perf_counter()
    wf = k.pmu_segment_arb(1, {1: seq}, [(1, 1)], i_range=10e-3)
    t_test = time.perf_counter() - t0
    fetches = []
    for _ in range(FETCH_REPEATS):
        t0 = time.perf_counter()
        again = k.pmus[1].fetch_waveform()
        fetches.append(time.perf_counter() - t0)
        assert len(again) == len(wf)
    return t_test, statistics.median(fetches), len(wf)


def unterminated_send_s(server: KXCIServer, megabytes: int) -> float:
    """Seconds to send ``megabytes`` MB without a terminator, then NUL, until the reply."""
    block = b"A" * (1 << 20)
    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
        t0 = time.perf_counter()
        for _ in range(megabytes):
            sock.sendall(block)
        sock.sendall(b"\0")
        reply = b""
        while not reply.endswith(b"\0"):
            reply += sock.recv(4096)
        return time.perf_counter() - t0


def dc_loop_speed() -> tuple[float, float, float]:
    """The 12 000-point DC loop 0 -> 3 -> 0 -> -3 -> 0 V (1 mV steps, 1 PLC) as list
    sweeps of <= 4096 points through the driver and the simulated 4200A in-process (SMU
    readings with noise): (instrument time s, wall s, CPU s)."""
    engine = KXCIEngine(seed=0)
    k = Keithley4200A(SimAdapter(engine))
    v = np.concatenate([np.linspace(0, 3, 3001), np.linspace(3, -3, 6001)[1:],
                        np.linspace(-3, 0, 3001)[1:]])
    t_dev, t0, c0 = engine.device.time, time.perf_counter(), time.process_time()
    for start in range(0, v.size, 4096):
        k.list_sweep(1, v[start:start + 4096], 5e-3)
    return (engine.device.time - t_dev, time.perf_counter() - t0, time.process_time() - c0)


def main() -> dict[str, float]:
    engine = KXCIEngine(seed=0)
    server = KXCIServer(engine, port=0)
    server.start_background()
    try:
        k = Keithley4200A(server.resource)
        med, p95 = round_trip_ms(k)
        cmd = command_ms(k)
        t_test, t_fetch, n = fetch_65536(k)
        k.adapter.close()
        t10 = min(unterminated_send_s(server, 10) for _ in range(3))
        t50 = min(unterminated_send_s(server, 50) for _ in range(3))
    finally:
        server.shutdown()
        server.server_close()
    print("KXCI over loopback (pyvisa-py TCPIP::SOCKET -> simulated 4200A)")
    print(f"  query round trip (SP):     median {med:.3f} ms, p95 {p95:.3f} ms "
          f"(target < 1 ms) {'OK' if med < 1 else 'MISSED'}")
    print(f"  command round trip (BC):   median {cmd:.3f} ms")
    print(f"  fetch {n} PMU points:     median {t_fetch * 1e3:.1f} ms over 32 pages "
          f"(target < 500 ms) {'OK' if t_fetch < 0.5 else 'MISSED'}")
    print(f"  Segment Arb test incl. simulation and first fetch: {t_test:.2f} s")
    rate = 50 / t50
    print(f"  unterminated 10 MB / 50 MB refused in {t10:.3f} s / {t50:.3f} s (best of 3; "
          f"{rate:.0f} MB/s for 50 MB, target > 100) {'OK' if rate > 100 else 'MISSED'}")
    t_inst, t_wall, t_cpu = dc_loop_speed()
    print(f"  DC loop 12 001 points (in-process): {t_inst:.0f} s of instrument time in "
          f"{t_wall:.2f} s wall ({t_inst / t_wall:.0f}x real time), {t_cpu:.2f} s CPU "
          f"({t_inst / t_cpu:.0f}x)")
    return {"round_trip_ms": med, "command_ms": cmd, "fetch_65536_s": t_fetch,
            "unterminated_50mb_s": t50, "dc_loop_x_real_time": t_inst / t_wall}


if __name__ == "__main__":
    main()
