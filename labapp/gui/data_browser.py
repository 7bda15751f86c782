"""Data browser: open run files, list their runs, show stored data and analysis views.

Reads files with :mod:`labcore.runfile` (SWMR-safe, so a file being written by a run
in progress can be browsed). The stored table is shown through a virtual table model:
rows are formatted only when the view asks for them, so a 10^6-row run opens at once.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from analysis.summary import RunAnalysis
from labapp.gui import file_dialogs
from labapp.gui.analysis_views import VIEW_NEEDS, VIEWS, NotApplicable, ViewResult
from labapp.gui.qt_wait import process_until
from labcore.csv_io import ordered, write_csv
from labcore.run_json import describe_run
from labcore.runfile import RunData, RunFileError, RunInfo, list_runs, read_run

log = logging.getLogger("labapp.gui.browser")

RUN_COLUMNS = ("run", "protocol", "status", "reason", "start (UTC)", "rows", "device",
               "sample", "operator")


class ArrayTableModel(QtCore.QAbstractTableModel):
    """Read-only table over equal-length numpy columns."""

    def __init__(self, columns: dict[str, np.ndarray] | None = None) -> None:
        super().__init__()
        self.set_columns(columns or {})

    def set_columns(self, columns: dict[str, np.ndarray]) -> None:
        self.beginResetModel()
        self.names = list(columns)
        self.cols = [np.asarray(columns[n]) for n in self.names]
        self.n = min((c.shape[0] for c in self.cols), default=0)
        self.endResetModel()

    def rowCount(self, parent: QtCore.QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else self.n

    def columnCount(self, parent: QtCore.QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.names)

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if role != QtCore.Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        v = self.cols[index.column()][index.row()]
        if isinstance(v, np.floating | float):
            return f"{float(v):.6g}"
        return str(v.item() if isinstance(v, np.generic) else v)

    def headerData(self, section: int, orientation: QtCore.Qt.Orientation,  # noqa: N802
                   role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if role != QtCore.Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == QtCore.Qt.Orientation.Horizontal:
            return self.names[section] if section < len(self.names) else None
        return str(section)


def _pad(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Equal-length float columns (shorter ones padded with NaN) for CSV export."""
    n = max((np.asarray(c).size for c in columns.values()), default=0)
    out = {}
    for k, c in columns.items():
        a = np.asarray(c, dtype=float).ravel()
        out[k] = np.concatenate((a, np.full(n - a.size, np.nan))) if a.size < n else a
    return out


