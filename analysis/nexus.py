"""Moved: the run file's NeXus attributes and their checks live in :mod:`labcore.nexus`.

This module re-exports them so that scripts importing ``analysis.nexus`` keep working;
new code imports :mod:`labcore.nexus`.
"""

from labcore.nexus import *  # noqa: F403
