"""Which actions a cell runs, phase by phase: its platform's sequence, as data.

As molecule's ``test_sequence``: each platform kind lists its phases and their actions; a
cell's own settings pick the disruption (``stop_signal``: stop or kill), add the load and
the engine switch of upgrade cells. The scenario runs this and nothing else; ``lrmatrix
plan`` prints it.

    phase      runs before the checks of that phase
    baseline   the background probe (and load) are running; the workload answered
    disrupt    the daemon stopped or killed, confirmed gone (or the node's upgrade commands run)
    outage     what can be seen while it is gone
    recover    the window waited out, the daemon started (or seen back by itself)
    after      what came back
    change     the workload's configuration changed
    teardown   the probe stopped, the verdict decided
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from lrmatrix.matrix.cells import STAGED_DEBS, Cell
from lrmatrix.run.actions.base import Action
from lrmatrix.run.actions.change import AwaitProbeRecovery, ChangeConfig, StopBackground
from lrmatrix.run.actions.disruption import (
    AwaitRespawn,
    EndNatWatch,
    Kill,
    OutageWindow,
    Start,
    Stop,
    SwitchEngine,
    WatchNat,
)
from lrmatrix.run.actions.kube import (
    DeployPods,
    KubeAfter,
    KubeBaseline,
    KubeChange,
    KubeOutage,
    KubeTeardown,
)
from lrmatrix.run.actions.observe import ObserveContainers
from lrmatrix.run.actions.package_upgrade import AwaitUpgradeEnd, PackageUpgrade, StageDebs
from lrmatrix.run.actions.workload import AwaitPaths, Capture, DeployContainers, StartLoad, StartProbe
from lrmatrix.scenarios import registry

PHASES = ("baseline", "disrupt", "outage", "recover", "after", "change", "teardown")


@dataclass(frozen=True)
class Sequence:
    """``setup`` before the first phase; each phase's actions on entering it; ``cleanup`` in
    the teardown, each whatever happened before (with the harness's own restore steps)."""

    setup: tuple[Action, ...]
    phases: dict[str, tuple[Action, ...]]
    cleanup: tuple[Action, ...] = ()

    def actions(self) -> tuple[Action, ...]:
        """Every action it may run, in order."""
        return (*self.setup, *(a for phase in self.phases.values() for a in phase), *self.cleanup)


def disruption(cell: Cell) -> Stop:
    """A stop as the service manager does it, or a crash."""
    return Kill() if cell.stop_signal == "SIGKILL" else Stop(cell.stop_signal)


def load(cell: Cell) -> tuple[Action, ...]:
    return (StartLoad(),) if cell.load is not None else ()


def upgrade(cell: Cell) -> tuple[Action, ...]:
    return (SwitchEngine(cell.engine_after),) if cell.engine_after is not None else ()


def recover(cell: Cell) -> tuple[Action, ...]:
    """The window waited out; the daemon (or another engine) started unless it came back."""
    return (OutageWindow(), WatchNat(), *upgrade(cell), Start(), AwaitPaths("recovered"), EndNatWatch())


def deploy(cell: Cell, image_ref: str | None) -> Action:
    """The cell's containers made, or in observe mode (ssh nodes) the user's watched."""
    observing = cell.workload is not None and cell.workload.observe is not None
    return ObserveContainers() if observing else DeployContainers(image_ref)


def containers(cell: Cell, image_ref: str | None = None) -> Sequence:
    """Docker engine nodes (engine, ssh): containers with published ports."""
    return Sequence(
        setup=(deploy(cell, image_ref), AwaitPaths("ready"), StartProbe(), *load(cell)),
        phases={
            "baseline": (),
            "disrupt": (Capture("before"), disruption(cell)),
            "outage": (),
            "recover": recover(cell),
            "after": (Capture("after"),),
            "change": (AwaitProbeRecovery(), ChangeConfig()),
            "teardown": (StopBackground(),),
        },
    )


def kubernetes(cell: Cell, image_ref: str | None = None) -> Sequence:
    """A minikube node: pods behind a NodePort, and what the API shows around the outage."""
    return Sequence(
        setup=(DeployPods(), AwaitPaths("ready"), StartProbe(), *load(cell)),
        phases={
            "baseline": (KubeBaseline(),),
            "disrupt": (Capture("before"), disruption(cell)),
            "outage": (KubeOutage(),),
            "recover": recover(cell),
            "after": (KubeAfter(), Capture("after")),
            "change": (AwaitProbeRecovery(), KubeChange()),
            "teardown": (StopBackground(),),
        },
        cleanup=(KubeTeardown(),),
    )


def package_upgrade(cell: Cell, image_ref: str | None = None) -> Sequence:
    """A Docker host over ssh whose own upgrade commands are the disruption: nothing is held
    down; what they do to dockerd is watched (``lrmatrix.run.actions.package_upgrade``)."""
    stage = (StageDebs(),) if any(STAGED_DEBS in c for c in cell.upgrade_command) else ()
    return Sequence(
        setup=(*stage, deploy(cell, image_ref), AwaitPaths("ready"), StartProbe(), *load(cell)),
        phases={
            "baseline": (),
            "disrupt": (Capture("before"), PackageUpgrade(cell.upgrade_command)),
            "outage": (),
            "recover": (AwaitPaths("recovered"),),
            "after": (Capture("after"),),
            "change": (AwaitProbeRecovery(), ChangeConfig()),
            "teardown": (StopBackground(),),
        },
        cleanup=(AwaitUpgradeEnd(),),
    )


def respawn(cell: Cell, image_ref: str | None = None) -> Sequence:
    """A Docker host over ssh whose service manager starts dockerd again after a crash
    (systemd's Restart=): the kill, then the wait for that restart; nothing is held down."""
    plain = containers(cell, image_ref)
    return Sequence(
        setup=plain.setup,
        phases=plain.phases | {"outage": (AwaitRespawn(),), "recover": (AwaitPaths("recovered"),)},
    )


#: platform kind -> its sequence
SEQUENCES: dict[str, Callable[[Cell, str | None], Sequence]] = {
    "containers": containers,
    "kubernetes": kubernetes,
    "package-upgrade": package_upgrade,
    "respawn": respawn,
}


def kind(cell: Cell) -> str:
    """The platform kind of a cell: its sequence's key."""
    if cell.upgrade_command:
        return "package-upgrade"
    if cell.respawn:
        return "respawn"
    return "kubernetes" if cell.kubernetes else "containers"


def sequence_for(cell: Cell, image_ref: str | None = None) -> Sequence:
    """``image_ref``: an image the node pulls (``--image``) instead of the offline-built one."""
    return with_scenario(cell, SEQUENCES[kind(cell)](cell, image_ref))


def with_scenario(cell: Cell, plain: Sequence) -> Sequence:
    """A scenario cell's own actions (``[scenarios.<name>].actions``), each appended to its
    phase: after that phase's own actions, before its checks (``setup``: once the workload
    answers and the probe runs; ``cleanup``: the teardown's steps that run whatever happened,
    e.g. a swarm left, before the node is destroyed)."""
    if cell.scenario is None:
        return plain
    extra = {
        phase: tuple(registry.make_action(name, params) for name, params in steps)
        for phase, steps in cell.scenario.actions.items()
    }
    return replace(
        plain,
        setup=plain.setup + extra.get("setup", ()),
        phases={phase: actions + extra.get(phase, ()) for phase, actions in plain.phases.items()},
        cleanup=plain.cleanup + extra.get("cleanup", ()),
    )
