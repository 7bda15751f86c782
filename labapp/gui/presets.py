"""Protocol presets as JSON files: read (tolerantly), write, and list the shipped ones.

A preset file is ``{"protocol": "<name>", "values": {param: value, ...}, "title": "...",
"source": "..."}``; ``parameters`` is accepted for ``values`` and values may be numbers
or strings with units (``"5mA"``), parsed by the protocol's own declarations. Shipped
presets (paper 000's among them) live in ``protocols/presets/*.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import protocols


@dataclass
class Preset:
    """One named set of parameter values for one protocol."""

    protocol: str
    values: dict[str, Any]
    title: str = ""
    source: str = ""
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"protocol": self.protocol, "title": self.title,
                               "values": self.values}
        if self.source:
            out["source"] = self.source
        return out


class PresetError(ValueError):
    """A preset file that cannot be used; the message names the file and the problem."""


def from_json(data: Any, path: Path | None = None) -> Preset:
    where = str(path) if path else "preset"
    if not isinstance(data, dict):
        raise PresetError(f"{where}: a preset is a JSON object, got {type(data).__name__}")
    name = data.get("protocol")
    if not isinstance(name, str) or not name:
        raise PresetError(f"{where}: missing 'protocol' (the protocol name)")
    values = data.get("values", data.get("parameters", {}))
    if not isinstance(values, dict):
        raise PresetError(f"{where}: 'values' must be an object of parameter values")
    values = {k: (v["value"] if isinstance(v, dict) and "value" in v else v)
              for k, v in values.items()}
    title = str(data.get("title") or data.get("name") or (path.stem if path else name))
    extra = {k: v for k, v in data.items()
             if k not in ("protocol", "values", "parameters", "title", "name", "source")}
    return Preset(name, values, title, str(data.get("source", "")), path, extra)


def load_preset(path: str | Path) -> Preset:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise PresetError(f"{p}: not valid JSON ({exc})") from exc
    return from_json(data, p)


def save_preset(preset: Preset, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(preset.as_json(), indent=2) + "\n", encoding="utf-8")
    return p


def shipped_dir() -> Path:
    return Path(protocols.__file__).resolve().parent / "presets"


def shipped_presets() -> list[Preset]:
    """Presets shipped with the protocols (unreadable files are skipped, not fatal)."""
    out = []
    for p in sorted(shipped_dir().glob("*.json")):
        try:
            out.append(load_preset(p))
        except PresetError:
            continue
    return out
