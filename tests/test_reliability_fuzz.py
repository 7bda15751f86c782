"""Fuzzing the simulated 4200A's KXCI parser (``KXCIEngine.handle``) with hypothesis.

Whatever arrives — garbage, known commands with wrong arguments, several commands in one
message, in any mode or page — the simulated instrument must behave like the instrument:

* it never raises (an exception would kill the TCP connection and leave the client
  waiting for a reply until its timeout);
* it always answers, with ``ACK`` or data, and never with a NUL (the LAN terminator);
* a rejected command sets a KXCI error code from the manual's table, readable with
  ``:ERROR:LAST:GET`` as ``<message> (<code>)``, and the status byte's syntax-error bit;
* garbage never changes what a valid command does afterwards (``*IDN?``, error clear).
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim_backend.kxci import KXCIEngine
from sim_backend.kxci_common import ERRORS

#: command names of the manual (SMU, system mode, user mode, PMU, errors) and the two
#: simulator-only clock commands; those the engine knows beyond these are added below
COMMANDS = [
    "*IDN?", "*OPT?", "*RST", "BC", "DE", "SS", "SM", "MD", "US", "CH", "VL", "VR", "VC",
    "DT", "HT", "IT", "RG", "EC", "DM", "LI", "NR", "IN", "WT", "ME", "SP", "DR", "DO", "RD",
    "DV", "DI", "TI", "TV", ":ERROR:LAST:GET", ":ERROR:LAST:CLEAR", ":SIM:TIME?", ":SIM:SPEED?",
    ":SIM:ADVANCE", ":PMU:INIT", ":PMU:RPM:CONFIGURE", ":PMU:SOURCE:RANGE",
    ":PMU:MEASURE:RANGE", ":PMU:MEASURE:MODE", ":PMU:TIMES:WAVEFORM", ":PMU:PULSE:TRAIN",
    ":PMU:PULSE:TIMES", ":PMU:PULSE:BURST:COUNT", ":PMU:LOAD", ":PMU:SAMPLE:RATE",
    ":PMU:OUTPUT:STATE", ":PMU:EXECUTE", ":PMU:TEST:STATUS?", ":PMU:ABORT",
    ":PMU:DATA:COUNT?", ":PMU:DATA:GET", ":PMU:SARB:SEQ:STARTV", ":PMU:SARB:SEQ:STOPV",
    ":PMU:SARB:SEQ:TIME", ":PMU:SARB:WFM:SEQ:LIST",
]
COMMANDS += sorted(set(getattr(KXCIEngine(seed=0), "_handlers", {})) - set(COMMANDS))

NUMBER = st.one_of(
    st.integers(-5, 70000).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(lambda x: f"{x:g}"),
    st.sampled_from(["1E-3", "-0", "+5", "1e400", "0x10", "1,5", "", " ", "--1", "1e-13"]),
)
TOKEN = st.one_of(
    NUMBER,
    st.sampled_from(["'V1'", "'I1'", "'CH1T'", "'TOOLONGNAME'", "''", "'", "PMU1-1",
                     "PMU2-1", "?", ";", "\\", "\t", "é", "\x7f"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
            max_size=8),
)
ARGS = st.lists(TOKEN, max_size=7).map(", ".join)
KNOWN = st.builds(lambda c, sep, a: f"{c}{sep}{a}", st.sampled_from(COMMANDS),
                  st.sampled_from(["", " ", ",", "  "]), ARGS)
GARBAGE = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                         blacklist_characters="\0"), max_size=40)
MESSAGE = st.one_of(KNOWN, GARBAGE, st.lists(KNOWN, min_size=2, max_size=3).map(";".join))

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ERROR_RE = re.compile(r"^(.*) \((-?\d+)\)$")


def last_error(eng: KXCIEngine) -> int:
    reply = eng.handle(":ERROR:LAST:GET")
    if reply == "":  # nothing stored (kxci_errors.NO_ERROR_REPLY)
        return 0
    m = ERROR_RE.match(reply)
    assert m, f":ERROR:LAST:GET answered {reply!r}"
    code = int(m.group(2))
    assert code == 0 or code in ERRORS, f"unknown KXCI error code {code}"
    if code:
        assert m.group(1) == ERRORS[code]
    return code


@FUZZ
@given(messages=st.lists(MESSAGE, min_size=1, max_size=6),
       user_mode=st.booleans())
def test_parser_never_raises_and_always_answers(messages, user_mode):
    eng = KXCIEngine(seed=3)
    if user_mode:
        assert eng.handle("US") == "ACK"
    for message in messages:
        eng.handle(":ERROR:LAST:CLEAR")
        reply = eng.handle(message)  # must not raise
        last = message.split(";")[-1].strip().upper()
        # empty data is an answer for :ERROR:LAST:GET with no error and DO with no readings
        empty_ok = last.startswith((":ERROR:LAST:GET", "DO"))
        assert isinstance(reply, str) and (reply or empty_ok), f"no answer to {message!r}"
        assert "\0" not in reply
        code = last_error(eng)
        parts = [p.strip().upper() for p in message.split(";")]
        if code and not any(p.startswith(("SP", "*RST")) for p in parts):
            # the rejected command left its syntax-error bit in the status byte [M 3-3]
            # (unless the same message read it with SP, which clears it, or reset)
            assert int(eng.handle("SP")) & 2, f"{message!r} failed ({code}) without SB bit 1"
    # garbage does not break what valid commands do afterwards
    assert eng.handle("*IDN?").startswith("KEITHLEY INSTRUMENTS,KI4200A,SIM")
    assert eng.handle(":ERROR:LAST:CLEAR") == "ACK"
    assert last_error(eng) == 0


@FUZZ
@given(word=st.text(alphabet="AFGJKOQXZ!#$%&()=~|{}[]<>", min_size=1, max_size=12))
def test_unknown_command_sets_error_992(word):
    """A message that is no command at all is a KXCI command error (-992) [M 2-12]."""
    eng = KXCIEngine(seed=3)
    reply = eng.handle(word)
    assert reply in ("ACK", eng.error_reply)
    assert last_error(eng) == -992


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(channel=st.integers(-3, 12), volts=st.floats(allow_nan=True, allow_infinity=True),
       comp=st.floats(allow_nan=True, allow_infinity=True))
def test_rejected_source_command_never_turns_an_output_on(channel, volts, comp):
    """``DV`` with any arguments: either accepted within the card's limits, or rejected
    with an error code and the output unchanged (off)."""
    eng = KXCIEngine(seed=3)
    eng.handle("US")
    eng.handle(f"DV{channel}, 0, {volts:g}, {comp:g}")
    code = last_error(eng)
    if code:
        assert eng.outputs_safe()
    else:  # a too-small compliance is raised to the card's minimum [M 5-16]
        assert abs(volts) <= 210 and abs(comp) <= 0.105


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(messages=st.lists(MESSAGE.filter(lambda m: m.isprintable() or "\n" in m),
                         min_size=1, max_size=5))
def test_server_answers_every_message_with_one_terminated_reply(sim_server, messages):
    """Over the loopback socket: one NUL-terminated reply per message, whatever it is,
    and the connection stays usable (the handler thread never dies)."""
    import socket

    with socket.create_connection(("127.0.0.1", sim_server.port), timeout=5) as sock:
        for message in [*messages, "*IDN?"]:
            sock.sendall(message.encode("utf-8", errors="replace") + b"\0")
            reply = b""
            while not reply.endswith(b"\0"):
                chunk = sock.recv(65536)
                assert chunk, f"connection closed after {message!r}"
                reply += chunk
            assert reply.count(b"\0") == 1 and len(reply) > 1
        assert reply.decode().startswith("KEITHLEY INSTRUMENTS,KI4200A")
