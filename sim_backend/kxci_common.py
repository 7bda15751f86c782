"""Shared pieces of the simulated 4200A: the KXCI error exception, argument parsing, formats,
and the commands common to every mainframe (:class:`CommonCommands`).

Error codes and texts are the manual's [M 2-12, 2-13], in :mod:`sim_backend.kxci_errors`.
"""

from __future__ import annotations

import numpy as np

from sim_backend.kxci_errors import ERROR_TEXT, NO_ERROR_REPLY, KXCIErrorCode

#: KXCI error codes and messages [M 2-12, 2-13]; the table lives in
#: :mod:`sim_backend.kxci_errors` (one enum for every card)
ERRORS: dict[int, str] = ERROR_TEXT

#: ``ID`` reply: ``KI4200A Vx.x.x`` [M 4-3]
ID_REPLY = "KI4200A V1.13.0"

# Status byte bits [M 3-3]
SB_DATA_READY = 1
SB_SYNTAX_ERROR = 2
SB_BUSY = 16
SB_RQS = 64


class KXCIError(Exception):
    """A command the instrument rejects; carries the KXCI error code."""

    def __init__(self, code: int | KXCIErrorCode, detail: str = "") -> None:
        code = int(code)
        self.code = code
        self.detail = detail
        super().__init__(f"{ERRORS.get(code, 'Error.')} ({code}) {detail}".strip())


def fmt_value(value: float) -> str:
    """A reading as the instrument prints it: sign, 5 significant digits, 2-digit exponent.

    ``+1.2345E-03`` is 11 characters, inside KXCI's 12-character limit [M 5-6].
    """
    return f"{value:+.4E}"


def split_args(text: str) -> list[str]:
    """Comma-separated arguments, whitespace stripped [M 5-6]."""
    return [a.strip() for a in text.split(",")] if text.strip() else []


def parse_float(text: str, code: int = -993) -> float:
    """A KXCI number: <= 12 characters [M 5-6], finite."""
    text = text.strip()
    if len(text) > 12:
        raise KXCIError(code, f"number longer than 12 characters: {text!r}")
    try:
        value = float(text)
    except ValueError as exc:
        raise KXCIError(code, f"not a number: {text!r}") from exc
    if not np.isfinite(value):
        raise KXCIError(code, f"not a number: {text!r}")
    return value


def parse_floats(texts: list[str], code: int = -993) -> np.ndarray:
    """Many KXCI numbers at once (a 4096-point list), with :func:`parse_float`'s rules."""
    try:
        if max(map(len, texts), default=0) <= 12:
            values = np.array(texts, dtype=float)
            if np.all(np.isfinite(values)):
                return values
    except ValueError:
        pass
    return np.array([parse_float(t, code) for t in texts])  # names the bad one


def parse_int(text: str, lo: int, hi: int, code: int = -993) -> int:
    """An integer argument in [lo, hi] (``1``, ``1.0`` and ``1E3`` accepted)."""
    value = parse_float(text, code)
    if value != int(value) or not lo <= value <= hi:
        raise KXCIError(code, f"{text!r} not an integer in [{lo}, {hi}]")
    return int(value)


def lookup_channel(table: dict, text: str, bad: int, missing: int):
    """The channel numbered ``text`` in ``table``; error ``bad`` for a non-number,
    ``missing`` for a channel the mainframe does not have."""
    try:
        n = int(text)
    except ValueError as exc:
        raise KXCIError(bad, f"channel {text!r}") from exc
    if n not in table:
        raise KXCIError(missing, f"no channel {n}")
    return table[n]


