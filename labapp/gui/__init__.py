"""Probe-station GUI (PyQt6 + pyqtgraph). Qt lives only in this package."""
