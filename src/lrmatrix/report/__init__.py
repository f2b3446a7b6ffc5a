"""Reports over result files. ``rows`` turns results into table rows (data); the other
modules only render those rows, so every format shows the same numbers."""

from __future__ import annotations
