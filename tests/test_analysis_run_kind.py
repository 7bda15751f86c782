"""Analysis tells runs apart by kind (:mod:`analysis.run_kind`); its one table from the
protocol names that run files record to kinds covers exactly the protocols that exist."""

from analysis.run_kind import PROTOCOL_KINDS, RunKind, kind_of_protocol
from protocols import PROTOCOLS


def test_every_protocol_has_a_kind_and_every_named_protocol_exists():
    assert set(PROTOCOL_KINDS) == {cls.name for cls in PROTOCOLS.values()}


def test_unnamed_and_unknown_protocols():
    assert kind_of_protocol("") is None  # a CSV without a protocol: classified by columns
    assert kind_of_protocol("imported") is RunKind.OTHER
    assert kind_of_protocol("dc-sweep") is RunKind.SWEEP
