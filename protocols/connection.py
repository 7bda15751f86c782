"""Opening the instrument: the simulator in-process, the simulator over loopback, or hardware."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.keithley4200 import Keithley4200A
from drivers.readings import CommunicationError


def connect(resource: str | None = None, *, sim: bool = False, seed: int = 0,
            speed: float | None = None, timeout_ms: int = 10000,
            simulator: Mapping[str, Any] | None = None) -> Keithley4200A:
    """Return a connected driver.

    ``sim=True`` builds a simulated 4200A in this process (same command strings, no
    socket); otherwise ``resource`` is a VISA resource such as
    ``TCPIP::192.168.0.10::1225::SOCKET`` or ``GPIB0::17::INSTR``. ``simulator`` is a
    run file's simulator description (``options``, ``series_ohms``, ``noise``): the same
    cards and settings are rebuilt (``labapp rerun``).
    """
    if sim:
        from sim_backend.adapter import SimAdapter
        from sim_backend.kxci import KXCIEngine

        extra: dict[str, Any] = {}
        for key, conv in (("options", tuple), ("series_ohms", float), ("noise", bool)):
            if simulator and simulator.get(key) is not None:
                extra[key] = conv(simulator[key])
        return Keithley4200A(SimAdapter(KXCIEngine(seed=seed, speed=speed, **extra)))
    if not resource:
        raise ValueError("resource: give a VISA resource string or use the simulator (--sim)")
    try:
        return Keithley4200A(resource, timeout=timeout_ms)
    except CommunicationError as exc:
        if exc.detail.startswith("unreadable reply"):
            raise  # reached, but its identity or slot list was unreadable: say exactly that
        raise ConnectionError(f"cannot reach 4200A at {resource!r}: {exc}") from exc
    except Exception as exc:  # pyvisa raises several types for an unreachable resource
        raise ConnectionError(f"cannot reach 4200A at {resource!r}: {exc}") from exc
