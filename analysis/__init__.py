"""Offline analysis of quantized-conductance measurements.

Pure numpy/scipy/h5py/matplotlib: no Qt, no pyvisa, no other labapp package.
Submodules are imported on demand so that ``from analysis.constants import G0``
stays cheap for the simulator and the drivers.
"""
