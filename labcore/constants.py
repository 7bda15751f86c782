"""Physical constants: the one place the project defines them.

G0 is computed from the exact SI-2019 values of e and h rather than typed in, so
that every G/G0 value in the code base, the run files and the figures agrees to
the last digit (papers quote 77.5 uS, 77.48 uS or "12.91 kOhm^-1").

This module lives in ``labcore``, the lowest layer: it imports no Qt, no pyvisa and
no other labapp package, so the simulator, the drivers, the protocols, analysis and the
GUI can all import it.
"""

from __future__ import annotations

#: Elementary charge in C (exact, SI 2019).
E_CHARGE: float = 1.602176634e-19
#: Planck constant in J s (exact, SI 2019).
H_PLANCK: float = 6.62607015e-34
#: Boltzmann constant in J/K (exact, SI 2019).
K_BOLTZMANN: float = 1.380649e-23

#: Conductance quantum G0 = 2 e^2 / h in siemens (7.748091729e-5 S).
G0: float = 2.0 * E_CHARGE**2 / H_PLANCK
#: Resistance quantum 1 / G0 in ohm (12 906.40 Ohm).
R0: float = 1.0 / G0

__all__ = ["E_CHARGE", "H_PLANCK", "K_BOLTZMANN", "G0", "R0"]
