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
