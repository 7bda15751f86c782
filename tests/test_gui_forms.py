"""Protocol forms generated from Param declarations; presets; safety profile (offscreen)."""

from __future__ import annotations

import json

import pytest

from labapp.gui.device_panel import DevicePanel
from labapp.gui.protocol_form import INVALID_STYLE, ProtocolForm
from labapp.gui.protocol_panel import ProtocolPanel
from protocols import PROTOCOLS, SafetyProfile
from protocols.preset_library import load_presets, read_preset


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_every_protocol_gets_a_valid_default_form_with_units_and_tooltips(qtbot, name):
    cls = PROTOCOLS[name]
    form = ProtocolForm(cls, safety=SafetyProfile(10.0, 0.1))
    qtbot.addWidget(form)
    assert list(form.editors) == [p.name for p in cls.params]
    assert form.valid, form.errors
    for p in cls.params:
        tip = form.editors[p.name].widget.toolTip()
        assert p.doc.split()[0] in tip and p.allowed() in tip
    form.build()  # the defaults make a protocol object


def test_invalid_values_are_flagged_and_named(qtbot):
    form = ProtocolForm(PROTOCOLS["dc-sweep"])
    qtbot.addWidget(form)
    seen = []
    form.validity_changed.connect(seen.append)
    step = form.editors["step"]
    step.set_text("abc")
    assert not form.valid and seen == [False]
    assert step.widget.styleSheet() == INVALID_STYLE
    assert "step='abc'" in form.errors["step"] and "(0, 1] V" in form.errors["step"]
    assert "step" in step.widget.toolTip()
    step.set_text("5mV")  # SI prefix + unit accepted
    assert form.valid and seen == [False, True]
    assert form.values()["step"] == pytest.approx(5e-3)
    assert step.widget.styleSheet() == ""
    form.editors["compliance_set"].set_text("0.5")  # above the SMU's 0.105 A
    assert "0.105" in form.errors["compliance_set"]
    form.editors["compliance_set"].set_text("5mA")
    assert form.valid
    # a cross-parameter check of the protocol itself: period must cover the pulse width
    train = ProtocolForm(PROTOCOLS["reset-train"])
    qtbot.addWidget(train)
    train.editors["width"].set_text("5ms")
    train.editors["period"].set_text("1ms")
    assert not train.valid and ">= width" in train.errors["period"]
    assert "period" in train.error_label.text()


def test_safety_profile_limits_flag_the_form_and_disable_run(qtbot):
    panel = ProtocolPanel()
    device = DevicePanel()
    qtbot.addWidget(panel)
    qtbot.addWidget(device)
    form = panel.select("dc-sweep")
    assert panel.valid
    device.max_voltage.setValue(2.0)
    panel.set_safety(device.safety())
    assert not panel.valid
    assert "safety profile" in form.errors["v_set"] and "2 V" in form.errors["v_set"]
    form.editors["v_set"].set_text("1.5")
    form.editors["v_reset"].set_text("1.5")
    assert panel.valid
    device.max_compliance.setValue(1.0)  # mA
    panel.set_safety(device.safety())
    assert "compliance_set" in form.errors


def test_window_run_button_follows_form_validity(qtbot, tmp_path):
    from labapp.gui.main_window import MainWindow

    w = MainWindow(output=tmp_path / "x.h5")
    qtbot.addWidget(w)
    w.connection.connect_button.click()
    qtbot.waitUntil(lambda: w.instrument is not None, timeout=5000)
    assert w.run_panel.run_button.isEnabled()
    w.protocols.form.editors["cycles"].set_text("0")
    assert not w.run_panel.run_button.isEnabled()
    assert not w.run_panel.add_button.isEnabled()
    assert not w.start_run()  # even when called directly, nothing is written
    assert not (tmp_path / "x.h5").exists()
    w.protocols.form.editors["cycles"].set_text("2")
    assert w.run_panel.run_button.isEnabled()


def test_shipped_paper_presets_load_into_the_form(qtbot):
    panel = ProtocolPanel()
    qtbot.addWidget(panel)
    presets = load_presets()
    assert panel.preset_box.count() == len(presets) + 1
    for name in ("paper000-fig1-cc2mA", "paper000-fig7-ltp-ltd"):
        preset = presets[name]
        panel.apply_preset(preset)
        assert panel.protocol_name == preset.protocol
        values = panel.current_values()
        for key, expected in preset.resolved().items():
            if key in preset.values:
                assert values[key] == pytest.approx(expected), key
        assert "preset loaded" in panel.message.text()


def test_save_and_reload_a_preset(qtbot, tmp_path):
    panel = ProtocolPanel()
    qtbot.addWidget(panel)
    form = panel.select("dc-sweep")
    form.editors["compliance_set"].set_text("7mA")
    form.editors["cycles"].set_text("4")
    path = panel.save_file(tmp_path / "mine.json", title="my loops")
    data = json.loads(path.read_text())
    assert data["protocol"] == "dc-sweep" and data["title"] == "my loops"
    assert read_preset(path).resolved()["compliance_set"] == pytest.approx(7e-3)
    form.reset()
    assert form.values()["cycles"] == 1
    panel.load_file(path)
    assert form.values()["cycles"] == 4
    assert form.values()["compliance_set"] == pytest.approx(7e-3)


def test_bad_presets_are_reported_not_applied(qtbot, tmp_path):
    panel = ProtocolPanel()
    qtbot.addWidget(panel)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    panel.load_file(bad)
    assert "bad.json" in panel.message.text()
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"protocol": "dc-sweep", "values": {"cycles": 0}}))
    panel.load_file(wrong)
    assert "cycles" in panel.message.text()
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"protocol": "no-such", "values": {}}))
    panel.load_file(unknown)
    assert "no-such" in panel.message.text()
