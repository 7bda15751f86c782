"""KXCI error codes and messages, exactly as the manual's table [M 2-12, 2-13].

One enum for every part of the simulated 4200A (SMU, system mode, common commands, PMU,
Segment Arb), so that each rejection carries the code and text the real instrument gives.

Error-queue semantics [M 4-2, 4-3]: KXCI stores the *last* error only. A new error
replaces the stored one; ``:ERROR:LAST:GET`` reads it without clearing it (the same text
comes back until ``:ERROR:LAST:CLEAR``); a successful command leaves it in place.
``:ERROR:LAST:GET`` with nothing stored answers an empty string (the manual does not
print the no-error reply; Tektronix's ``instrcomms`` helper, written for the real
instrument, tests ``:ERROR:LAST:GET`` against ``""`` to decide "no error" [3P
Cava3/Py4200A src/instrcomms.py ``hasError``]).
"""

from __future__ import annotations

from enum import IntEnum


class KXCIErrorCode(IntEnum):
    """KXCI error numbers [M 2-12, 2-13]; ``.text`` is the manual's message."""

    GPIB_DRIVER_NOT_LOADED = -999
    SHARED_MEMORY = -998
    NO_CONSOLE = -997
    GPIB_ADDRESS_NOT_SENT = -996
    GPIB_ADDRESS_RANGE = -995
    NO_CONFIGURATION_FILE = -994
    ARGUMENT = -993
    COMMAND = -992
    ILLEGAL_SETUP = -991
    NO_TRIGGER_MASTER = -990
    WRONG_PAGE = -989
    NOT_MAPPED = -988
    SKIPPING_INSTRUMENT = -987
    UNSUPPORTED_COMMAND = -986
    UNSUPPORTED_FILE_FORMAT = -985
    CANNOT_OPEN_FILE = -984
    DURING_TEST = -980
    SMU_NOT_PRESENT = -979
    VPU_NOT_PRESENT = -978
    NOT_IN_USER_MODE = -975
    NOT_IN_SYSTEM_MODE = -974
    CVU_TEST_RUNNING = -973
    CANNOT_WRITE_LOG = -972
    CABLE_COMP_HIGH = -971
    CABLE_COMP_LOW = -970
    INVALID_PMU_ARGUMENT = -969
    PMU_THERMAL_LIMIT = -968
    INVALID_PULSE_CONFIGURATION = -967
    EXECUTION_ABORTED = -966
    WRONG_PULSE_MODE = -965
    MAX_SOURCE_VOLTAGE = -964
    TOO_MANY_SAMPLES = -963
    INVALID_SEGMENT = -962
    UNKNOWN_SEQUENCE = -961
    MAX_SEQUENCES = -960
    SLEW_RATE = -959
    TOO_FEW_SEGMENTS = -958
    SEQUENCE_TOO_SHORT = -957
    NOT_SEAMLESS = -956
    SSR_WITH_RPM_RANGE = -955
    TOO_MANY_SEGMENTS = -954
    STEPPER_WITHOUT_SWEEPER = -953
    PULSE_SAMPLE_RATE = -952
    SARB_SAMPLE_RATE = -951
    POWER_LIMIT = -950
    PIV_MEASURE_POINTS = -949
    SWEEP_STEP_MISMATCH = -948
    PIV_NO_ACQUIRE = -947

    @property
    def text(self) -> str:
        """The manual's message for this code [M 2-12, 2-13]."""
        return ERROR_TEXT[int(self)]


#: code -> message, verbatim from the manual's table (its punctuation included: some
#: messages end without a period) [M 2-12, 2-13]
ERROR_TEXT: dict[int, str] = {
    -999: "IEEE32.DLL GPIB driver is not loaded.",
    -998: "Unable to initialize shared memory.",
    -997: "Could not establish communications with console.",
    -996: "GPIB address not sent as argv[1].",
    -995: "GPIB address not in 0<= addr <= 31.",
    -994: "Could not find configuration file.",
    -993: "KXCI argument error.",
    -992: "KXCI command error.",
    -991: "Illegal setup error.",
    -990: "Trigger Master card not found.",
    -989: "Command not valid on this page.",
    -988: "Instrument not mapped.",
    -987: "Skipping instrument.",
    -986: "Unsupported command received.",
    -985: "Unsupported file format error.",
    -984: "Could not open specified file.",
    -980: "Command not valid during test execution.",
    -979: "SMU not present in system.",
    -978: "VPU not present in system.",
    -975: "Command not valid in User Mode",
    -974: "Command not valid in System Mode",
    -973: "Command not valid when CVU test is running.",
    -972: "Could not write log file.",
    -971: "Custom cable compensation failed. HPOT/HCUR magnitude too small.",
    -970: "Custom cable compensation failed. LPOT/LCUR magnitude too small.",
    -969: "Invalid PMU argument.",
    -968: "Pulse Instrument has reached thermal limit.",
    -967: "Invalid pulse parameter configuration.",
    -966: "Execution Aborted.",
    -965: "Command not valid in the present pulse mode.",
    -964: "Maximum Source Voltage Reached: Requested voltage across DUT resistance exceeds "
          "max voltage available.",
    -963: "Maximum number of samples per channel exceeded.",
    -962: "Invalid segment",
    -961: "Unknown sequence",
    -960: "Max sequences",
    -959: "Start and stop values for defined segmented arb violate minimum slew rate.",
    -958: "At least 3 segments must be defined per sequence",
    -957: "Sequence time is too short for a measurement",
    -956: "Segment start value does not match previous segment stop value",
    -955: "SSR cannot be opened when using RPM ranges. Change SSR configuration to close "
          "relay or select PMU measure range.",
    -954: "Maximum number of segments per PMU channel exceeded",
    -953: "PMU Stepper cannot be used without Sweeper.",
    -952: "Cannot adjust PMU measure sample rate for pulse configuration.",
    -951: "Cannot adjust PMU measure sample rate for SARB configuration.",
    -950: "This test has exceeded the system power limit.",
    -949: "Maximum number of measure points exceeded for Pulse IV configuration.",
    -948: "Sweep step count mismatch for the sweeping channels. All sweeping channels must "
          "have same # of steps.",
    -947: "At least one Acquire High or Acquire Low parameter must be set to Enable for "
          "Pulse IV measurements.",
}

#: ``:ERROR:LAST:GET`` reply when no error is stored (see the module docstring)
NO_ERROR_REPLY = ""


def error_reply(code: int) -> str:
    """``:ERROR:LAST:GET`` text for ``code``: ``<message> (<code>)`` [M 4-3]."""
    return f"{ERROR_TEXT[int(code)]} ({int(code)})"
