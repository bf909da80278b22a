"""Errors of the training stage; the CLI prints them as one line, never a traceback."""

from __future__ import annotations

from edge_runtime.types import EdgeDetectError
from workbench.evaluation import DataError  # the one error for unusable labelled data


class WeightsError(EdgeDetectError):
    """Pretrained weights are not available (offline machine, unsupported combination)."""


class ConfigError(EdgeDetectError):
    """A recipe value is out of range or inconsistent with another."""


__all__ = ["ConfigError", "DataError", "WeightsError"]
