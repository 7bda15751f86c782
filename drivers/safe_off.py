"""Bringing the 4200A to its safe state on every exit path (:func:`safe_off`).

PMU aborted and outputs off, RPMs routed to the PMU, every SMU at 0 V and off, each group
confirmed with ``:ERROR:LAST:GET`` [M 4-2] because on LAN a rejected command still answers
``ACK``. Used by :meth:`drivers.keithley4200.Keithley4200A.safe_off`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

from drivers.kxci_link import SAFE_OFF_TIMEOUT_MS, KXCIInstrument
from drivers.pmu import PMUChannel
from drivers.readings import InstrumentError
from drivers.validation import fmt_number


def safe_off(inst: KXCIInstrument, smus: Iterable[int], pmus: Mapping[int, PMUChannel]
             ) -> list[str]:
    """PMU aborted and outputs off, RPMs routed to the PMU, every SMU 0 V and off.

    Sequence: ``:ERROR:LAST:CLEAR``; ``:PMU:ABORT``, ``:PMU:OUTPUT:STATE ch, 0`` per PMU
    channel, ``:PMU:RPM:CONFIGURE PMUn-c, 0`` per RPM [M 7-2, 7-22, 7-16, 7-4]; ``US``;
    ``DVn, 0, 0, 1E-4`` and ``DVn`` per SMU [M 5-33]. After the PMU group and after each
    SMU, ``:ERROR:LAST:GET`` [M 4-2]: on LAN a rejected command still answers ``ACK``,
    so only the error query tells that an output may still be on.

    Safe to call twice. Caps the I/O timeout at 2 s; after a lost connection it reopens
    the VISA resource once and carries on; if that fails it returns instead of waiting
    out a timeout per command.

    ``smus`` are the SMU numbers, ``pmus`` the PMU channels of the mainframe.

    Returns the problems met (empty = the instrument confirmed every step); never
    raises, because it runs on exit paths where the original error must not be masked.
    """
    problems: list[str] = []
    with _capped_timeout(inst, problems):
        _send_groups(inst, _groups(smus, pmus), problems)
    return problems


def _groups(smus: Iterable[int], pmus: Mapping[int, PMUChannel]
            ) -> list[tuple[str, list[str]]]:
    """(label, commands) of each step of the safe state."""
    groups: list[tuple[str, list[str]]] = [("clear errors", [":ERROR:LAST:CLEAR"])]
    if pmus:
        cmds = [":PMU:ABORT"] + [f":PMU:OUTPUT:STATE {c}, 0" for c in pmus]
        cmds += [f":PMU:RPM:CONFIGURE {p.hrid}, 0" for p in pmus.values() if p.rpm]
        groups.append(("PMU off", cmds))
    for k, n in enumerate(smus):
        groups.append((f"SMU{n} off", (["US"] if k == 0 else [])
                       + [f"DV{n}, 0, 0, {fmt_number(1e-4)}", f"DV{n}"]))
    return groups


@contextlib.contextmanager
def _capped_timeout(inst: KXCIInstrument, problems: list[str]) -> Iterator[None]:
    """The I/O timeout at most 2 s inside the block: a lost connection should cost
    seconds, not a long I/O timeout per step."""
    conn = getattr(inst.adapter, "connection", None)
    old_timeout = getattr(conn, "timeout", None)
    if isinstance(old_timeout, int | float) and old_timeout > SAFE_OFF_TIMEOUT_MS:
        try:
            conn.timeout = SAFE_OFF_TIMEOUT_MS
        except Exception:  # noqa: BLE001
            old_timeout = None
    else:
        old_timeout = None
    try:
        yield
    finally:
        conn = getattr(inst.adapter, "connection", None)
        if old_timeout is not None and conn is not None:
            try:
                conn.timeout = old_timeout
            except Exception:  # noqa: BLE001
                problems.append("could not restore the I/O timeout")


def _send_groups(inst: KXCIInstrument, groups: list[tuple[str, list[str]]],
                 problems: list[str]) -> None:
    """Send every group; reconnect once after a lost connection; read the error status
    after each group but the first."""
    reconnected = False
    for label, cmds in groups:
        for cmd in cmds:
            try:
                inst.command(cmd)
            except InstrumentError as exc:
                problems.append(f"{label}: {exc}")
            except Exception as exc:  # noqa: BLE001 - collect, report, continue
                problems.append(f"{label}: {exc}")
                if reconnected or not inst.reconnect():
                    problems.append("connection lost: remaining safe-off steps not sent")
                    return
                reconnected = True
                try:
                    inst.command(cmd)
                    problems.append(f"{label}: {cmd!r} sent after reconnecting")
                except Exception as exc2:  # noqa: BLE001
                    problems.append(f"{label}: {exc2}")
                    problems.append("connection lost: remaining safe-off steps not sent")
                    return
        if label == "clear errors":
            continue
        try:
            err = inst.last_error()
            if err is not None:
                problems.append(f"{label}: rejected by the instrument: {err[1]} ({err[0]})")
                inst.clear_errors()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{label}: could not read the error status: {exc}")