class DataBrowser(QtWidgets.QWidget):
    """Files → runs → (metadata, stored data, analysis view)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.runs: list[RunInfo] = []
        self.run: RunData | None = None
        self.analysis: RunAnalysis | None = None
        self.result: ViewResult | None = None
        self._make_widgets()
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(self._file_row())
        split = QtWidgets.QSplitter()
        split.addWidget(self._runs_pane())
        split.addWidget(self._view_pane())
        split.setStretchFactor(1, 2)
        split.setSizes([400, 1000])
        lay.addWidget(split, 1)
        lay.addWidget(self.message)
        self._wire()
        self._job: tuple[int, threading.Thread, str, bool] | None = None
        self._token = 0
        self._poll = QtCore.QTimer(self)
        self._poll.setInterval(40)
        self._poll.timeout.connect(self._check_job)

    # -- layout ---------------------------------------------------------------------------
    def _make_widgets(self) -> None:
        self.open_button = QtWidgets.QPushButton("Open run file…")
        self.reload_button = QtWidgets.QPushButton("Reload")
        self.path_label = QtWidgets.QLabel("no file")
        self.runs_table = QtWidgets.QTableWidget(0, len(RUN_COLUMNS))
        self.runs_table.setObjectName("runs_table")
        self.runs_table.setHorizontalHeaderLabels(list(RUN_COLUMNS))
        self.runs_table.setSelectionBehavior(
            QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs_table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.runs_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs_table.horizontalHeader().setStretchLastSection(True)
        self.meta = QtWidgets.QPlainTextEdit()
        self.meta.setReadOnly(True)
        self.stream_box = QtWidgets.QComboBox()
        self.table_model = ArrayTableModel()
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.table_model)
        self.view_box = QtWidgets.QComboBox()
        self.view_box.setObjectName("analysis_view")
        self.view_box.addItems(list(VIEWS))
        self.polar_rule = QtWidgets.QComboBox()
        self.polar_rule.addItems(["paper", "spread"])
        self.polar_rule.setToolTip("paper: angle (i−1)π as paper 000 defines it; "
                                   "spread: variant 2π(i−1)/N")
        self.plot_widget = pg.PlotWidget(background="w")
        self.summary = QtWidgets.QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary.setMaximumHeight(110)
        self.export_png_button = QtWidgets.QPushButton("Export PNG…")
        self.export_csv_button = QtWidgets.QPushButton("Export CSV…")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)

    def _file_row(self) -> QtWidgets.QHBoxLayout:
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.reload_button)
        top.addWidget(self.path_label, 1)
        return top

    def _runs_pane(self) -> QtWidgets.QSplitter:
        """The runs table over the Metadata / Stored data tabs."""
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        left.addWidget(self.runs_table)
        tabs = QtWidgets.QTabWidget()
        tabs.addTab(self.meta, "Metadata")
        data_page = QtWidgets.QWidget()
        dl = QtWidgets.QVBoxLayout(data_page)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.stream_box)
        dl.addWidget(self.table)
        tabs.addTab(data_page, "Stored data")
        left.addWidget(tabs)
        return left

    def _view_pane(self) -> QtWidgets.QWidget:
        """The analysis view: its choice and exports, the plot, the summary."""
        right = QtWidgets.QWidget()
        rl = QtWidgets.QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        vrow = QtWidgets.QHBoxLayout()
        vrow.addWidget(QtWidgets.QLabel("View"))
        vrow.addWidget(self.view_box, 1)
        vrow.addWidget(QtWidgets.QLabel("polar rule"))
        vrow.addWidget(self.polar_rule)
        vrow.addWidget(self.export_png_button)
        vrow.addWidget(self.export_csv_button)
        rl.addLayout(vrow)
        rl.addWidget(self.plot_widget, 1)
        rl.addWidget(self.summary)
        return right

    def _wire(self) -> None:
        self.open_button.clicked.connect(self._open_dialog)
        self.reload_button.clicked.connect(self.reload)
        self.runs_table.itemSelectionChanged.connect(self._run_selected)
        self.stream_box.currentTextChanged.connect(self._show_stream)
        self.view_box.currentTextChanged.connect(lambda _: self.show_view())
        self.polar_rule.currentTextChanged.connect(lambda _: self.show_view())
        self.export_png_button.clicked.connect(self._export_png_dialog)
        self.export_csv_button.clicked.connect(self._export_csv_dialog)

    # -- files and runs -------------------------------------------------------------------
    def open_file(self, path: str | Path, run_id: str | None = None) -> bool:
        """List the runs of ``path`` and select ``run_id`` (default: the newest)."""
        p = Path(path)
        try:
            runs = list_runs(p)
        except (RunFileError, OSError) as exc:
            self._say(str(exc), error=True)
            return False
        self.path, self.runs = p, runs
        self.path_label.setText(str(p))
        self.runs_table.setRowCount(len(runs))
        for row, r in enumerate(runs):
            a = r.attrs
            cells = (r.run_id, r.protocol, r.effective_status, str(a.get("reason", "")),
                     r.start_utc, ", ".join(f"{k}: {v}" for k, v in r.rows.items()),
                     str(a.get("device_id", "")), str(a.get("sample", "")),
                     str(a.get("operator", "")))
            for col, text in enumerate(cells):
                self.runs_table.setItem(row, col, QtWidgets.QTableWidgetItem(text))
        self.runs_table.resizeColumnsToContents()
        self._say(f"{p}: {len(runs)} run(s)")
        if runs:
            ids = [r.run_id for r in runs]
            self.select_run(ids.index(run_id) if run_id in ids else len(runs) - 1)
        return True

    def reload(self) -> None:
        if self.path is not None:
            current = self.run.run_id if self.run else None
            self.run = None  # force a fresh read (the run may have grown)
            self.open_file(self.path, current)

    def select_run(self, row: int) -> None:
        self.runs_table.selectRow(row)
        self._run_selected()

    def _run_selected(self) -> None:
        rows = self.runs_table.selectionModel().selectedRows()
        if not rows or self.path is None:
            return
        info = self.runs[rows[0].row()]
        if self.run is not None and self.run.run_id == info.run_id:
            return
        try:
            self.run = read_run(self.path, info.run_id)
        except (RunFileError, OSError) as exc:
            self._say(str(exc), error=True)
            return
        self.analysis = RunAnalysis(self.run)
        self.meta.setPlainText(self._metadata_text(self.run))
        self.stream_box.blockSignals(True)
        self.stream_box.clear()
        self.stream_box.addItems(sorted(self.run.streams))
        self.stream_box.blockSignals(False)
        if "samples" in self.run.streams:
            self.stream_box.setCurrentText("samples")
        self._show_stream(self.stream_box.currentText())
        self.show_view()

    @staticmethod
    def _metadata_text(run: RunData) -> str:
        def block(title: str, d: dict[str, Any]) -> str:
            body = "\n".join(f"  {k}: {json.dumps(v, default=str)}" for k, v in sorted(d.items()))
            return f"{title}\n{body}"

        attrs = {k: v for k, v in run.attrs.items() if k != "traceback"}
        parts = [block("run", attrs), block("parameters", run.parameters),
                 block("safety profile", run.safety), block("instrument", run.instrument)]
        if run.attrs.get("traceback"):
            parts.append("traceback\n" + str(run.attrs["traceback"]))
        return "\n\n".join(parts)

    def _show_stream(self, name: str) -> None:
        cols = self.run.streams.get(name, {}) if self.run else {}
        self.table_model.set_columns(cols)

    # -- analysis views -----------------------------------------------------------------
    def set_view(self, name: str) -> None:
        if name not in VIEWS:
            raise KeyError(f"unknown view {name!r}; known: {', '.join(VIEWS)}")
        if self.view_box.currentText() == name:
            self.show_view()
        else:
            self.view_box.setCurrentText(name)

    @property
    def busy(self) -> bool:
        """An analysis is being computed for the chosen view."""
        return self._job is not None

    def show_view(self) -> None:
        """Compute (worker thread) and then draw the chosen view of the selected run.

        The window stays responsive while a slow analysis (a mixture fit with many
        peaks) runs; the plot shows "computing…" until the result is drawn.
        """
        self._token += 1
        self.result = None
        plot = self._reset_plot()
        if self.analysis is None:
            return
        name = self.view_box.currentText()
        plot.setTitle(f"{name}: computing…")
        if self._job is not None:
            # one analysis thread at a time: the running one finishes (its results are
            # cached), then _check_job starts the latest request
            self._job = (self._job[0], self._job[1], self._job[2], True)
            self._poll.start()
            return
        self._start_job(name)

    def _start_job(self, name: str) -> None:
        ra = self.analysis

        def work() -> None:
            for attr in VIEW_NEEDS.get(name, ()):
                try:
                    getattr(ra, attr)
                except Exception:  # noqa: BLE001 - raised again (and shown) when drawing
                    return

        thread = threading.Thread(target=work, name="labapp-analysis", daemon=True)
        self._job = (self._token, thread, name, False)
        thread.start()
        self._poll.start()

    def wait_view(self, timeout: float = 30.0) -> ViewResult | None:
        """Block (processing events) until the view is drawn; for scripts and tests."""
        process_until(lambda: self._job is None, timeout, self._check_job)
        return self.result

    def _check_job(self) -> None:
        job = self._job
        if job is None:
            self._poll.stop()
            return
        token, thread, name, superseded = job
        if thread.is_alive():
            return
        self._job = None
        self._poll.stop()
        if token == self._token and not superseded:
            self._draw(name)
        elif self.analysis is not None:
            self._start_job(self.view_box.currentText())

    def _reset_plot(self) -> pg.PlotItem:
        self.plot_widget.clear()
        plot = self.plot_widget.getPlotItem()
        plot.setLogMode(False, False)
        plot.setAspectLocked(False)
        plot.setTitle("")
        plot.enableAutoRange()
        plot.showGrid(x=True, y=True, alpha=0.2)
        return plot

    def _draw(self, name: str) -> None:
        plot = self._reset_plot()
        fn = VIEWS[name]
        try:
            if name == "Polar plot":
                self.result = fn(self.analysis, plot, rule=self.polar_rule.currentText())
            else:
                self.result = fn(self.analysis, plot)
        except (NotApplicable, RunFileError) as exc:
            plot.setTitle(f"{name}: not applicable")
            self.summary.setPlainText(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - an analysis error must not close the GUI
            log.exception("view %s failed", name)
            plot.setTitle(f"{name}: failed")
            self.summary.setPlainText(f"{type(exc).__name__}: {exc}")
            return
        self.summary.setPlainText(self.result.text)

    # -- export ---------------------------------------------------------------------------
    def export_png(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if not self.plot_widget.grab().save(str(p)):
            raise OSError(f"{p}: could not write PNG")
        self._say(f"saved {p}")
        return p

    def export_csv(self, path: str | Path) -> Path:
        """The data of the current view (or the stored stream) as CSV, with the run's
        metadata as a JSON sidecar beside it (the writer ``labapp export`` uses)."""
        if self.run is None:
            raise RunFileError("no run selected")
        stream = self.stream_box.currentText()
        meta = describe_run(self.run)
        if self.result and self.result.columns:
            cols, units = self.result.columns, {}
            meta["view"] = self.view_box.currentText()
        else:
            cols = ordered(self.run.streams.get(stream, {}))
            units = self.run.units.get(stream, {})
            meta["_stream"] = stream
        p = Path(path)
        write_csv(p, _pad(cols), units=units, metadata=meta)
        self._say(f"saved {p}")
        return p

    def _open_dialog(self) -> None:
        file_dialogs.open_file(self, "Open run file", "Run files (*.h5 *.hdf5);;All (*)",
                               self.open_file)

    def _export_png_dialog(self) -> None:
        file_dialogs.save_file(self, "Export PNG", "PNG (*.png)", self.export_png)

    def _export_csv_dialog(self) -> None:
        file_dialogs.save_file(self, "Export CSV", "CSV (*.csv)", self._export_csv_saying)

    def _export_csv_saying(self, path: str) -> None:
        try:
            self.export_csv(path)
        except (RunFileError, OSError) as exc:
            self._say(str(exc), error=True)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #c0392b" if error else "")
        self.message.setText(text)
        (log.error if error else log.info)(text)