class CommonCommands:
    """The commands every 4200A answers whatever its cards: identity (``*IDN?``, ``ID``,
    ``*OPT?``), ``*RST``, the error queue (``:ERROR:LAST:GET``/``:CLEAR``) [M 4-2…4-5],
    and the simulator's clock (``:SIM:TIME?``, ``:SIM:SPEED?``, ``:SIM:ADVANCE``).

    Parameters
    ----------
    st : the instrument's shared state (:class:`sim_backend.kxci_state.InstrumentState`).
    idn : the ``*IDN?`` reply.
    """

    def __init__(self, st, idn: str) -> None:
        self.st = st
        self.idn = idn

    def handlers(self) -> dict:
        return {
            "*IDN?": self._idn, "*OPT?": self._opt, "*RST": self._rst, "ID": self._id,
            ":ERROR:LAST:GET": self._err_get, ":ERROR:LAST:CLEAR": self._err_clear,
            ":SIM:TIME?": self._sim_time,
            ":SIM:SPEED?": lambda _: repr(float(self.st.speed or 0.0)),
            ":SIM:ADVANCE": self._sim_advance,
        }

    # ------------------------------------------------------------------ identity, errors
    def _idn(self, rest: str) -> str:
        """``*IDN?`` -> ``KEITHLEY INSTRUMENTS,KI4200A,serial,firmware`` [M 4-4]."""
        no_args(rest)
        return self.idn

    def _id(self, rest: str) -> str:
        """``ID`` -> ``KI4200A Vx.x.x`` in 4200A mode [M 4-3]."""
        no_args(rest)
        return ID_REPLY

    def _opt(self, rest: str) -> str:
        """``*OPT?``: the installed cards, comma-separated, empty slots left out [M 4-4]."""
        no_args(rest)
        return ",".join(o for o in self.st.options if o)

    def _rst(self, rest: str) -> None:
        """``*RST`` [M 4-5]: SMUs back to their start-up state, PMUs reset into standard
        pulse mode (``:PMU:INIT 0`` [M 7-9]) with their data and Segment Arb sequences
        deleted, a running test cancelled. Files, status byte and the last error are
        kept (the manual lists neither); the device keeps its state."""
        no_args(rest)
        st = self.st
        status, srq = st.sm.status_byte, st.sm.srq_on_data
        st.reset_smus()
        st.sm.status_byte, st.sm.srq_on_data = status, srq
        st.reset_pmus(mode=0)

    def _err_get(self, rest: str) -> str:
        """``:ERROR:LAST:GET`` -> ``<message> (<code>)``; non-destructive; ``""`` when no
        error is stored [M 4-3; :mod:`sim_backend.kxci_errors`]."""
        no_args(rest)
        if self.st.last_error is None:
            return NO_ERROR_REPLY
        code, msg = self.st.last_error
        return f"{msg} ({code})"

    def _err_clear(self, rest: str) -> None:
        """``:ERROR:LAST:CLEAR`` [M 4-3]."""
        no_args(rest)
        self.st.last_error = None

    # ------------------------------------------------------------------ simulator clock
    def _sim_time(self, _: str) -> str:
        return repr(float(self.st.device.time))

    def _sim_advance(self, arg: str) -> None:
        """``:SIM:ADVANCE s``: the device evolves ``s`` seconds, biased by SMU1 when its
        output is on (the host waits with the output on), else resting."""
        seconds = parse_float(arg)
        if seconds < 0:
            raise KXCIError(-993, f"advance {arg!r}")
        st = self.st
        st.settle()
        smu1 = st.smus.get(1)
        if (smu1 is not None and smu1.output_on and seconds > 0 and st.smu1_wired()
                and (smu1.output_v != 0.0 if smu1.output_kind == "V" else smu1.output_i != 0)):
            if smu1.output_kind == "V":
                st.last_truth = st.device.drive([seconds], [smu1.output_v],
                                                [smu1.output_comp])
            else:
                v = float(np.copysign(smu1.output_v, smu1.output_i))
                st.last_truth = st.device.drive([seconds], [v], [abs(smu1.output_i)])
        else:
            st.device.rest(seconds)
        st.wait_paced(seconds)
        st.settle()


def no_args(rest: str) -> None:
    """-993 for arguments to a command that takes none."""
    if rest:
        raise KXCIError(-993, rest)
