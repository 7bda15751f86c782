"""Moved: the run-file schema, writer and reader live in :mod:`labcore.runfile`.

This module re-exports them so that scripts importing ``analysis.runfile`` keep working;
new code imports :mod:`labcore.runfile`.
"""

from labcore.claim import reopen_after_crash as _reopen_after_crash  # noqa: F401
from labcore.runfile import *  # noqa: F403
