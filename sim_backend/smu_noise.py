"""What an SMU's A/D adds to a reading: range choice, resolution and seeded noise.

The simulated device returns the true V and I; the instrument reports them the way a
4200A SMU would:

* **Current range**: autorange picks the smallest range whose full scale (105 %) holds the
  reading, never below the ``RG`` lowest range (default 100 nA without a preamplifier,
  1 nA with one [M 5-42]); ``RI`` fixes the range [M 5-42]. A reading beyond 105 % of a
  fixed range saturates there. Voltage: the ``DV`` range, else the smallest of 20 V /
  200 V (200 mV / 2 V too with a preamplifier) that holds the reading.
* **Resolution**: each range's measure resolution (its least significant digit, table
  below); readings are rounded to it.
* **Noise**: Gaussian, σ = ``NOISE_LSB`` resolution steps at 1 PLC, scaling as
  1/√(PLC) with the integration time ``IT`` [M 5-40] (an A/D averages over its aperture).
  No Keithley document found gives a noise figure per range; ``NOISE_LSB`` = 2 is this
  simulator's assumption.

Sources, and what each figure rests on (held to them by ``tests/test_sim_instrument_figures.py``):

[S1] Keithley application note "Optimizing Low Current Measurements with the 4200A-SCS
     Parameter Analyzer", Introduction: with the 4200-PA remote preamplifier the 4200A-SCS
     measures current "with a resolution of 1E–16A"
     (https://studylib.net/doc/18125228/file). No range resolves finer: the 1 pA and 10 pA
     ranges have 100 aA here (recalled values of 10 aA and 30 aA were finer than that and
     are corrected).
[S2] 4200A-SCS Reference Manual 4200A-901-01 Rev. C, p. 3-6, and 4200A-SCS SMU User's
     Manual 4200A-SMU-900-01 Rev. A, p. 5-15: the 4200-SMU / 4201-SMU output up to 105 mA
     at 21 V (10.5 mA at 210 V), the 4210-SMU / 4211-SMU up to 1.05 A; "the current source
     limit line is at 105 mA on the 100 mA current source range" — the 105 % over-range
     (:data:`OVERRANGE`) and the 1 A range of the high-power cards only
     (https://manualshive.com/en/manual/keithley/4200a-scs/3969643?page=61,
     https://manualshive.com/en/manual/tektronix/keithley-4200-smu/1078017?page=98).
[M]  KXCI manual 5-32, 5-33, 5-42: the current and voltage ranges per card and preamp.

The per-range resolutions other than the [S1] floor were entered from memory of the
4200A-SCS datasheet's SMU tables. That datasheet (per-range measure resolution and
accuracy of the 4200-SMU, 4201-SMU, 4210-SMU, 4211-SMU and 4200-PA) could not be found in
any source the project can cite, so they remain unverified: 10⁻⁶ of full scale from
100 nA to 1 A (4201-SMU and 4211-SMU share the ranges and resolutions of the 4200-SMU and
4210-SMU):

========== ============== =====================================
range      resolution     available on / source
========== ============== =====================================
1 A        1 µA           4210/4211 only [S2]; resolution recalled
100 mA     100 nA         all; recalled
10 mA      10 nA          all; recalled
1 mA       1 nA           all; recalled
100 µA     100 pA         all; recalled
10 µA      10 pA          all; recalled
1 µA       1 pA           all; recalled
100 nA     100 fA         all; recalled
10 nA      10 fA          with 4200-PA; recalled
1 nA       1 fA           with 4200-PA; recalled
100 pA     300 aA         with 4200-PA; recalled
10 pA      100 aA         with 4200-PA; the [S1] floor
1 pA       100 aA         with 4200-PA; the [S1] floor
========== ============== =====================================

Voltage: 200 V range 200 µV, 20 V range 20 µV; with 4200-PA also 2 V (2 µV) and 200 mV
(1 µV) — recalled, unverified for the same reason.

Everything is drawn from one ``numpy`` generator seeded by the engine's seed, so a run is
reproducible; ``enabled=False`` gives exact readings (for tests of the wiring itself).
"""

from __future__ import annotations

import numpy as np

#: the finest current resolution of a 4200A-SCS (with the 4200-PA) [S1]
FINEST_I_RESOLUTION = 1e-16
#: current range full scale -> measure resolution (A) (table above; 1 pA / 10 pA: [S1])
I_RESOLUTION = {1.0: 1e-6, 100e-3: 100e-9, 10e-3: 10e-9, 1e-3: 1e-9, 100e-6: 100e-12,
                10e-6: 10e-12, 1e-6: 1e-12, 100e-9: 100e-15, 10e-9: 10e-15, 1e-9: 1e-15,
                100e-12: 300e-18, 10e-12: FINEST_I_RESOLUTION, 1e-12: FINEST_I_RESOLUTION}
