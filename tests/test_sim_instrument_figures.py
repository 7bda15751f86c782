"""The simulated instrument's figures held to the documents they are cited from.

References (the citations next to the tables in ``sim_backend/smu_noise.py`` and
``sim_backend/pmu_state.py``):

- [S1] Keithley application note "Optimizing Low Current Measurements with the 4200A-SCS
  Parameter Analyzer", Introduction: with the 4200-PA the 4200A-SCS measures current
  "with a resolution of 1E–16A" (https://studylib.net/doc/18125228/file).
- [S2] 4200A-SCS Reference Manual 4200A-901-01 Rev. C p. 3-6 / SMU User's Manual
  4200A-SMU-900-01 Rev. A p. 5-15: 4200/4201-SMU up to 105 mA, 4210/4211-SMU up to
  1.05 A; the current source limit line at 105 mA on the 100 mA range.
- [S3] 4200A-SCS Reference Manual 4200A-901-01 Rev. C p. 6-73, "Measure Current Range
  (PMU)": PMU-only ranges 10 mA, 200 mA (10 V source range) and 100 µA, 10 mA, 800 mA
  (40 V); with an RPM, 100 nA, 1 µA, 10 µA, 100 µA, 1 mA, 10 mA, 200 mA (10 V) and
  100 µA, 10 mA, 800 mA (40 V).
- [M] KXCI manual 5-32, 5-33: ``DI`` / ``DV`` range codes per card and preamp.

The values are exact transcriptions, so the comparisons are exact (relative 1e-12 for
floats written in two notations).
"""

from __future__ import annotations

import pytest

from sim_backend.kxci_channels import DI_SPAN, DV_SPAN, SMUChannel
from sim_backend.pmu_state import PMU_I_RANGES, RPM_I_RANGES
from sim_backend.smu_noise import (
    FINEST_I_RESOLUTION,
    I_RESOLUTION,
    OVERRANGE,
    V_RESOLUTION,
    current_ranges,
    voltage_ranges,
)

#: [S3], full scale in A, per PMU source range (V)
PMU_ONLY = {10: {10e-3, 200e-3}, 40: {100e-6, 10e-3, 800e-3}}
WITH_RPM = {10: {100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 200e-3},
            40: {100e-6, 10e-3, 800e-3}}


def same(a: set[float], b: set[float]) -> bool:
    return sorted(a) == pytest.approx(sorted(b), rel=1e-12)


def test_no_current_range_resolves_finer_than_the_4200a_does():
    """[S1]: 1E-16 A is the system's resolution with the preamplifier."""
    assert FINEST_I_RESOLUTION == 1e-16
    assert min(I_RESOLUTION.values()) == FINEST_I_RESOLUTION
    assert I_RESOLUTION[1e-12] == I_RESOLUTION[10e-12] == FINEST_I_RESOLUTION


def test_over_range_is_105_percent():
    """[S2]: 105 mA on the 100 mA range, 1.05 A on the 1 A range, 21 V on 20 V."""
    assert OVERRANGE == 1.05


@pytest.mark.parametrize("high_power,preamp", [(False, False), (True, False),
                                               (False, True), (True, True)])
def test_current_ranges_per_card_are_the_manuals(high_power, preamp):
    """[M 5-32] ``DI`` ranges: 100 nA..100 mA on every SMU, 1 A on the 4210/4211 only
    [S2], 1 pA..10 nA with a 4200-PA."""
    smu = SMUChannel(1, preamp=preamp, high_power=high_power)
    codes = {3, 4, 5, 6, 7, 8, 9} | ({10} if high_power else set()) | (
        {1, 2, 11, 12, 13} if preamp else set())
    assert same(set(current_ranges(smu)), {DI_SPAN[c] for c in codes})
    assert set(current_ranges(smu)) <= set(I_RESOLUTION)


@pytest.mark.parametrize("preamp", [False, True])
def test_voltage_ranges_per_card_are_the_manuals(preamp):
    """[M 5-33] ``DV`` ranges: 20 V and 200 V; 200 mV and 2 V with a 4200-PA."""
    smu = SMUChannel(1, preamp=preamp)
    codes = {1, 2} | ({4, 5} if preamp else set())
    assert same(set(voltage_ranges(smu)), {DV_SPAN[c] for c in codes})
    assert set(voltage_ranges(smu)) <= set(V_RESOLUTION)


@pytest.mark.parametrize("v_range", [10, 40])
def test_pmu_current_ranges_are_the_reference_manuals(v_range):
    """[S3]: the measure ranges of the 4225-PMU alone and with a 4225-RPM."""
    assert same(set(PMU_I_RANGES[v_range]), PMU_ONLY[v_range])
    assert same(set(RPM_I_RANGES[v_range]), WITH_RPM[v_range])
