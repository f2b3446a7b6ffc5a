"""A container under a restart policy across the restart (scenario ``restart-policy``): after
it, the daemon must still honour the policy of the container it restored, starting it again
when its process is killed (TestRestartPolicyWithLiveRestore, moby#29598)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lrmatrix.errors import NodeError
from lrmatrix.evidence.records import Record
from lrmatrix.run.actions.base import Action
from lrmatrix.scenarios import registry, sidecar

if TYPE_CHECKING:
    from lrmatrix.matrix.cells import Cell
    from lrmatrix.run.context import Context


@dataclass(frozen=True)
class PolicyContainer(Record):
    """The container ``policy-container`` started: its policy, process and start before the
    disruption."""

    container: str
    policy: str
    pid: int
    started_at: str


@registry.action
@dataclass(frozen=True)
class StartPolicyContainer(Action):
    """A container with restart policy ``policy`` (a sleep from the workload's image)."""

    name: ClassVar[str] = "policy-container"
    container: str = "lrm-policy"
    policy: str = "always"

    def __post_init__(self) -> None:
        sidecar.named("container", self.container)
        if self.policy not in sidecar.POLICIES:
            raise ValueError(f"policy {self.policy!r} is none of {', '.join(sidecar.POLICIES)}")

    def run(self, ctx: Context) -> list[Record]:
        state = sidecar.start(ctx, self.container, "--restart", self.policy)
        if state is None or not state.running:
            raise NodeError(f"{self.container} is not running after docker run: {state}")
        return [
            PolicyContainer(self.container, self.policy, state.pid, state.started_at),
            ctx.event(
                "policy container started", f"{self.container} --restart {self.policy} pid {state.pid}"
            ),
        ]

    def describe(self, cell: Cell) -> str:
        return f"a container {self.container} with --restart {self.policy}"
