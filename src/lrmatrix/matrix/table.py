"""The base of every matrix table, apart from the schema so that the tables of other modules
(``lrmatrix.matrix.workloads``, the drivers') can build on it without an import circle."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Table(BaseModel):
    """Every table: unknown keys refused, no type coercion ("5" is not 5), no nan or inf."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
