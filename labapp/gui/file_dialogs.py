"""File dialogs that hand the chosen path on; a cancelled dialog does nothing."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6 import QtWidgets


def open_file(parent: QtWidgets.QWidget, title: str, filters: str,
              then: Callable[[str], object]) -> None:
    """Ask for an existing file; ``then(path)`` when one was chosen."""
    path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, title, "", filters)
    if path:
        then(path)


def save_file(parent: QtWidgets.QWidget, title: str, filters: str,
              then: Callable[[str], object]) -> None:
    """Ask where to save; ``then(path)`` when a place was chosen."""
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, title, "", filters)
    if path:
        then(path)
