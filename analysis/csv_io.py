"""Moved: the CSV dialect: the one CSV writer and the reader live in :mod:`labcore.csv_io`.

This module re-exports them so that scripts importing ``analysis.csv_io`` keep working;
new code imports :mod:`labcore.csv_io`.
"""

from labcore.csv_io import *  # noqa: F403
