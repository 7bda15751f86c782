"""Parameter declarations: SI values with unit suffixes, limits named in errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.validation import ParameterError
from protocols import PROTOCOLS, DCSweep, PulseTrain, SafetyProfile
from protocols.parameters import Param, parse_assignments


@pytest.mark.parametrize("text,value", [
    ("5mA", 5e-3), ("100uA", 1e-4), ("100µA", 1e-4), ("0.005", 5e-3), ("5e-3A", 5e-3),
    ("2 mA", 2e-3), ("1E-3", 1e-3),
])
def test_current_with_prefix(text, value):
    assert parse_assignments(PulseTrain.params, [f"compliance={text}"]) == {"compliance": value}


def test_other_units_and_kinds():
    got = parse_assignments(PulseTrain.params, ["width=20ms", "period=0.1s", "count=4",
                                                "polarity=reset", "v_read=-150mV"])
    assert got == {"width": 0.02, "period": 0.1, "count": 4, "polarity": "reset",
                   "v_read": -0.15}
    ladder = parse_assignments(DCSweep.params, ["compliance_ladder=1mA, 5mA,10mA"])
    assert ladder == {"compliance_ladder": [1e-3, 5e-3, 1e-2]}


@pytest.mark.parametrize("item,name,allowed", [
    ("compliance=0.2", "compliance", "0.105"),
    ("count=2.5", "count", "integer"),
    ("polarity=up", "polarity", "set, reset"),
    ("width=abc", "width", "s"),
    ("bogus=1", "bogus", "a parameter of this protocol"),
    ("amplitude", "--set", "name=value"),
])
def test_errors_name_parameter_value_and_range(item, name, allowed):
    with pytest.raises(ParameterError) as err:
        parse_assignments(PulseTrain.params, [item])
    assert err.value.name == name and allowed in str(err.value)


@given(st.floats(min_value=1e-9, max_value=0.105, allow_nan=False))
def test_in_range_compliance_round_trips(value):
    p = next(p for p in PulseTrain.params if p.name == "compliance")
    assert p.parse(repr(value)) == value
    assert PulseTrain(compliance=value).values.compliance == value


@given(st.floats(min_value=0.1051, max_value=1e3))
def test_out_of_range_compliance_is_refused(value):
    with pytest.raises(ParameterError):
        PulseTrain(compliance=value)


def test_safety_marks_are_checked_for_every_protocol():
    tight = SafetyProfile(max_voltage=1e-3, max_compliance=1e-9)
    for cls in PROTOCOLS.values():
        marked = [p for p in cls.params if p.safety]
        assert any(p.safety == "voltage" for p in marked), cls.name
        with pytest.raises(ParameterError) as err:
            cls().check_safety(tight)
        assert "safety profile" in str(err.value)
        cls().check_safety(SafetyProfile())  # the defaults fit the default profile


def test_param_is_declarative_data():
    p = Param("x", 1.0, "V", 0.0, 2.0, "doc", safety="voltage")
    assert p.allowed() == "[0, 2] V"
    with pytest.raises(ParameterError, match=r"x=3.0 is out of range: allowed \[0, 2\] V"):
        p.validate(3.0)
