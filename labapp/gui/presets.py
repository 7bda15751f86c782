"""Saving the form as a preset file that :mod:`protocols.preset_library` reads back.

Reading, listing and validating presets belong to the protocol layer
(``protocols.preset_library``); the GUI only adds writing one, in the same format::

    {"protocol": "<name>", "title": "...", "values": {param: value, ...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_preset(path: str | Path, protocol: str, values: dict[str, Any], title: str = "",
                source: str = "") -> Path:
    """Write a preset; numbers are stored in SI units (no unit strings needed)."""
    p = Path(path)
    if p.suffix.lower() != ".json":
        p = p.with_suffix(".json")
    p.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"protocol": protocol, "title": title or p.stem, "values": values}
    if source:
        data["source"] = source
    p.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return p
