"""What the simulated SMU adds to a reading: range, resolution, seeded noise, compliance.

Held to: autorange floor 100 nA (1 nA with a preamplifier) and ``RG`` [M 5-42], ``RI``
fixed range [M 5-42], integration time ``IT`` [M 5-40], the 105 % over-range of a range
[M 5-32, 5-33], status letter ``C`` [M 3-1], and the resolution per range of the SMU
datasheet tables transcribed in ``sim_backend/smu_noise.py``. Noise σ = 2 resolution steps
at 1 PLC (the simulator's stated assumption), scaling 1/√PLC. Tolerances are fixed from
the sample size before running: the standard deviation of n = 400 Gaussian readings has a
relative spread of 1/√(2n) = 3.5 %, so ±15 % is a > 4σ band.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim_backend.smu_noise import I_RESOLUTION, NOISE_LSB

QUANT = 1 / np.sqrt(12)  # rounding to the resolution adds res/√12 of spread


def samples(e, smu: int, it: str = "IT2", extra=(), n: int = 400) -> np.ndarray:
    """NR readings of SMU ``smu`` holding 0 V on open terminals (sampling mode)."""
    for m in ("BC", "DE CH1 CH2", f"CH{smu}, 'VX', 'IX', 1, 3", "SS", f"VC{smu}, 0, 1E-3",
              *extra, it, "SM", f"NR {n}", "IN 0.01", "MD", "ME1"):
        e.handle(m)
    assert e.handle(":ERROR:LAST:GET") == ""
    return np.array([float(x[1:]) for x in e.handle("DO 'IX'").split(",")])


def expected_std(res: float, plc: float) -> float:
    return float(np.hypot(NOISE_LSB * res / np.sqrt(plc), QUANT * res))


@pytest.mark.parametrize("it,plc", [("IT2", 1.0), ("IT3", 10.0)])
def test_open_circuit_reads_the_range_noise_at_its_resolution(make_ohmic_engine, it, plc):
    i = samples(make_ohmic_engine(noise=True, options=("SMU1", "SMU2")), 2, it)
    res = I_RESOLUTION[100e-9]  # the lowest autorange range without a preamp [M 5-42]
    assert np.allclose(i / res, np.round(i / res), atol=1e-6)  # multiples of 100 fA
    assert abs(i.mean()) < 5 * expected_std(res, plc) / np.sqrt(i.size)
    assert i.std() == pytest.approx(expected_std(res, plc), rel=0.15)


def test_preamp_floor_and_rg(make_ohmic_engine):
    e = make_ohmic_engine(noise=True)  # SMU2 has a 4200-PA
    i = samples(e, 2)
    res = I_RESOLUTION[1e-9]  # 1 nA: default floor with a preamplifier [M 5-42]
    assert i.std() == pytest.approx(expected_std(res, 1.0), rel=0.15)
    i = samples(e, 2, extra=("RG 2, 10E-12",))  # the manual's RG example [M 5-42]
    res = I_RESOLUTION[10e-12]
    assert i.std() == pytest.approx(expected_std(res, 1.0), rel=0.15)


def test_readings_are_seeded(make_ohmic_engine):
    a = samples(make_ohmic_engine(noise=True, seed=5), 2, n=50)
    b = samples(make_ohmic_engine(noise=True, seed=5), 2, n=50)
    c = samples(make_ohmic_engine(noise=True, seed=6), 2, n=50)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_autorange_resolution_follows_the_current(make_ohmic_engine):
    """1 V on 10 kΩ = 100 µA: the 100 µA range (105 % over-range) with 100 pA resolution,
    visible with 7 digits (``RS 7`` [M 5-43]; the default 5 digits print 10 nA steps)."""
    e = make_ohmic_engine(noise=True)
    e.handle("US")
    e.handle("RS 7")
    e.handle("DV1, 1, 1, 1E-3")
    r = np.array([float(e.handle("TI1")[3:]) for _ in range(200)])
    assert r.mean() == pytest.approx(1e-4, rel=1e-5)
    assert r.std() == pytest.approx(expected_std(100e-12, 1.0), rel=0.2)


def test_fixed_range_saturates_and_compliance_is_flagged(make_ohmic_engine):
    e = make_ohmic_engine(noise=True)
    for m in ("US", "RI 1, 10E-6, 1E-3", "DV1, 1, 1, 1E-3"):
        e.handle(m)
    assert float(e.handle("TI1")[3:]) == pytest.approx(10.5e-6, rel=1e-4)  # 105 % of 10 µA
    e.handle("RI 1, 1E-3, 1E-3")
    e.handle("DV1, 1, 2, 1E-4")  # 200 µA wanted, 100 µA allowed
    r = e.handle("TI1")
    assert r.startswith("CAI") and float(r[3:]) == pytest.approx(1e-4, rel=1e-4)
