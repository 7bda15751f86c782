"""The KXCI connection layer of the 4200A driver: framing, replies, errors, status byte.

Transports [M 2-5, 2-10, 2-11, 3-4, 4-1]:

* **LAN** (``TCPIP::host::1225::SOCKET``): every command ends with NUL and *every*
  command gets a reply, ``ACK`` when it returns no data [M 2-10]. :meth:`KXCIInstrument.write`
  reads that reply with the write and keeps data replies for the next
  :meth:`~KXCIInstrument.read`, so pymeasure's own ``write``, ``ask``, ``values`` and
  declarative properties stay in step (``write("BC")`` then ``ask("*IDN?")`` returns the
  identity). Completion is detected by polling the status byte with ``SP`` [M 4-6].
* **GPIB** (``GPIB0::17::INSTR``): no reply to commands that return nothing; completion by
  serial poll (``read_stb``) or, with ``srq=True``, ``DR1`` and a service request.

:attr:`KXCIInstrument.ack` holds which framing applies. Instrument errors become
:class:`~drivers.readings.InstrumentError` with the KXCI code and text and the command
that caused them; transport failures (:data:`TRANSPORT_ERRORS`) become
:class:`~drivers.readings.CommunicationError` / :class:`~drivers.readings.InstrumentTimeout`
naming the command. The instrument itself is :class:`drivers.keithley4200.Keithley4200A`.
"""

from __future__ import annotations

import re
import select
import socket
import time
from collections.abc import Callable
from contextlib import contextmanager

from pymeasure.instruments import Instrument
from pyvisa.errors import Error as VisaError

from drivers.readings import CommunicationError, InstrumentError, InstrumentTimeout

#: status byte bits [M 3-3]
SB_DATA_READY, SB_SYNTAX_ERROR, SB_BUSY, SB_RQS = 1, 2, 16, 64
#: I/O timeout while making safe: a lost connection costs this once, then a reconnect
SAFE_OFF_TIMEOUT_MS = 2000
#: what a failing transport raises (sockets, pyvisa, undecodable bytes); anything else,
#: e.g. an assertion of pymeasure's test adapter, passes through unchanged
TRANSPORT_ERRORS = (OSError, VisaError, UnicodeError, CommunicationError)

ShouldStop = Callable[[], bool] | None


