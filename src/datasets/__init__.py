"""The datasets. REGISTRY maps a configuration key to its dataset, in run order (see registry.py).

A dataset that lists an endpoint (or one endpoint per parent record) is a declaration in catalogue.py and
registers as ``Flag(DECLARATION)``; a dataset with real logic is a module or package with its own settings
section and registers as ``Section(key, "module:Class")``.
"""

from __future__ import annotations

from . import catalogue
from .base import Dataset, RunContext
from .registry import Flag, Registry, Section

REGISTRY = Registry(
    Flag(catalogue.CAMPAIGNS),
    Flag(catalogue.SEGMENTS),
    Section("messages", "datasets.messages:Messages"),
    Section("activities", "datasets.activities:Activities"),
    Section("customers", "datasets.customers:Customers"),
    Section("segment_membership", "datasets.segment_membership:SegmentMembership"),
    *(Flag(declaration) for declaration in catalogue.CATALOGUE),
)

__all__ = ["REGISTRY", "Dataset", "Flag", "Registry", "RunContext", "Section"]
