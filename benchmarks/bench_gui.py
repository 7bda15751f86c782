"""GUI responsiveness with 10^6 and 10^7 points on screen while 10^4 samples/s stream in.

Offscreen Qt (``QT_QPA_PLATFORM=offscreen``), the real :class:`MainWindow`, once per size
of ``--points`` (default 10^6 and 10^7: long retention, endurance and PMU captures reach
10^7):

1. the points are put on screen first (a synthetic QC sweep fed through the live-plot
   record path: the I-V, G/G0-V and G/G0-time plots each hold that many points);
2. samples then stream in at 10^4 per second, from one of two sources:

   * ``replay`` — DC-sweep records measured beforehand on the simulator are handed to
     the window's record queue (the engine consumer's path) by a thread at exactly the
     target rate, in 200-sample records (50 records/s). This isolates the GUI: the
     figures say whether the window keeps up with 10^4 samples/s.
   * ``engine`` — a real run: ``labapp sim-server`` in its own process, the window's
     run engine talking to it over pyvisa and a loopback socket, the simulator paced
     for 10^4 samples/s. The delivered rate is printed; on a small machine the
     simulator and driver may deliver less than asked (their limit, not the GUI's).

3. while samples stream, a 10 ms precise timer measures event-loop latency (how late
   each tick fires) and event filters count the repaints of each live plot;
4. ``replay, zoomed``: the same with the user zoomed into the middle fifth of every
   live plot (clip-to-view at full resolution while data stream in).

Prints per source: samples/s delivered, event-loop latency p50/p99/max (target p99 <
50 ms), plot refresh rate = repaints per second of the slowest live plot (target >= 20
per second), the process's CPU use during the measurement (in % of one core: what the
window costs, less dependent on other load on the machine than the latencies) and its
peak memory. Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py``
(``--points 1e7`` for one size).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PyQt6 import QtCore, QtWidgets  # noqa: E402

from labapp.gui.main_window import MainWindow  # noqa: E402
from labapp.instrument_choice import connect
from protocols import DCSweep, Record, RunEngine  # noqa: E402
from tests.support.synthetic import sweep_samples  # noqa: E402

SHORT_POINT_S = 0.1 / 60  # one 0.1 PLC point of instrument time
# 400-point tests: data reach the window 25 times a second at 10^4 samples/s (a test
# returns its data when it ends, as on the instrument)
SWEEP = {"step": "0.005", "integration": "short", "v_set": "2", "v_reset": "2",
         "points_per_test": "400"}


class PaintCounter(QtCore.QObject):
    """Counts paint events of a widget (a plot view's viewport)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if event.type() == QtCore.QEvent.Type.Paint:
            self.count += 1
        return False


#: samples per record while filling: one instrument test's worth (a full KXCI list)
FILL_RECORD = 4096


def preload(window, n_points: int, seed: int = 0) -> float:
    """Put ``n_points`` on screen through the live-plot record path, in records of
    :data:`FILL_RECORD` samples as a run delivers them; returns the slowest record's
    ``feed`` time in ms (storage growth must not stall the window at 10^7 points)."""
    rng = np.random.default_rng(seed)
    s = sweep_samples(rng, cycles=max(1, n_points // 1600 + 1), step=0.005, v_max=2.0)
    n = min(n_points, s["voltage_V"].size)
    worst = 0.0
    for start in range(0, n, FILL_RECORD):
        part = slice(start, min(n, start + FILL_RECORD))
        record = {k: v[part] for k, v in s.items()}
        t0 = time.perf_counter()
        window.plots.feed("samples", record)
        worst = max(worst, time.perf_counter() - t0)
    window.plots.refresh()
    return 1e3 * worst


def keep_preloaded(window, n0: int) -> None:
    """A run's "start" clears the live plots; put the preloaded points back at once."""
    original = window.plots.clear

    def clear_and_reload() -> None:
        original()
        preload(window, n0)

    window.plots.clear = clear_and_reload


class TaskCpu:
    """GUI-thread CPU time of each refresh tick and each plot repaint while installed.

    On a free core the event loop is late by at most the longest such task, so their
    CPU times bound the latency whatever else the machine runs (wall-clock lateness
    also counts the time the process waits for a core).
    """

    def __init__(self, window) -> None:
        self.window, self.pg, self.times = window, pg, []

    def _timed(self, fn):
        def run(*a, **k):
            c0 = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                self.times.append(time.thread_time() - c0)
        return run

    def __enter__(self) -> TaskCpu:
        self._tick, self._paint = self.window.tick, self.pg.GraphicsView.paintEvent
        self.window.timer.timeout.disconnect(self._tick)
        self.window.timer.timeout.connect(self._timed(self._tick))
        self.pg.GraphicsView.paintEvent = self._timed(self._paint)
        return self

    def __exit__(self, *exc) -> None:
        self.window.timer.timeout.disconnect()
        self.window.timer.timeout.connect(self._tick)
        self.pg.GraphicsView.paintEvent = self._paint


def measure(app, window, seconds: float) -> dict:
    """Latency and repaints while the event loop runs for ``seconds``."""
    counters = [PaintCounter() for _ in window.plots.views[:3]]
    for view, counter in zip(window.plots.views, counters, strict=False):
        view.viewport().installEventFilter(counter)
    lateness: list[float] = []
    last = [time.perf_counter()]
    tick = QtCore.QTimer()
    tick.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    tick.setInterval(10)

    def on_tick() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, now - last[0] - 0.010))
        last[0] = now

    tick.timeout.connect(on_tick)
    pts0 = window.plots.n_points
    last[0] = time.perf_counter()
    tick.start()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    gui0 = time.thread_time()  # this (the GUI) thread only
    draws0 = window.plots.refresh_count
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    with TaskCpu(window) as tasks:
        loop.exec()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    gui_cpu = time.thread_time() - gui0
    draws = max(1, window.plots.refresh_count - draws0)
    tick.stop()
    for view, counter in zip(window.plots.views, counters, strict=False):
        view.viewport().removeEventFilter(counter)
    lat = np.array(lateness) * 1e3
    return {"rate": (window.plots.n_points - pts0) / elapsed, "elapsed": elapsed,
            "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
            "max": float(lat.max()), "ticks": lat.size,
            "refresh": min(c.count for c in counters) / elapsed,
            "points": window.plots.n_points, "cpu": 100 * cpu / elapsed,
            "gui_ms": 1e3 * gui_cpu / draws, "draws": draws,
            "task_p99": 1e3 * float(np.percentile(tasks.times, 99)) if tasks.times else 0.0,
            "task_max": 1e3 * max(tasks.times, default=0.0),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def report(source: str, m: dict, target: float) -> None:
    print(f"[{source}] points on screen {m['points']:,}; streamed {m['rate']:,.0f} samples/s "
          f"(asked {target:,.0f})")
    print(f"[{source}] event-loop latency: p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms, "
          f"max {m['max']:.1f} ms over {m['ticks']} ticks (target p99 < 50 ms)")
    print(f"[{source}] plot refresh rate: {m['refresh']:.1f} repaints/s of the slowest live "
          f"plot (target >= 20/s)")
    print(f"[{source}] GUI-thread CPU per refresh (records in, plots redrawn and painted): "
          f"{m['gui_ms']:.1f} ms over {m['draws']} refreshes, i.e. up to "
          f"{1e3 / m['gui_ms']:.0f} refreshes/s on a free core (independent of other load)")
    print(f"[{source}] longest GUI-thread task (a refresh or one plot's repaint), CPU: p99 "
          f"{m['task_p99']:.1f} ms, max {m['task_max']:.1f} ms: the event-loop latency on a "
          f"free core (target < 50 ms)")
    print(f"[{source}] process CPU {m['cpu']:.0f} % of one core (all threads, incl. the "
          f"feeder); peak memory {m['rss_mb']:,.0f} MB")


def zoom_in(window, lo: float = 0.4, hi: float = 0.6) -> None:
    """As a user would: zoom every live plot into the middle of its x range."""
    for trace in window.plots.traces:
        vb = trace.plot.getViewBox()
        (x0, x1), _ = vb.viewRange()
        vb.setXRange(x0 + lo * (x1 - x0), x0 + hi * (x1 - x0), padding=0)
        trace.follow = False  # what sigRangeChangedManually sets on a mouse zoom


def recorded_sweep(n_min: int) -> list[dict]:
    """DC-sweep records measured on the (unpaced) simulator, at least ``n_min`` samples."""
    records: list[dict] = []
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_gui_rec_{os.getpid()}.h5"
    cycles = int(np.ceil(n_min / 1600))
    RunEngine(connect(sim=True, seed=3)).run(
        DCSweep(step=0.005, integration="short", v_set=2.0, v_reset=2.0, cycles=cycles), out,
        [lambda kind, p: records.append(dict(p.data))
         if kind == "record" and p.stream == "samples" else None])
    out.unlink(missing_ok=True)
    cols = {k: np.concatenate([r[k] for r in records]) for k in records[0]}
    return [cols]


def run_replay(app, window, args, zoomed: bool = False) -> dict:
    cols = recorded_sweep(20_000)[0]
    n = cols["voltage_V"].size
    chunk = int(args.rate / 50)  # 50 records per second: more often than the 25 Hz refresh
    stop = threading.Event()

    def feeder() -> None:
        k, t_next, t_shift = 0, time.perf_counter(), 0.0
        while not stop.is_set():
            idx = np.arange(k, k + chunk) % n
            data = {c: v[idx] for c, v in cols.items()}
            data["time_s"] = data["time_s"] + t_shift + (k // n) * float(cols["time_s"][-1])
            window.controller.inbox.append(("record", Record("samples", data)))
            k += chunk
            t_next += chunk / args.rate
            time.sleep(max(0.0, t_next - time.perf_counter()))

    thread = threading.Thread(target=feeder, daemon=True)
    thread.start()
    try:
        if zoomed:
            zoom_in(window)
            t0 = time.perf_counter()
            window.tick()  # the zoom's own redraw (a user action, once), then streaming
            print(f"[zoom] first redraw after zooming in: "
                  f"{1e3 * (time.perf_counter() - t0):.0f} ms")
        return measure(app, window, args.seconds)
    finally:
        stop.set()
        thread.join(5)


def run_engine(app, window_factory, args, n0: int) -> dict:
    speed = args.rate * SHORT_POINT_S * args.overhead
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "labapp.cli", "sim-server", "--port",
                               str(port), "--seed", "1", "--sim-speed", f"{speed:g}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # bounded wait for the server to listen
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        window = window_factory(f"TCPIP::127.0.0.1::{port}::SOCKET")
        preload(window, n0)
        keep_preloaded(window, n0)
        window.connection.connect_button.click()
        window.connection.wait_done(15)
        if window.instrument is None:
            raise RuntimeError("no simulator: " + window.connection.error_label.text())
        form = window.protocols.select("dc-sweep")
        cycles = int(np.ceil(args.rate * args.overhead * (args.seconds + 10) / 1600))
        for name, text in {**SWEEP, "cycles": str(cycles)}.items():
            form.editors[name].set_text(text)
        if not window.start_run():
            raise RuntimeError("run did not start: " + window.status.message.text())
        deadline = time.perf_counter() + 2.0  # let the run get going
        while time.perf_counter() < deadline:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
        m = measure(app, window, args.seconds)
        window.abort_run("benchmark finished")
        window.wait_idle(15)
        window.request_close("benchmark finished")
        return m
    finally:
        server.terminate()
        server.wait(10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", default="1e6,1e7",
                    help="points on screen first; a comma-separated list runs each size")
    ap.add_argument("--rate", type=float, default=1e4, help="streamed samples per second")
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring time per source")
    ap.add_argument("--source", choices=("replay", "engine", "both"), default="both")
    ap.add_argument("--overhead", type=float, default=3.3,
                    help="engine source: simulator speed-up over the nominal rate, making up "
                         "for the ~20 command round trips of each 400-point test")
    # called by ``python -m benchmarks`` (whose own arguments are not ours): defaults
    args = ap.parse_args([] if argv is None and __name__ != "__main__" else argv)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    out = tmp / f"bench_gui_{os.getpid()}.h5"

    def make_window(resource: str | None = None) -> MainWindow:
        w = MainWindow(output=out, resource=resource, seed=1)
        w.resize(1500, 950)
        w.show()
        app.processEvents()
        return w

    results = {}
    for size in (int(float(p)) for p in str(args.points).split(",")):
        tag = f"{size:.0e}".replace("+0", "")
        print(f"-- {size:,} points on screen")
        if args.source in ("replay", "both"):
            window = make_window()
            worst = preload(window, size)
            print(f"[{tag} fill] slowest of {size // FILL_RECORD + 1:,} records of "
                  f"{FILL_RECORD} samples while filling: {worst:.1f} ms")
            for zoomed in (False, True):
                name = f"{tag} replay" + (", zoomed" if zoomed else "")
                results[name] = run_replay(app, window, args, zoomed)
                report(name, results[name], args.rate)
            window.request_close("benchmark finished")
            window.deleteLater()
            app.processEvents()
        if args.source in ("engine", "both"):
            results[f"{tag} engine"] = run_engine(app, make_window, args, size)
            report(f"{tag} engine", results[f"{tag} engine"], args.rate)
    out.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
