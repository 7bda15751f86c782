"""Moved: the JSON description of a run live in :mod:`labcore.run_json`.

This module re-exports them so that scripts importing ``analysis.run_json`` keep working;
new code imports :mod:`labcore.run_json`.
"""

from labcore.run_json import *  # noqa: F403
