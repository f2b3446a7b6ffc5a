"""A driver from another distribution (tests/test_driver_plugins.py installs it into a temp
folder with a dist-info of its own): one module and one entry-point line, no file of lrmatrix
edited. It makes no node; it declares what the schema, tox, CI and recover read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from lrmatrix.drivers.registry import Driver
from lrmatrix.matrix.schema import Table

if TYPE_CHECKING:
    from lrmatrix.drivers.spec import NodeSpec
    from lrmatrix.matrix.model import Matrix


class FakePlatform(Table):
    """A key only this driver's platforms take."""

    fake_racks: int | None = None


class FakeDriver(Driver):
    scheme = "fake"
    extras = ("ci",)
    tox_labels = ("fake",)
    tox_env: ClassVar[dict[str, Any]] = {"pass_env": ["LRMATRIX_*", "FAKE_HOME"]}
    runs_in_ci = True
    platform_keys = FakePlatform
    recovers_by_name = True

    @classmethod
    def ci_setup(cls, matrix: Matrix) -> str | None:
        return f"echo set up the fake driver for {len(matrix.cells)} cells"

    @classmethod
    def recover(cls, matrix: Matrix, node: NodeSpec | None) -> int | None:
        where = f"on {node.path}" if node is not None else "here"
        print(f"fake: undid {len(matrix.cells)} cells' runs {where}")
        return 0
