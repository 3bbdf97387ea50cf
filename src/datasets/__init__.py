"""One module per dataset. REGISTRY maps a configuration key to its dataset class, in run order."""

from __future__ import annotations

from .activities import Activities
from .base import Dataset, RunContext
from .campaigns import Campaigns
from .customers import Customers
from .messages import Messages
from .metrics import Metrics
from .segment_membership import SegmentMembership
from .segments import Segments

REGISTRY: dict[str, type[Dataset]] = {
    Campaigns.key: Campaigns,
    Segments.key: Segments,
    Customers.key: Customers,
    SegmentMembership.key: SegmentMembership,
    Messages.key: Messages,
    Activities.key: Activities,
    Metrics.key: Metrics,
}

__all__ = ["REGISTRY", "Dataset", "RunContext"]
