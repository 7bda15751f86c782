"""Moved: safe opening of HDF5 files live in :mod:`labcore.h5files`.

This module re-exports them so that scripts importing ``analysis.h5files`` keep working;
new code imports :mod:`labcore.h5files`.
"""

from labcore.h5files import *  # noqa: F403
