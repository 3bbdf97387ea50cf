"""The datasets. REGISTRY maps a configuration key to its dataset, in run order (see registry.py).

A dataset that lists an endpoint (or one endpoint per parent record) is a declaration in catalogue.py and
registers as ``Flag(DECLARATION)``; a dataset with code is a ``Dataset`` subclass that carries its key and its
settings model, and registers as the class itself.
"""

from __future__ import annotations

from . import catalogue
from .activities import Activities
from .base import Dataset, RunContext, run_dataset
from .customers import Customers
from .messages import Messages
from .metrics import Metrics
from .registry import Flag, Registry
from .runner import run_datasets
from .segment_membership import SegmentMembership

REGISTRY = Registry(
    Flag(catalogue.CAMPAIGNS),
    Flag(catalogue.SEGMENTS),
    Messages,
    Activities,
    Customers,
    SegmentMembership,
    Metrics,
    *(Flag(declaration) for declaration in catalogue.CATALOGUE),
)

__all__ = ["REGISTRY", "Dataset", "Flag", "Registry", "RunContext", "run_dataset", "run_datasets"]
