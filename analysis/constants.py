"""Moved: the physical constants live in :mod:`labcore.constants`.

This module re-exports them so that scripts importing ``analysis.constants`` keep working;
new code imports :mod:`labcore.constants`.
"""

from labcore.constants import *  # noqa: F403