#: voltage range full scale -> measure resolution (V) (recalled, see the module doc)
V_RESOLUTION = {200.0: 200e-6, 20.0: 20e-6, 2.0: 2e-6, 0.2: 1e-6}
#: noise σ in resolution steps at 1 PLC (simulator assumption, see the module docstring)
NOISE_LSB = 2.0
#: readings are accepted up to 105 % of a range's full scale [S2; M 5-32, 5-33]
OVERRANGE = 1.05
#: ``DV`` range code -> full scale (0 = auto) [M 5-33]
DV_RANGE = {1: 20.0, 2: 200.0, 3: 200.0, 4: 0.2, 5: 2.0}


def current_ranges(smu) -> list[float]:
    """The current ranges of this SMU, smallest first."""
    lowest = 1e-12 if smu.preamp else 100e-9
    top = 1.0 if smu.high_power else 100e-3
    return sorted(r for r in I_RESOLUTION if lowest * 0.999 <= r <= top * 1.001)


def voltage_ranges(smu) -> list[float]:
    """The voltage ranges of this SMU, smallest first (200 mV and 2 V need the preamp)."""
    return sorted(V_RESOLUTION) if smu is not None and smu.preamp else [20.0, 200.0]


def _lookup(table: dict[float, float], ranges: np.ndarray) -> np.ndarray:
    """Resolution of each range in ``ranges`` (vectorised dictionary lookup)."""
    keys = np.array(sorted(table))
    vals = np.array([table[k] for k in keys])
    idx = np.clip(np.searchsorted(keys, ranges * (1 - 1e-9)), 0, keys.size - 1)
    return vals[idx]


class SMUNoise:
    """Range, resolution and noise of SMU readings (seeded)."""

    def __init__(self, seed: int = 0, enabled: bool = True) -> None:
        self.enabled = enabled
        self.rng = np.random.default_rng([int(seed), 4200])

    def current_range(self, smu, values: np.ndarray) -> np.ndarray:
        """Range per reading: autorange (``RG`` floor) or the ``RI`` fixed range."""
        ranges = np.array(current_ranges(smu))
        fixed = getattr(smu, "fixed_i_range", 0.0)
        if fixed:
            return np.full(values.shape, ranges[np.argmin(np.abs(np.log(ranges / fixed)))])
        # default lowest autorange range: 100 nA, 1 nA with a preamplifier [M 5-42]
        floor = getattr(smu, "lowest_range", 0.0) or (1e-9 if smu.preamp else 100e-9)
        usable = ranges[ranges >= floor * 0.999]
        k = np.searchsorted(usable * OVERRANGE, np.abs(values), side="left")
        return usable[np.minimum(k, usable.size - 1)]

    def measure_i(self, smu, values: np.ndarray, plc: float) -> np.ndarray:
        """Current readings of ``smu`` for true currents ``values`` at ``plc``."""
        values = np.asarray(values, dtype=float)
        if not self.enabled or smu is None:
            return values
        rng = self.current_range(smu, values)
        return self._read(values, rng, _lookup(I_RESOLUTION, rng), plc)

    def measure_v(self, smu, values: np.ndarray, range_code: int = 0,
                  plc: float = 1.0) -> np.ndarray:
        """Voltage readings for true voltages ``values`` (``DV`` range code or auto)."""
        values = np.asarray(values, dtype=float)
        if not self.enabled:
            return values
        spans = np.array(voltage_ranges(smu))
        fixed = DV_RANGE.get(int(range_code)) or getattr(smu, "fixed_v_range", 0.0)
        if fixed:
            rng = np.full(values.shape, fixed)
        else:
            k = np.searchsorted(spans * OVERRANGE, np.abs(values), side="left")
            rng = spans[np.minimum(k, spans.size - 1)]
        return self._read(values, rng, _lookup(V_RESOLUTION, rng), plc)

    def _read(self, values, rng, res, plc) -> np.ndarray:
        sigma = NOISE_LSB * res / np.sqrt(max(plc, 0.01))
        noisy = values + sigma * self.rng.standard_normal(values.shape)
        noisy = np.clip(noisy, -OVERRANGE * rng, OVERRANGE * rng)
        return np.round(noisy / res) * res
