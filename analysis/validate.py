"""Moved: the run-file checks (``labapp validate``) live in :mod:`labcore.validate`.

This module re-exports them so that scripts importing ``analysis.validate`` keep working;
new code imports :mod:`labcore.validate`.
"""

from labcore.validate import *  # noqa: F403
