"""One problem of a run file, as ``labapp validate`` reports it (schema and NeXus checks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a run file."""

    code: str
    where: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        place = f"{self.where}: " if self.where else ""
        return f"{self.severity} [{self.code}] {place}{self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "where": self.where, "message": self.message,
                "severity": self.severity}
