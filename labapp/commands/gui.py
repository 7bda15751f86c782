"""``labapp gui``: the probe-station window.

``--screenshot FILE.png --after SECONDS`` renders the window (offscreen works) after the
given time and exits: with ``--run`` it shows a live run in progress, with ``--open``
and ``--tab browser --view NAME`` the data browser; README screenshots are made this way.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

from labapp.commands.run import run_file_path
from labapp.gui.qt_check import qt_start_problem
from labapp.instrument_choice import InstrumentChoice, choose
from protocols.parameters import parse_assignments
from protocols.registry import get_protocol

TABS = ("live", "browser")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the probe-station window",
                       description="Open the GUI. The instrument is chosen with --sim or "
                       "--resource, else $LABAPP_RESOURCE or the config file; the window "
                       "title says SIMULATED while the simulator is connected.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sim", action="store_true", help="use the simulated 4200A")
    g.add_argument("--resource", metavar="RES", help="VISA resource of a real 4200A")
    p.add_argument("--seed", type=int, default=None,
                   help="simulator seed (default: a fresh seed, shown in the window and "
                   "stored with every run)")
    p.add_argument("--sim-speed", type=float, default=None, metavar="X",
                   help="pace the simulator at X times real time (default: as fast as possible)")
    p.add_argument("-o", "--output", type=run_file_path, default=Path("runs/gui.h5"),
                   help="run file the window writes runs into (default runs/gui.h5)")
    p.add_argument("--protocol", metavar="NAME", help="protocol selected on opening")
    p.add_argument("--set", dest="assignments", action="append", default=[],
                   metavar="NAME=VALUE", help="set a parameter of --protocol in the form")
    p.add_argument("--preset", metavar="NAME|FILE.json",
                   help="load a preset on opening: a shipped name (see 'labapp presets') "
                   "or a preset file")
    p.add_argument("--run", action="store_true",
                   help="connect and start the protocol in the form on opening")
    p.add_argument("--open", type=Path, metavar="FILE.h5", help="open a run file in the browser")
    p.add_argument("--run-id", metavar="RUN", help="run to select in --open (default: newest)")
    p.add_argument("--tab", choices=TABS, default=None,
                   help="tab to show (default: browser with --open, else live)")
    p.add_argument("--view", metavar="NAME",
                   help="analysis view in the browser, e.g. 'Histogram + fit'")
    p.add_argument("--size", default="1500x950", metavar="WxH", help="window size")
    p.add_argument("--screenshot", type=Path, metavar="FILE.png",
                   help="render the window to FILE.png after --after seconds and exit")
    p.add_argument("--after", type=float, default=1.0, metavar="SECONDS")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    problem = qt_start_problem()  # Qt would abort the process, unexplained
    if problem:
        raise RuntimeError(problem)
    # deferred: Qt and pyqtgraph load only when the window opens (start-up time of every
    # other command)
    from PyQt6 import QtWidgets

    from labapp.gui.analysis_views import VIEWS

    problem = usage_problem(args, VIEWS)
    if problem:
        print(f"labapp gui: {problem}", file=sys.stderr)
        return 2
    values = {}
    if args.protocol:
        values = parse_assignments(get_protocol(args.protocol).params, args.assignments,
                                   args.protocol)
    # without a choice the window opens on the simulator (title and status bar say so once
    # connected) and says so in one line, as ``labapp run`` does
    choice = choose(args.sim, args.resource, args.seed, "labapp gui")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = open_window(args, choice, values)
    if args.screenshot:
        return screenshot(window, args.screenshot, args.after)
    with handle_signals(window) as signalled:
        code = app.exec()
    # like ``labapp run``: a run ended by a signal is not a success
    return 1 if signalled and window.closed_during_run else code


def window_size(text: str) -> tuple[int, int] | None:
    """``--size WxH`` as (width, height), None when it is not that."""
    try:
        width, height = (int(x) for x in text.lower().split("x"))
    except ValueError:
        return None
    return width, height


def usage_problem(args: argparse.Namespace, views) -> str | None:
    """What is wrong with ``--view`` or ``--size`` (one line), None when both are usable."""
    if args.view is not None and args.view not in views:
        return f"--view {args.view!r}: one of {', '.join(views)}"
    if window_size(args.size) is None:
        return f"--size {args.size!r}: WIDTHxHEIGHT, e.g. 1500x950"
    return None


def open_window(args: argparse.Namespace, choice: InstrumentChoice, values: dict):
    """The main window as the arguments ask: size, preset, protocol values, run file and
    view in the browser, tab, and a run started on opening."""
    # deferred: Qt loads only when the window opens (start-up time of every other command)
    from labapp.gui.main_window import MainWindow

    window = MainWindow(resource=choice.resource, output=args.output, seed=choice.seed,
                        sim_speed=args.sim_speed)
    window.resize(*window_size(args.size))
    if args.preset:
        window.protocols.load_file(args.preset)
    if args.protocol:
        window.protocols.select(args.protocol).set_values(values)
    window.show()
    if args.open:
        window.show_browser(args.open, args.view, args.run_id)
    elif args.view:
        window.browser.set_view(args.view)
    if args.tab:
        window.tabs.setCurrentIndex(TABS.index(args.tab))
    if args.run:
        window.tabs.setCurrentIndex(TABS.index(args.tab or "live"))
        window.connect_instrument(then_run=True)
    return window


def screenshot(window, path: Path, after: float) -> int:
    """Render the window to ``path`` after ``after`` seconds, then close it."""
    # deferred: Qt loads only when the window opens (start-up time of every other command)
    from PyQt6 import QtCore

    from labapp.gui.main_window import CLOSE_REASON

    # a local event loop, not app.exec()/app.quit(): the command can then also run
    # inside a process whose QApplication lives on (tests, scripts)
    loop = QtCore.QEventLoop()

    def shoot() -> None:
        window.browser.wait_view(30)  # an analysis view still computing is drawn first
        window.tick()
        path.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(path))
        print(path)
        # aborts a run in progress without asking (status aborted, reason recorded)
        window.request_close(CLOSE_REASON)
        loop.quit()

    QtCore.QTimer.singleShot(int(after * 1000), shoot)
    with handle_signals(window):
        loop.exec()
    return 0


@contextlib.contextmanager
def handle_signals(window):
    """SIGINT, SIGTERM and SIGHUP close the window: a run in progress is aborted with the
    signal as reason, the instrument put safe and the run file closed. SIGUSR1 pauses
    the run at its next step, SIGUSR2 resumes it (as in ``labapp run``)."""
    # deferred: Qt loads only when the window opens (start-up time of every other command)
    from labapp.gui.signals import ENDING, SignalBridge

    received: list[str] = []

    def end(sig) -> None:
        received.append(sig.name)
        window.request_close(f"interrupted by signal {sig.name}")

    actions = {**dict.fromkeys(ENDING, end),
               signal.SIGUSR1: lambda _sig: window.pause_run(),
               signal.SIGUSR2: lambda _sig: window.resume_run()}
    bridge = SignalBridge(actions, window).install()
    try:
        yield received
    finally:
        bridge.restore()
