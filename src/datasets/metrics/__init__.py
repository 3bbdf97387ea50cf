"""Metrics as time series: campaigns, actions, newsletters, contents, broadcasts, actions, transactional messages."""

from .dataset import Metrics

__all__ = ["Metrics"]
