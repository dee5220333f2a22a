"""The CSA control catalog shipped inside the package, and rule coverage per control."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


@dataclass(frozen=True, slots=True)
class Control:
    id: str
    area: str
    area_title: str
    perspective: tuple[str, ...]
    summary: str
    how: tuple[str, ...]


@lru_cache(maxsize=1)
def load_catalog() -> tuple[Control, ...]:
    """Parse ``catalog.yaml`` (CSA-3.1.N.M ids, summaries, perspective, how)."""
    text = resources.files("mamori.controls").joinpath("catalog.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    out = []
    for area in data["areas"]:
        for c in area["controls"]:
            out.append(Control(c["id"], area["id"], area["title"], tuple(c["perspective"]),
                               " ".join(str(c["summary"]).split()), tuple(c["how"])))
    return tuple(out)


def control_ids() -> frozenset[str]:
    return frozenset(c.id for c in load_catalog())
