"""Status-bar widgets: message, progress, ETA and the compliance indicator."""

from __future__ import annotations

from PyQt6 import QtWidgets

OK_STYLE = "padding: 1px 6px; border-radius: 3px; background: #d5f5e3; color: #145a32"
HIT_STYLE = "padding: 1px 6px; border-radius: 3px; background: #c0392b; color: white; " \
            "font-weight: bold"
IDLE_STYLE = "padding: 1px 6px; color: #777"
SIM_STYLE = "padding: 1px 6px; border-radius: 3px; background: #f5b041; color: black; " \
            "font-weight: bold"
REAL_STYLE = "padding: 1px 6px; color: #145a32"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA –"
    s = int(round(seconds))
    if s >= 3600:
        return f"ETA {s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"ETA {s // 60} min {s % 60:02d} s"
    return f"ETA {s} s"


class RunStatus:
    """Owns the widgets it adds to a ``QStatusBar``."""

    def __init__(self, bar: QtWidgets.QStatusBar) -> None:
        self.bar = bar
        self.message = QtWidgets.QLabel("ready")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p %")
        self.eta = QtWidgets.QLabel(format_eta(None))
        self.compliance = QtWidgets.QLabel("compliance –")
        self.compliance.setObjectName("compliance_badge")
        self.compliance.setToolTip("during a run: red while the latest measured points hit "
                                   "the current compliance; grey when no run is active")
        self.compliance.setStyleSheet(IDLE_STYLE)
        self.source = QtWidgets.QLabel("not connected")
        self.source.setToolTip("the instrument the next run uses: data from the simulator "
                               "are marked SIMULATED in the run file, CSV, figures and tables")
        self.source.setStyleSheet(IDLE_STYLE)
        bar.addWidget(self.message, 1)
        bar.addPermanentWidget(self.source)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.eta)
        bar.addPermanentWidget(self.compliance)
        self.set_progress(0.0)

    def set_source(self, simulated: bool | None, text: str = "") -> None:
        """Which instrument is connected: SIMULATED (highlighted), a real one, or none."""
        if simulated is None:
            self.source.setText("not connected")
            self.source.setStyleSheet(IDLE_STYLE)
        elif simulated:
            self.source.setText(text or "SIMULATED")
            self.source.setStyleSheet(SIM_STYLE)
        else:
            self.source.setText(text or "4200A")
            self.source.setStyleSheet(REAL_STYLE)

    def set_message(self, text: str) -> None:
        self.message.setText(text)

    def set_progress(self, fraction: float) -> None:
        self.progress.setValue(int(round(1000 * min(max(fraction, 0.0), 1.0))))

    def set_eta(self, seconds: float | None) -> None:
        self.eta.setText(format_eta(seconds))

    def set_compliance(self, hit: bool | None) -> None:
        if hit is None:
            self.compliance.setText("compliance –")
            self.compliance.setStyleSheet(IDLE_STYLE)
        elif hit:
            self.compliance.setText("IN COMPLIANCE")
            self.compliance.setStyleSheet(HIT_STYLE)
        else:
            self.compliance.setText("compliance ok")
            self.compliance.setStyleSheet(OK_STYLE)
