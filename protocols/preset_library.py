"""Named parameter sets shipped as JSON files in ``protocols/presets/``.

One preset per file, named by the file's stem::

    {"protocol": "pulse-train", "title": "...", "source": "paper 000 Fig. 5a",
     "values": {"amplitude": 1.5, "compliance": "1mA", ...}}

Files are parsed as data (``json``), never evaluated. Values are numbers, strings with an
optional unit suffix (parsed by the parameter's own declaration, e.g. ``"5mA"``) or
lists; every preset is validated against its protocol when it is used, and when it is
written (:func:`save_preset`, the GUI's *Save preset*): this module reads and writes the
format, nobody else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.base import Protocol
from protocols.parameters import UnknownParameterError, resolve
from protocols.registry import get_protocol

PRESET_DIR = Path(__file__).resolve().parent / "presets"


class PresetError(ValueError):
    """A preset that cannot be used; names the preset and the problem."""


@dataclass(frozen=True)
class Preset:
    name: str
    protocol: str
    values: dict[str, Any]
    title: str = ""
    source: str = ""
    path: Path | None = None

    def resolved(self) -> dict[str, Any]:
        """Values parsed and validated by the protocol's declarations."""
        return parse_values(get_protocol(self.protocol), self.values)


def parse_values(cls: type[Protocol], values: Mapping[str, Any]) -> dict[str, Any]:
    """Strings go through ``Param.parse`` (units accepted), other values through validate."""
    known = {p.name: p for p in cls.params}
    out = {}
    for name, value in values.items():
        p = known.get(name)
        if p is None:
            raise UnknownParameterError(name, value, list(known), cls.name)
        out[name] = p.parse(value) if isinstance(value, str) and p.kind != "str" else value
    return resolve(cls.params, out)


def read_preset(path: str | Path) -> Preset:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PresetError(f"{p}: not a readable JSON preset ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("protocol"), str):
        raise PresetError(f"{p}: a preset is an object with a 'protocol' name")
    values = data.get("values", {})
    if not isinstance(values, dict):
        raise PresetError(f"{p}: 'values' must be an object of parameter values")
    return Preset(p.stem, data["protocol"], values, str(data.get("title", "")),
                  str(data.get("source", "")), p)


def load_presets(directory: str | Path = PRESET_DIR) -> dict[str, Preset]:
    """All presets in ``directory`` by name, sorted."""
    return {p.stem: read_preset(p) for p in sorted(Path(directory).glob("*.json"))}


def is_preset_path(text: str | Path) -> bool:
    """A preset argument names a file when it ends in ``.json`` or holds a directory."""
    s = str(text)
    return s.lower().endswith(".json") or "/" in s or "\\" in s


def get_preset(name: str | Path) -> Preset:
    """A shipped preset by name, or a preset file by path (``my/preset.json``)."""
    if is_preset_path(name):
        if not Path(name).is_file():
            raise PresetError(f"preset file {str(name)!r} does not exist")
        return read_preset(name)
    presets = load_presets()
    if name not in presets:
        raise PresetError(f"unknown preset {name!r}; known: {', '.join(presets)}")
    return presets[name]


def build(protocol: str, preset: str | Path | None = None,
          values: Mapping[str, Any] | None = None) -> Protocol:
    """A protocol from an optional preset overlaid with ``values``."""
    cls = get_protocol(protocol)
    base: dict[str, Any] = {}
    if preset:
        pre = get_preset(preset)
        if pre.protocol != cls.name:
            raise PresetError(f"preset {str(preset)!r} is for {pre.protocol}, not {cls.name}")
        base = {k: v for k, v in pre.resolved().items() if k in pre.values}
    return cls(**{**base, **dict(values or {})})


def save_preset(path: str | Path, protocol: str, values: Mapping[str, Any], title: str = "",
                source: str = "") -> Path:
    """Write a preset that :func:`read_preset` reads back; numbers in SI units.

    The values are checked against the protocol's declarations first (an unknown name or
    a value out of range raises before anything is written). A path without ``.json``
    gets it.
    """
    parse_values(get_protocol(protocol), values)
    p = Path(path)
    if p.suffix.lower() != ".json":
        p = p.with_suffix(".json")
    p.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"protocol": protocol, "title": title or p.stem,
                            "values": dict(values)}
    if source:
        data["source"] = source
    p.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return p
