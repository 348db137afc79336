"""The registry of normalisers: one per (source, detail-type) family.

A normaliser module registers itself with ``@register(...)``, declaring the EventBridge
event pattern it reads. The member template's forwarding rules and the core bus rules are
checked against these patterns, so a new source is one new module and one test file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from remedy.model import Finding

NormaliseFn = Callable[[Mapping[str, Any]], list[Finding]]


@dataclass(frozen=True, slots=True)
class Normaliser:
    name: str
    event_pattern: Mapping[str, Any]
    sources: tuple[str, ...]
    detail_types: tuple[str, ...]
    fn: NormaliseFn


_BY_NAME: dict[str, Normaliser] = {}
_BY_ROUTE: dict[tuple[str, str], Normaliser] = {}


def register(name: str, event_pattern: Mapping[str, Any]) -> Callable[[NormaliseFn], NormaliseFn]:
    """Register `fn` for every (source, detail-type) pair its event pattern names."""
    sources = tuple(event_pattern["source"])
    detail_types = tuple(event_pattern["detail-type"])

    def wrap(fn: NormaliseFn) -> NormaliseFn:
        entry = Normaliser(name, event_pattern, sources, detail_types, fn)
        _BY_NAME[name] = entry
        for source in sources:
            for detail_type in detail_types:
                _BY_ROUTE[(source, detail_type)] = entry
        return fn

    return wrap


def normalisers() -> tuple[Normaliser, ...]:
    return tuple(_BY_NAME.values())


def lookup(source: str, detail_type: str) -> Normaliser | None:
    return _BY_ROUTE.get((source, detail_type))