class KXCIInstrument(Instrument):
    """A pymeasure instrument speaking KXCI: the connection layer of the 4200A driver.

    Parameters
    ----------
    adapter : pyvisa resource string or a pymeasure adapter.
    name : instrument name.
    ack : True on LAN (every command replies ``ACK``); False on GPIB. Default: False for
        ``GPIB`` resource strings, True otherwise.
    timeout : I/O timeout in ms.
    srq : GPIB only: wait for data with ``DR1`` + service request instead of serial polls.
    """

    def __init__(self, adapter, name: str, ack: bool | None = None, timeout: int = 10000,
                 srq: bool = False, **kwargs) -> None:
        if ack is None:
            ack = not (isinstance(adapter, str) and adapter.upper().startswith("GPIB"))
        kwargs.setdefault("visa_library", "@py")
        super().__init__(
            adapter,
            name,
            includeSCPI=False,
            tcpip={"write_termination": "\0", "read_termination": "\0"},
            gpib={"write_termination": "\n", "read_termination": "\n"},
            timeout=timeout,
            **kwargs,
        )
        self.ack = ack
        self.srq = srq
        self.idn = ""
        self._replies: list[str] = []  # LAN data replies read with their write
        self._ack_unread = False  # the last write was answered ACK and nobody read it
        self._timeout_ms = timeout
        self._last_command = ""
        self._check_each = False
        self._desync = False

    def write(self, command: str, **kwargs) -> None:
        """Send ``command``; on LAN also read its reply [M 2-10]: ``ACK`` is consumed here,
        data is kept for the next :meth:`read`. On GPIB nothing is read (no ``ACK``)."""
        super().write(command, **kwargs)
        self._last_command = command
        self._ack_unread = False
        if self.ack:
            reply = self._transport_read()
            if reply.strip() == "ACK":
                self._ack_unread = True
            else:
                self._replies.append(reply)

    def read(self, **kwargs) -> str:
        """The next reply: a data reply kept by :meth:`write`, else ``ACK`` when the last
        write was acknowledged and nothing else is pending (a rejected query on LAN), else
        the transport's next message (GPIB)."""
        if self._replies:
            return self._replies.pop(0)
        if self._ack_unread:
            self._ack_unread = False
            return "ACK"
        return self._transport_read(**kwargs)

    def check_set_errors(self) -> list:
        """pymeasure's hook after a setting with ``check_set_errors=True``: the status byte
        says whether the command was rejected (B1 [M 3-4]); the stored error is then raised
        as :class:`InstrumentError` naming the command."""
        self._check_status(self._last_command)
        return []

    @contextmanager
    def attributed_errors(self):
        """Inside this block every :meth:`command` is followed by a status-byte read
        (``SP`` on LAN, a serial poll on GPIB) and a rejection raises
        :class:`InstrumentError` naming *that* command (a rejected ``VL1`` is reported as
        ``VL1``, not after ``ME1``). On LAN a rejected command is still answered (the
        reply after an error is not documented [M 2-10]), so only the syntax-error bit B1
        [M 3-4] and ``:ERROR:LAST:GET`` [M 4-3] tell that it failed and how. Not for the
        command that starts a test: the status read would clear its data-ready bit.
        """
        self._check_each = True
        try:
            yield
        finally:
            self._check_each = False

    def _check_status(self, cmd: str) -> None:
        if self.status_byte & SB_SYNTAX_ERROR:
            self.check_errors(cmd)

    def clear_stale_errors(self) -> None:
        """Before a test: ``:ERROR:LAST:CLEAR`` and one status-byte read (which clears B1
        and RQS [M 3-4]), so that an error left by an earlier command or another client is
        not blamed on this test's commands [M 4-3]."""
        self.command(":ERROR:LAST:CLEAR")
        _ = self.status_byte

    def command(self, cmd: str) -> None:
        """Send a command that returns no data; on LAN the reply must be ``ACK`` [M 2-10].

        I/O failures raise :class:`CommunicationError` / :class:`InstrumentTimeout` naming
        ``cmd``; a reply other than ``ACK`` raises :class:`InstrumentError`.
        """
        self._resync_if_needed(cmd)
        self._last_command = cmd
        try:
            self.write(cmd)
            reply = self.read().strip() if self.ack else "ACK"
        except TRANSPORT_ERRORS as exc:
            raise self._io_error(cmd, exc) from exc
        if reply != "ACK":
            raise InstrumentError(0, f"expected ACK, got {reply!r}", cmd)
        if self._check_each and not cmd.startswith(":ERROR:LAST"):
            self._check_status(cmd)

    def query(self, cmd: str) -> str:
        """Send a query and return its data reply.

        On LAN a query answered with ``ACK`` was rejected by the instrument (a KXCI error
        replaces the data): the pending error is read and raised as :class:`InstrumentError`
        with its code and ``cmd``.
        """
        self._resync_if_needed(cmd)
        self._last_command = cmd
        try:
            reply = self.ask(cmd).strip()
        except TRANSPORT_ERRORS as exc:
            raise self._io_error(cmd, exc) from exc
        if self.ack and reply == "ACK":
            if cmd != ":ERROR:LAST:GET":
                self.check_errors(cmd)
            raise CommunicationError(cmd, "query answered ACK instead of data")
        return reply

    def _transport_read(self, **kwargs) -> str:
        """Read one reply; a LAN connection the instrument closed fails at once.

        pyvisa-py's socket read treats end-of-stream as "no data yet" and waits out the
        whole I/O timeout, then reports a timeout. Waiting for the reply here first (in
        slices, without consuming anything) tells a closed connection from a slow reply.
        """
        self._wait_readable()
        return super().read(**kwargs)

    def _wait_readable(self) -> None:
        sock, pending = _visa_socket(self.adapter)
        if sock is None or pending:
            return
        timeout_ms = getattr(self.adapter.connection, "timeout", None)
        if not isinstance(timeout_ms, int | float):
            return  # no timeout set (wait forever): leave it to the read
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply within {timeout_ms:g} ms")
            try:
                ready, _, _ = select.select([sock], [], [], min(0.25, left))
            except (OSError, ValueError):
                return  # let the read itself report it
            if ready:
                try:
                    data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except BlockingIOError:
                    return
                except OSError as exc:
                    raise ConnectionError(f"connection lost ({exc.strerror})") from exc
                if not data:
                    raise ConnectionError("connection closed by the instrument")
                return

    def query_parsed(self, cmd: str, parse):
        """``parse(query(cmd))``; an unreadable reply raises :class:`CommunicationError`
        naming the command and the start of the reply."""
        reply = self.query(cmd)
        try:
            return parse(reply)
        except (ValueError, IndexError, TypeError) as exc:
            raise CommunicationError(cmd, f"unreadable reply {reply[:60]!r} ({exc})") from exc

    def _io_error(self, cmd: str, exc: Exception) -> CommunicationError:
        """Name the command; a timeout leaves a late reply on the way (resync next time)."""
        if isinstance(exc, CommunicationError):
            return exc
        text = str(exc)
        if isinstance(exc, TimeoutError) or "TMO" in text or "imeout" in text:
            self._desync = True
            return InstrumentTimeout(cmd, f"no reply within the I/O timeout, timed out ({text})")
        return CommunicationError(cmd, f"connection failed ({type(exc).__name__}: {text})")

    def _resync_if_needed(self, cmd: str) -> None:
        """After a timeout a late reply may still arrive: send ``*IDN?`` and discard
        replies up to its answer, so that the next reply belongs to the next command (the
        instrument answers in order)."""
        if not self._desync:
            return
        self._desync = False
        self._replies.clear()
        self._ack_unread = False
        try:
            self.write("*IDN?")
            for _ in range(16):
                if self.read().strip() == self.idn:
                    return
        except Exception as exc:  # noqa: BLE001
            self._desync = True
            raise self._io_error(cmd, exc) from exc
        self._desync = True
        raise CommunicationError(cmd, "replies out of step and could not be resynchronised")

    def last_error(self) -> tuple[int, str] | None:
        """``:ERROR:LAST:GET`` -> (code, text) or None when there is no error [M 4-3]; a
        reply that is neither empty nor ``<text> (<code>)`` raises CommunicationError."""
        reply = self.query(":ERROR:LAST:GET")
        if not reply:
            return None  # nothing stored (the real instrument's empty reply [3P Py4200A])
        m = re.search(r"^([ -~]*)\((-?\d+)\)\s*$", reply)
        if not m:
            raise CommunicationError(":ERROR:LAST:GET", f"unreadable reply {reply[:60]!r}")
        if int(m.group(2)) == 0:
            return None
        return int(m.group(2)), m.group(1).strip()

    def clear_errors(self) -> None:
        """``:ERROR:LAST:CLEAR`` [M 4-3]."""
        self.command(":ERROR:LAST:CLEAR")

    def check_errors(self, command: str = "") -> None:
        """Raise :class:`InstrumentError` for a pending KXCI error, and clear it [M 4-2, 4-3]."""
        err = self.last_error()
        if err is not None:
            self.clear_errors()
            raise InstrumentError(err[0], err[1], command)


    # ------------------------------------------------------------------ status byte
    @property
    def status_byte(self) -> int:
        """Status byte: ``SP`` on LAN [M 4-6], a serial poll (``read_stb``) on GPIB [M 3-4]."""
        if self.ack:
            return self.query_parsed("SP", int)
        try:
            return int(self.adapter.connection.read_stb())
        except Exception as exc:  # noqa: BLE001
            raise self._io_error("serial poll", exc) from exc

    def data_ready_srq(self, on: bool = True) -> None:
        """``DR1``/``DR0``: service request on data ready (GPIB only) [M 3-5, 4-1]."""
        self.command(f"DR{int(bool(on))}")

    def wait_for_data(self, timeout: float = 600.0, poll: float = 0.002,
                      should_stop: ShouldStop = None, on_poll: Callable[[], None] | None = None,
                      every: float = 0.25) -> None:
        """Wait until the data-ready bit is set and busy is clear [M 3-3, 4-6].

        LAN polls ``SP``; GPIB polls the serial-poll byte, or waits for SRQ when the driver
        was built with ``srq=True`` (then ``DR1`` must have been sent before the test).
        ``should_stop`` (a callable) makes the wait interruptible; the wait is bounded by
        ``timeout`` (TimeoutError). The poll interval grows from ``poll`` to 0.1 s.
        ``on_poll`` (LAN polling) is called at most every ``every`` s while the test runs,
        e.g. to read the points measured so far with ``RD`` [M 5-41].
        """
        deadline = time.monotonic() + timeout
        if not self.ack and self.srq:
            self._wait_for_srq(deadline, timeout, should_stop)
            return
        last_poll = time.monotonic()
        while True:
            sb = self.status_byte
            if sb & SB_DATA_READY and not sb & SB_BUSY:
                return
            if sb & SB_SYNTAX_ERROR:
                self.check_errors("SP")
            if should_stop is not None and should_stop():
                raise InterruptedError("wait for 4200A data interrupted")
            if time.monotonic() > deadline:
                raise TimeoutError(f"4200A: no data after {timeout:g} s (status byte {sb})")
            if on_poll is not None and time.monotonic() - last_poll >= every:
                on_poll()
                last_poll = time.monotonic()
            time.sleep(poll)
            poll = min(0.1, poll * 1.5)

    def _wait_for_srq(self, deadline: float, timeout: float, should_stop: ShouldStop) -> None:
        """GPIB with ``srq=True``: wait for the service request in slices of 0.5 s."""
        while True:
            chunk = min(0.5, max(0.0, deadline - time.monotonic()))
            try:
                self.adapter.connection.wait_for_srq(int(chunk * 1000) or 1)
            except Exception as exc:  # pyvisa raises VisaIOError on SRQ timeout
                if should_stop is not None and should_stop():
                    raise InterruptedError("wait for 4200A data interrupted") from exc
                if time.monotonic() >= deadline:
                    raise InstrumentTimeout("SRQ", f"no service request after "
                                            f"{timeout:g} s, timed out") from exc
                continue
            # the SRQ's serial poll consumed the status bits: RQS also comes with a
            # syntax error (B1), so ask whether an error caused it [M 3-3]
            self.check_errors("SRQ")
            return

    def reconnect(self) -> bool:
        """Reopen a VISA connection after it was lost (LAN); False when not possible."""
        adapter = self.adapter
        name = getattr(adapter, "resource_name", None)
        manager = getattr(adapter, "manager", None)
        if name is None or manager is None:
            return False
        try:
            try:
                adapter.connection.close()
            except Exception:  # noqa: BLE001 - the old connection is already broken
                pass
            self._replies.clear()
            self._ack_unread = False
            term = "\0" if self.ack else "\n"
            adapter.connection = manager.open_resource(
                name, write_termination=term, read_termination=term,
                timeout=min(self._timeout_ms, SAFE_OFF_TIMEOUT_MS))
            self._desync = False
            return True
        except Exception:  # noqa: BLE001
            return False

def _visa_socket(adapter) -> tuple[socket.socket | None, bool]:
    """The TCP socket under a pyvisa-py ``SOCKET`` resource and whether it has buffered
    reply bytes; (None, False) for any other connection (GPIB, the in-process simulator)."""
    conn = getattr(adapter, "connection", None)
    try:
        session = conn.visalib.sessions[conn.session]
    except Exception:  # noqa: BLE001 - not pyvisa-py, or closed
        return None, False
    sock = getattr(session, "interface", None)
    if not isinstance(sock, socket.socket):
        return None, False
    return sock, bool(getattr(session, "_pending_buffer", b""))
