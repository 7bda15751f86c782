"""The ``:CVU:`` commands of the simulated 4200A [M §6] (a part of
:class:`sim_backend.kxci.KXCIEngine`).

The simulator has no capacitance-voltage unit model. Every command of the manual's CVU
chapter is recognised and refused, never accepted and ignored:

* without a ``CVUn`` entry in the slot list (the default) with -988, "Instrument not
  mapped." [M 2-12]: the manual's table has codes for a missing SMU (-979) and a missing
  pulse card (-978) but none for a missing CVU, and -988 is its code for an instrument
  the configuration does not have;
* with a CVU in the slot list with -986, "Unsupported command received." [M 2-12].

A ``:CVU:`` string that is not one of the manual's commands is a KXCI command error
(-992), as for any unknown command.
"""

from __future__ import annotations

from sim_backend.kxci_common import KXCIError

#: the manual's CVU commands and their pages [M 6-4…6-25]
CVU_COMMANDS = {
    ":CVU:CABLE:COMP:LOAD": "6-4", ":CVU:CABLE:COMP:MEASCUSTOM": "6-5",
    ":CVU:CABLE:COMP:OPEN": "6-5", ":CVU:CABLE:COMP:SHORT": "6-6", ":CVU:MEASZ?": "6-7",
    ":CVU:BIAS:DCV:SAMPLE": "6-7", ":CVU:DATA:FREQ?": "6-8", ":CVU:DATA:STATUS?": "6-8",
    ":CVU:DATA:TSTAMP?": "6-8", ":CVU:DATA:VOLT?": "6-8", ":CVU:DATA:Z?": "6-9",
    ":CVU:DELAY:STEP": "6-9", ":CVU:DELAY:SWEEP": "6-9", ":CVU:FSTEPSIZE": "6-10",
    ":CVU:SAMPLE:HOLDT": "6-10", ":CVU:SAMPLE:INTERVAL": "6-10", ":CVU:SOAK:DCV": "6-11",
    ":CVU:STANDBY": "6-11", ":CVU:STEP:FREQ": "6-11", ":CVU:SWEEP:ACV": "6-12",
    ":CVU:SWEEP:DCV": "6-12", ":CVU:SWEEP:FREQ": "6-13", ":CVU:SWEEP:LISTDCV": "6-14",
    ":CVU:TEST:ABORT": "6-14", ":CVU:TEST:RUN": "6-15", ":CVU:ACV": "6-15",
    ":CVU:ACZ:RANGE": "6-16", ":CVU:CHANNEL": "6-16", ":CVU:CONFIG:ACVHI": "6-16",
    ":CVU:CONFIG:DCVHI": "6-17", ":CVU:CORRECT": "6-17", ":CVU:DCV": "6-19",
    ":CVU:DCV:OFFSET": "6-19", ":CVU:FREQ": "6-20", ":CVU:LENGTH": "6-20",
    ":CVU:MODE": "6-21", ":CVU:MODEL": "6-21", ":CVU:OUTPUT": "6-21", ":CVU:RESET": "6-22",
    ":CVU:SPEED": "6-22", ":CVU:TEST:COMPLETE?": "6-25",
}


class CVUCard:
    """Recognises the ``:CVU:`` commands and refuses them with the configuration's code.

    Parameters
    ----------
    options : the mainframe's ``*OPT?`` card list.
    """

    def __init__(self, options: tuple[str, ...]) -> None:
        self.options = options

    def handlers(self) -> dict:
        return {name: self._cvu_refuse for name in CVU_COMMANDS}

    def has_cvu(self) -> bool:
        return any(e.startswith("CVU") for e in self.options)

    def _cvu_refuse(self, rest: str) -> None:
        if not self.has_cvu():
            raise KXCIError(-988, "no CVU in this mainframe")
        raise KXCIError(-986, "the simulator has no CVU model")
