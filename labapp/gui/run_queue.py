"""Run-control panel: Run / Stop / Abort and the run queue (add, reorder, remove).

Widgets only; the window wires the buttons to :class:`~labapp.gui.run_controller.RunController`.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from labapp.gui.run_controller import QueueItem


class RunPanel(QtWidgets.QGroupBox):
    """Buttons and the queue list; the list shows each item's status as it runs."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Run", parent)
        self.items: list[QueueItem] = []
        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.setToolTip("run the protocol in the form now")
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.setToolTip("finish the current step, then end the run (status stopped)")
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("hold at the next step (outputs as the protocol left "
                                     "them, nothing sent); press again to resume the same "
                                     "run (also: SIGUSR1 / SIGUSR2)")
        self.abort_button = QtWidgets.QPushButton("Abort")
        self.abort_button.setToolTip("end the run now: outputs to 0 V and off "
                                     "(status aborted, data so far kept)")
        self.abort_button.setStyleSheet("QPushButton:enabled { color: white; "
                                        "background: #c0392b; font-weight: bold }")
        self.add_button = QtWidgets.QPushButton("Add to queue")
        self.up_button = QtWidgets.QPushButton("Up")
        self.down_button = QtWidgets.QPushButton("Down")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.run_queue_button = QtWidgets.QPushButton("Run queue")
        self.stop_on_error = QtWidgets.QCheckBox("stop on error")
        self.stop_on_error.setChecked(True)
        self.stop_on_error.setToolTip("a failed run ends the queue (stop and abort always do)")
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("run_queue")
        self.list.setMaximumHeight(120)
        self.output = QtWidgets.QLineEdit("runs/gui.h5")
        self.output.setToolTip("run file (HDF5); each run is added to it as a new run")
        self.browse_button = QtWidgets.QPushButton("…")
        self.browse_button.setMaximumWidth(30)

        lay = QtWidgets.QVBoxLayout(self)
        out_row = QtWidgets.QHBoxLayout()
        out_row.addWidget(QtWidgets.QLabel("File"))
        out_row.addWidget(self.output, 1)
        out_row.addWidget(self.browse_button)
        lay.addLayout(out_row)
        row = QtWidgets.QHBoxLayout()
        for b in (self.run_button, self.pause_button, self.stop_button, self.abort_button):
            row.addWidget(b)
        lay.addLayout(row)
        lay.addWidget(self.list)
        qrow = QtWidgets.QHBoxLayout()
        for b in (self.add_button, self.up_button, self.down_button, self.remove_button):
            qrow.addWidget(b)
        lay.addLayout(qrow)
        qrow2 = QtWidgets.QHBoxLayout()
        qrow2.addWidget(self.run_queue_button)
        qrow2.addWidget(self.stop_on_error)
        lay.addLayout(qrow2)
        self.up_button.clicked.connect(lambda: self.move(-1))
        self.down_button.clicked.connect(lambda: self.move(+1))
        self.remove_button.clicked.connect(self.remove_selected)
        self.browse_button.clicked.connect(self._browse)
        self.set_running(False)

    # -- queue editing ------------------------------------------------------------------
    def add(self, item: QueueItem) -> None:
        self.items.append(item)
        self.refresh()
        self.list.setCurrentRow(len(self.items) - 1)

    def move(self, delta: int) -> None:
        row = self.list.currentRow()
        new = row + delta
        if row < 0 or not 0 <= new < len(self.items):
            return
        self.items[row], self.items[new] = self.items[new], self.items[row]
        self.refresh()
        self.list.setCurrentRow(new)

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.items):
            del self.items[row]
            self.refresh()
            self.list.setCurrentRow(min(row, len(self.items) - 1))

    def refresh(self) -> None:
        """Redraw the list from :attr:`items` (statuses change while the queue runs)."""
        row = self.list.currentRow()
        self.list.clear()
        for n, item in enumerate(self.items, 1):
            w = QtWidgets.QListWidgetItem(f"{n}. {item.describe()}")
            if item.status in ("failed", "aborted"):
                w.setForeground(QtCore.Qt.GlobalColor.red)
            self.list.addItem(w)
        if 0 <= row < len(self.items):
            self.list.setCurrentRow(row)

    def reset_statuses(self) -> None:
        for item in self.items:
            item.status, item.result = "queued", None
        self.refresh()

    # -- state --------------------------------------------------------------------------
    def set_running(self, running: bool, connected: bool = True, form_valid: bool = True) -> None:
        """Enable what makes sense: Run needs a valid form (not connected: Run connects to
        the chosen instrument first), and says in its tooltip why it is disabled."""
        self.run_button.setEnabled(form_valid and not running)
        self.run_queue_button.setEnabled(bool(self.items) and not running)
        if running:
            tip = "a run is in progress"
        elif not form_valid:
            tip = "fix the flagged protocol parameters first"
        elif not connected:
            tip = "run the protocol in the form (connects to the chosen instrument first)"
        else:
            tip = "run the protocol in the form"
        self.run_button.setToolTip(tip)
        self.add_button.setEnabled(form_valid)
        for b in (self.up_button, self.down_button, self.remove_button):
            b.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.pause_button.setEnabled(running)
        if not running:
            self.show_paused(False)
        self.abort_button.setEnabled(running)
        self.output.setEnabled(not running)

    def show_paused(self, paused: bool) -> None:
        """The pause button as the run's state: "Resume" (checked) while paused."""
        blocked = self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.blockSignals(blocked)

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Run file", self.output.text(), "Run file (*.h5)",
            options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.output.setText(path)
