"""Which instrument a command talks to: always an explicit choice, never a silent default.

Order: ``--sim`` or ``--resource RES`` on the command line; else the environment variable
``LABAPP_RESOURCE``; else ``resource = "..."`` in the user config file
(``$XDG_CONFIG_HOME/labapp/config.toml``, default ``~/.config/labapp/config.toml``). The
value ``sim`` in either place means the simulated 4200A. With none of these, earlier
versions simulated silently; that still happens, as a deprecated spelling (scripts keep
working), but with a one-line message on stderr naming the choices and the deprecation,
and every output of the run says *simulated*.

The simulator's seed: ``--seed N`` makes a run reproducible; without it every run draws a
fresh seed (so repeated runs are independent data, not the same data counted twice) and
the run file records the seed either way (``seed``).

:func:`connect` opens the chosen instrument: the simulated 4200A in this process, the
simulator over a loopback socket, or hardware. It lives here, above the protocol layer,
because choosing between hardware and the simulator is wiring: protocols run on whatever
driver they are handed and never import the simulator.
"""

from __future__ import annotations

import os
import secrets
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.keithley4200 import Keithley4200A
from drivers.readings import CommunicationError

ENV = "LABAPP_RESOURCE"
#: the value of LABAPP_RESOURCE / config ``resource`` that selects the simulator
SIM = "sim"
#: exclusive upper bound of drawn seeds (fits the GUI's seed box)
SEED_RANGE = 2**31 - 1

CHOICES = (f"give --sim (simulated 4200A) or --resource RES (e.g. "
           f"TCPIP::192.168.0.10::1225::SOCKET), or set {ENV} (a resource or 'sim') or "
           "resource in {config}")


def config_path() -> Path:
    """The user config file (it need not exist)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "labapp" / "config.toml"


def fresh_seed() -> int:
    """A seed nobody chose, for runs without ``--seed``."""
    return secrets.randbelow(SEED_RANGE)


@dataclass(frozen=True)
class InstrumentChoice:
    """The instrument a command will open, and where that choice came from."""

    sim: bool
    resource: str | None
    #: "--sim", "--resource", "LABAPP_RESOURCE", "config file <path>" or "none"
    source: str
    #: simulator seed (drawn when not given); None on hardware
    seed: int | None = None
    seed_given: bool = False

    def describe(self) -> str:
        """E.g. ``SIMULATED 4200A (seed 123, drawn)`` or ``4200A at TCPIP::...``."""
        if self.sim:
            how = "given" if self.seed_given else "drawn"
            return f"SIMULATED 4200A (seed {self.seed}, {how})"
        return f"4200A at {self.resource}"


def configured_resource() -> tuple[str | None, str]:
    """The default resource from the environment or the config file, and its source."""
    env = os.environ.get(ENV, "").strip()
    if env:
        return env, ENV
    path = config_path()
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the labapp config ({exc})") from None
        res = data.get("resource")
        if res is not None and not (isinstance(res, str) and res.strip()):
            raise ValueError(f"{path}: 'resource' must be a non-empty string, e.g. "
                             f"\"TCPIP::192.168.0.10::1225::SOCKET\" or \"{SIM}\"")
        if res:
            return res.strip(), f"config file {path}"
    return None, "none"


def choose(sim: bool, resource: str | None, seed: int | None, command: str = "labapp",
           *, quiet: bool = False) -> InstrumentChoice:
    """Resolve the instrument of a command from its flags, ``LABAPP_RESOURCE`` or config.

    With no choice at all the simulator is used and one line saying so (and naming the
    choices) goes to stderr unless ``quiet``.
    """
    if sim:
        source, res = "--sim", None
    elif resource:
        source, res = "--resource", resource
    else:
        res, source = configured_resource()
        if res is None:
            text = (f"{command}: no instrument chosen, simulating (SIMULATED data; deprecated: "
                    "a later version refuses to run without a choice); "
                    + CHOICES.format(config=config_path()))
            if not quiet:
                print(text, file=sys.stderr)
    use_sim = res is None or res.lower() == SIM
    if not use_sim:
        return InstrumentChoice(False, res, source)
    return InstrumentChoice(True, None, source, seed if seed is not None else fresh_seed(),
                            seed is not None)


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
        return Keithley4200A(simulated_adapter(seed, speed, simulator))
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


def simulated_adapter(seed: int = 0, speed: float | None = None,
                      simulator: Mapping[str, Any] | None = None) -> Any:
    """The in-process simulated 4200A's adapter (see :func:`connect`)."""
    # deferred: the simulator's physics loads only when a simulated instrument is opened
    # (start-up time of hardware runs and of the commands that open no instrument)
    from sim_backend.adapter import SimAdapter
    from sim_backend.kxci import KXCIEngine  # deferred: start-up time, as above

    extra: dict[str, Any] = {}
    for key, conv in (("options", tuple), ("series_ohms", float), ("noise", bool)):
        if simulator and simulator.get(key) is not None:
            extra[key] = conv(simulator[key])
    return SimAdapter(KXCIEngine(seed=seed, speed=speed, **extra))
