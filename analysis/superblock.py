"""Moved: the HDF5 superblock's end-of-file address and its repair live in
:mod:`labcore.superblock`.

This module re-exports them so that scripts importing ``analysis.superblock`` keep working;
new code imports :mod:`labcore.superblock`.
"""

from labcore.superblock import *  # noqa: F403
