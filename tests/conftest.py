"""Shared fixtures: the simulated 4200A in-process and behind a real loopback socket."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def sim_engine():
    """A fresh simulated instrument (engine only)."""
    from sim_backend.kxci import KXCIEngine

    return KXCIEngine(seed=1)


@pytest.fixture
def sim_server(sim_engine):
    """The simulated 4200A served on 127.0.0.1 at a free port (KXCI LAN framing)."""
    from sim_backend.server import KXCIServer

    server = KXCIServer(sim_engine, port=0)
    server.start_background()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def lan_instrument(sim_server):
    """The driver connected through pyvisa + pyvisa-py over the loopback socket."""
    from drivers.keithley4200 import Keithley4200A

    k = Keithley4200A(sim_server.resource)
    yield k
    k.adapter.close()


class OhmicDevice:
    """A plain resistor obeying the device contract (tests of the simulated instrument's
    source, load and range behaviour, where the memristor physics would only add noise)."""

    def __init__(self, ohms: float = 1e4) -> None:
        self.ohms = ohms
        self.time = 0.0
        self.drives: list[int] = []  # steps per drive call

    def drive(self, dt, v_source, i_limit, r_source: float = 0.0):
        import numpy as np

        from sim_backend.device import DriveResult

        v_src = np.asarray(v_source, dtype=float)
        dts = np.broadcast_to(np.asarray(dt, dtype=float), v_src.shape)
        ilim = np.broadcast_to(np.asarray(i_limit, dtype=float), v_src.shape)
        i = v_src / (self.ohms + r_source)
        comp = np.abs(i) > ilim
        i = np.where(comp, np.sign(i) * np.where(comp, ilim, 0.0), i)
        t = self.time + np.cumsum(dts)
        self.time = float(t[-1]) if t.size else self.time
        self.drives.append(int(v_src.size))
        n = v_src.size
        return DriveResult(t=t, v=i * self.ohms, i=i, compliance=comp,
                           n_channels=np.zeros(n, dtype=np.int64), partial=np.zeros(n))

    def rest(self, duration: float) -> None:
        self.time += duration


@pytest.fixture
def make_ohmic_engine():
    """Factory: a simulated 4200A with a resistor (default 10 kOhm) as the device."""
    from sim_backend.kxci import KXCIEngine

    def make(options=("SMU1", "SMUPA2", "", "", "PMU1", "PMU2RPM1-2", "", ""),
             ohms: float = 1e4, **kwargs):
        kwargs.setdefault("noise", False)  # exact readings: these tests check the wiring
        return KXCIEngine(device=OhmicDevice(ohms), options=options, **kwargs)

    return make


@pytest.fixture
def ohmic_engine(make_ohmic_engine):
    """A simulated 4200A (SMU1, SMUPA2, PMU1, PMU2 with RPMs on both channels) with a
    10 kOhm resistor in place of the memristor."""
    return make_ohmic_engine()


@pytest.fixture
def fault_sim():
    """Factory: a simulated 4200A with injected faults, served on 127.0.0.1 (free port).

    ``fault_sim(["garble-at=40"], seed=1)`` returns ``(server, engine)``; connect with
    ``protocols.connect(server.resource, timeout_ms=...)``. Servers stop at teardown.
    """
    from sim_backend.faults import FaultPlan
    from sim_backend.kxci import KXCIEngine
    from sim_backend.server import KXCIServer

    servers = []

    def make(specs=(), seed: int = 1, **kwargs):
        engine = KXCIEngine(seed=seed, faults=FaultPlan.parse(specs), **kwargs)
        server = KXCIServer(engine, port=0)
        server.start_background()
        servers.append(server)
        return server, engine

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()
