"""Moved: the run file's writer lock live in :mod:`labcore.runlock`.

This module re-exports them so that scripts importing ``analysis.runlock`` keep working;
new code imports :mod:`labcore.runlock`.
"""

from labcore.runlock import *  # noqa: F403
