"""SMU sweep options as one object (``SweepOptions``) and as the old keyword arguments.

Held to: the same KXCI dialogue either way (the commands of [M 5-10, 5-12, 5-16, 5-39,
5-40] that the options set, logged by the simulated 4200A), and Python's own rule for
keyword arguments a method does not take (TypeError, before anything is sent).
"""

from __future__ import annotations

import numpy as np
import pytest

from drivers.keithley4200 import Keithley4200A, SweepOptions
from sim_backend.adapter import SimAdapter
from sim_backend.kxci import KXCIEngine

V = np.linspace(0.0, 0.2, 21)


def dialogue(call) -> tuple[list[str], np.ndarray]:
    engine = KXCIEngine(seed=3)
    k = Keithley4200A(SimAdapter(engine))
    start = len(engine.log)
    data = call(k)
    return list(engine.log)[start:], data.current


def test_options_object_and_keywords_send_the_same_commands():
    kw = dict(delay=0.01, hold=0.5, integration="short", exit_on_compliance=True, ground=(2,))
    a, ia = dialogue(lambda k: k.list_sweep(1, V, 1e-3, **kw))
    b, ib = dialogue(lambda k: k.list_sweep(1, V, 1e-3, SweepOptions(**kw)))
    assert a == b and np.array_equal(ia, ib)
    assert {"HT 0.5", "DT 0.01", "IT1", "EC 1", "CH2, 'V2', 'I2', 3, 3"} <= set(a)


def test_keywords_override_the_options_object():
    a, _ = dialogue(lambda k: k.list_sweep(1, V, 1e-3, SweepOptions(delay=0.5), delay=0.02))
    assert "DT 0.02" in a and "DT 0.5" not in a


def test_smu_pulse_train_holds_each_level_width_seconds():
    a, _ = dialogue(lambda k: k.smu_pulse_train(1, V, 2e-3, 1e-3))
    assert "DT 0.002" in a and "IT1" in a  # width as DT, "short" integration by default


@pytest.mark.parametrize("call", [
    lambda k: k.list_sweep(1, V, 1e-3, dwell=0.1),
    lambda k: k.sample(1, 0.1, 1e-3, 5, 0.01, delay=0.1),
    lambda k: k.smu_pulse_train(1, V, 2e-3, 1e-3, delay=0.1),
])
def test_an_option_a_method_does_not_take_is_a_type_error_before_sending(call):
    engine = KXCIEngine(seed=3)
    k = Keithley4200A(SimAdapter(engine))
    start = len(engine.log)
    with pytest.raises(TypeError):
        call(k)
    assert len(engine.log) == start
