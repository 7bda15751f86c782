"""``labapp gui``: the probe-station window."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the probe-station window",
                       description="Open the GUI (simulated 4200A by default).")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sim", action="store_true", help="use the simulated 4200A (default)")
    g.add_argument("--resource", metavar="RES", help="VISA resource of a real 4200A")
    p.add_argument("--screenshot", type=Path, metavar="FILE.png",
                   help="render the window to FILE.png after --after seconds and exit")
    p.add_argument("--after", type=float, default=1.0, metavar="SECONDS")
    p.add_argument("--run", action="store_true", help="start a DC sweep on opening")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from PyQt6 import QtCore, QtWidgets

    from labapp.gui.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    window = MainWindow(resource=args.resource)
    window.show()
    if args.run:
        window.start_run()
    if args.screenshot:
        def shoot() -> None:
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(args.screenshot))
            print(args.screenshot)
            app.quit()

        QtCore.QTimer.singleShot(int(args.after * 1000), shoot)
    return app.exec()
