"""lrmatrix: what happens to running workloads when a node's Docker daemon stops and returns."""

from __future__ import annotations

__version__ = "0.1.0"
