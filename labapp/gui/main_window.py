"""Main window: connect, run a DC sweep in a worker thread, watch G/G0 arrive live."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from analysis.conductance import conductance_g0
from protocols import DCSweep, RunEngine, connect


class MainWindow(QtWidgets.QMainWindow):
    """A first window: one protocol, one live plot; the GUI issue grows it."""

    def __init__(self, resource: str | None = None, output: Path = Path("runs/gui.h5")):
        super().__init__()
        self.setWindowTitle("labapp — 4200A-SCS QC memristor")
        self.resource = resource
        self.output = output
        self.engine: RunEngine | None = None
        self._queue: queue.Queue = queue.Queue()
        self._v: list[np.ndarray] = []
        self._g: list[np.ndarray] = []
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        bar = QtWidgets.QHBoxLayout()
        self.run_button = QtWidgets.QPushButton("Run DC sweep")
        self.abort_button = QtWidgets.QPushButton("Abort")
        self.abort_button.setEnabled(False)
        self.status = QtWidgets.QLabel("simulated 4200A" if resource is None else resource)
        bar.addWidget(self.run_button)
        bar.addWidget(self.abort_button)
        bar.addWidget(self.status, 1)
        layout.addLayout(bar)
        self.plot = pg.PlotWidget(labels={"left": "G/G0", "bottom": "Voltage (V)"})
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        for k in range(1, 51):
            line = pg.InfiniteLine(pos=k / 2, angle=0,
                                   pen=pg.mkPen((150, 150, 150), style=QtCore.Qt.PenStyle.DashLine))
            self.plot.addItem(line)
        self.curve = self.plot.plot([], [], pen=None, symbol="o", symbolSize=3)
        layout.addWidget(self.plot)
        self.setCentralWidget(central)
        self.resize(900, 600)
        self.run_button.clicked.connect(self.start_run)
        self.abort_button.clicked.connect(self.abort_run)
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(50)  # <= 20 Hz refresh
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    def start_run(self) -> None:
        instrument = connect(self.resource) if self.resource else connect(sim=True, seed=1)
        self.engine = RunEngine(instrument)
        protocol = DCSweep(step=0.005)
        self._v.clear()
        self._g.clear()
        self.run_button.setEnabled(False)
        self.abort_button.setEnabled(True)

        def consumer(kind, payload):
            self._queue.put((kind, payload))

        threading.Thread(target=self.engine.run, args=(protocol, self.output, [consumer]),
                         daemon=True).start()

    def abort_run(self) -> None:
        if self.engine is not None:
            self.engine.abort("aborted from the GUI")

    def refresh(self) -> None:
        changed = False
        while True:
            try:
                kind, payload = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "record" and payload.stream == "samples":
                d = payload.data
                self._v.append(np.asarray(d["voltage_V"]))
                self._g.append(conductance_g0(d["voltage_V"], d["current_A"]))
                changed = True
            elif kind == "stop":
                self.status.setText(f"run {payload.run_id}: {payload.status}")
                self.run_button.setEnabled(True)
                self.abort_button.setEnabled(False)
        if changed:
            self.curve.setData(np.concatenate(self._v), np.abs(np.concatenate(self._g)))
