"""Offline analysis of quantized-conductance measurements.

Pure numpy/scipy/h5py/matplotlib on top of :mod:`labcore` (constants, run files): no Qt,
no pyvisa, no other labapp package. Submodules are imported on demand so that importing
one analysis stays cheap.
"""
