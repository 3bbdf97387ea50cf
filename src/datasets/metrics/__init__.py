"""Metrics as time series: campaigns, actions, newsletters, contents, broadcasts, actions, transactional messages."""

from .dataset import KINDS, Metrics

__all__ = ["KINDS", "Metrics"]
