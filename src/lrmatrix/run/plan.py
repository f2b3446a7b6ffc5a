"""``lrmatrix plan CELL``: the steps a cell runs, in order, read from its sequence.

Nothing is executed and nothing is simulated: each step is the one-line description of an
action the scenario runs (``lrmatrix.run.sequence``, ``lrmatrix.run.actions``), and a wait is shown
as a wait, with what ends it and its bound from the cell's timings. With ``--commands`` each
step also lists what it runs on the node: the driver's command lines from the builders its
methods run (``Node.plan_*``), and the Kubernetes API calls by verb and path as the client
builds them, with nothing sent (``lrmatrix.kube.capture``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from lrmatrix.drivers import planned
from lrmatrix.drivers.planned import Planned
from lrmatrix.matrix import engine_match
from lrmatrix.matrix.cells import Cell
from lrmatrix.run.actions import kube as kube_actions
from lrmatrix.run.actions.base import Action
from lrmatrix.run.actions.change import NO_CHANGE
from lrmatrix.run.actions.disruption import Start, Stop
from lrmatrix.run.actions.workload import DeployContainers, image_source, spec_of
from lrmatrix.run.live_restore import RELOAD_POLL_S, RELOAD_WAIT_S
from lrmatrix.run.sequence import PHASES, kind, sequence_for
from lrmatrix.scenarios import registry
from lrmatrix.workload.seed import CONF
from lrmatrix.workload.spec import Source

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.kube.api import Kube
    from lrmatrix.kube.manifests import ManifestSet
    from lrmatrix.kube.steps import KubeCell

DRY_RUN = "dry run: nothing was executed; the steps come from the cell's sequence, waits with their bounds"
COMMANDS = (
    "commands: '$' a command line as it leaves this machine, '>' a Kubernetes API call, "
    "'!' a signal, '+' a file written in place, '~' a wait, '#' a note"
)


@dataclass(frozen=True)
class Step:
    """One line of the plan: its phase, the action's name, what it does, whether it waits, and
    (with ``--commands``) what it runs."""

    phase: str
    action: str
    text: str
    wait: bool = False
    commands: tuple[Planned, ...] = ()


def plan_cell(cell: Cell, node: Node | None = None) -> list[Step]:
    """Every step of ``cell`` in the order the scenario runs them; with ``node``, each with
    the commands that node's driver runs for it."""
    sequence = sequence_for(cell)
    lr = str(cell.live_restore).lower()
    cmds = Commands(cell, node.plan_view()) if node is not None else None

    def of(phase: str, action: Action) -> Step:
        found = cmds.action(action) if cmds else ()
        return Step(phase, action.name, action.describe(cell), action.waits_in(cell), tuple(found))

    def own(phase: str, action: str, text: str, found: Callable[[Commands], list[Planned]]) -> Step:
        return Step(phase, action, text, commands=tuple(found(cmds)) if cmds else ())

    docker = engine_match.expected_docker(cell)
    fits = (
        [Step("setup", "engine", f"refuse a node whose Docker is not {docker}, before anything changes")]
        if docker
        else []
    )
    steps = [
        *fits,
        own(
            "setup",
            "node",
            f"create the node ({cell.driver} driver, engine {cell.engine.name})",
            lambda c: c.node.plan_create(),
        ),
        own(
            "setup",
            "live-restore",
            f"set live-restore={lr} in daemon.json (a backup first) and apply it by a reload; "
            "a restart only if the reload did not change it",
            Commands.live_restore,
        ),
        own("setup", "versions", "record the versions the node runs", lambda c: c.node.plan_versions()),
    ]
    steps += [of("setup", a) for a in sequence.setup]
    for phase in PHASES:
        steps += [of(phase, a) for a in sequence.phases[phase]]
    steps += [
        Step("teardown", "logs", "save the daemon's log beside the result"),
        *(of("teardown", a) for a in sequence.cleanup),
        own("teardown", "restore", "put daemon.json back byte for byte", Commands.restore),
        own(
            "teardown",
            "destroy",
            "destroy the node; check that nothing of the cell is left",
            lambda c: c.node.plan_destroy(),
        ),
    ]
    return steps


class Commands:
    """What each step runs on ``node``, taken from the driver's and the kube steps' own code."""

    def __init__(self, cell: Cell, node: Node) -> None:
        self.cell = cell
        self.node = node

    def action(self, action: Action) -> list[Planned]:
        """The commands of one action of the sequence ([] where it runs nothing of the driver's)."""
        if isinstance(action, Stop):
            return self.node.plan_stop(action.signal)
        if isinstance(action, Start):
            return [planned.note("only if the daemon did not come back by itself"), *self.node.plan_start()]
        kube_steps: dict[type, Callable[[], list[Planned]]] = {
            kube_actions.DeployPods: self.deploy,
            kube_actions.KubeBaseline: self.baseline,
            kube_actions.KubeOutage: self.outage,
            kube_actions.KubeAfter: self.after,
            kube_actions.KubeChange: self.change,
            kube_actions.KubeTeardown: lambda: self.api(lambda k: k.workload.remove()),
        }
        if isinstance(action, DeployContainers):
            return self.containers(action)
        found = kube_steps.get(type(action))
        return found() if found else []

    def containers(self, action: DeployContainers) -> list[Planned]:
        """``DeployContainers`` (``load_image`` and ``Workload.deploy``): the image imported,
        loaded or pulled unless the node has it, the files written, one ``docker run`` per
        container."""
        node = self.node
        tag, got = image_source(spec_of(self.cell))
        if action.image_ref:
            tag, got = action.image_ref, ["pull", action.image_ref]
        w = action.workload(node, self.cell, tag)
        fetch = (
            [
                planned.note(f"if {tag} is not on the node (docker image inspect):"),
                node.planned(["docker", *got]),
            ]
            if got
            else [planned.note(f"{tag} must be on the node (docker image inspect)")]
        )
        return [
            *fetch,
            node.planned(w.mkdir_args()),
            *(
                line
                for path, data in w.spec.files.items()
                for line in node.plan_write(w.node_path(path), self.file_note(path, data))
            ),
            *(node.planned(["docker", *w.run_args(n, p)]) for n, p in zip(w.names, w.ports, strict=True)),
        ]

    def file_note(self, path: str, data: bytes | Source) -> str:
        """What a workload file holds: a file beside the matrix, or the seed's generated ones."""
        if isinstance(data, Source):
            return f"<the bytes of {data.path}>"
        return {CONF: f"<nginx.conf, access log to {self.cell.access_log}>"}.get(path, "<the index page>")

    def live_restore(self) -> list[Planned]:
        """``run.live_restore.apply``: the file merged, the reload, the restart as the fallback."""
        from lrmatrix.modules.dockerd import INFO

        node, path = self.node, self.node.daemon_json_path
        lr = str(self.cell.live_restore).lower()
        info = node.planned(list(INFO))
        return [
            *node.plan_read(path),
            planned.note(f"the bytes read are the backup; live-restore={lr} merged into them"),
            *node.plan_write(path, f"<daemon.json as read, with only live-restore set to {lr}>"),
            info,
            planned.note("if LiveRestoreEnabled already matches: nothing else"),
            *node.plan_reload(),
            planned.wait(
                f"{info.text} shows LiveRestoreEnabled={lr} (every {RELOAD_POLL_S:g} s)", RELOAD_WAIT_S
            ),
            planned.note("if the reload did not change it: a restart"),
            *node.plan_stop("SIGTERM"),
            *node.plan_start(),
        ]

    def restore(self) -> list[Planned]:
        path = self.node.daemon_json_path
        return [
            *self.node.plan_read(path),
            planned.note("if it differs from the backup:"),
            *self.node.plan_write(path, "<the backup bytes> (or rm -f when there was no file)"),
        ]

    # --- the Kubernetes side: each call as the client builds it, none sent ----------------
    def api(self, step: Callable[[KubeCell], object]) -> list[Planned]:
        """``step``'s API calls up to its first read (``lrmatrix.kube.capture``)."""
        from lrmatrix.kube.capture import api_calls
        from lrmatrix.kube.steps import KubeCell

        def on(kube: Kube) -> object:
            cell = KubeCell(self.cell, kube)
            cell.timeline.name = self.node.name  # minikube names its one node after the profile
            return step(cell)

        return [Planned("api", call) for call in api_calls(on)]

    def deploy(self) -> list[Planned]:
        from lrmatrix.kube.settings import KubeSettings
        from lrmatrix.kube.workload import MANIFEST, NODE_PORT

        read = self.manifests()
        spec = self.cell.workload
        source = (
            spec.manifests.path
            if spec is not None and spec.manifests is not None
            else f"manifests/{MANIFEST}"
        )
        ports = ", ".join(p.describe() for p in read.node_ports)
        every = KubeSettings.load().node_poll_s
        pods = " ".join(c.text for c in self.api(lambda k: k.workload.pods()))
        if spec is None or spec.manifests is None:
            probes = [f"http://<node ip>:{NODE_PORT}/..."]
        else:
            probes = [
                f"{e.label()} on <node ip>:{e.node_port}"
                for e in read.probed(spec.endpoints, spec.manifests.where)
            ]
        return [
            *self.api(lambda k: k.timeline.discover()),
            *self.api(lambda k: k.workload.deploy()),
            planned.note(f"Service {ports} ({source})"),
            planned.wait(
                f"{pods} shows {read.replicas} pods Ready (every {every:g} s)",
                self.cell.timings.ready_timeout_s,
            ),
            planned.note(f"the node path probes {', '.join(probes)}"),
        ]

    def manifests(self) -> ManifestSet:
        """What the cell applies: its workload's manifests, or the seed's."""
        from lrmatrix.kube.manifests import of
        from lrmatrix.kube.workload import seed_manifests

        spec = self.cell.workload
        return of(spec.manifests) if spec is not None and spec.manifests is not None else seed_manifests()

    def baseline(self) -> list[Planned]:
        return [*self.api(lambda k: k.timeline.poll()), *self.api(lambda k: k.workload.pods())]

    def outage(self) -> list[Planned]:
        if not self.cell.live_restore:
            return [planned.note("no API call: the API server died with dockerd")]
        window = self.cell.timings.outage_window_s
        looks = [*self.api(lambda k: k.probe_pod.look()), *self.api(lambda k: k.timeline.poll())]
        return [
            *self.api(lambda k: k.probe_pod.create()),
            planned.wait(f"{'; '.join(c.text for c in looks)} show a FailedCreatePodSandBox event", window),
            *self.api(lambda k: k.workload.pods()),
            planned.wait(f"the window ends, sampling {looks[-1].text}", window),
        ]

    def after(self) -> list[Planned]:
        from lrmatrix.kube.settings import KubeSettings

        t = self.cell.timings
        node = " ".join(c.text for c in self.api(lambda k: k.timeline.poll()))
        pods = " ".join(c.text for c in self.api(lambda k: k.workload.pods()))
        found = [
            planned.wait(f"{node} shows Ready", t.recover_timeout_s),
            planned.wait(f"{pods} shows {self.manifests().replicas} pods Ready", t.ready_timeout_s),
        ]
        if not self.cell.live_restore:
            return found
        pod = " ".join(c.text for c in self.api(lambda k: k.probe_pod.look()))
        return [
            *found,
            planned.wait(f"{pod} shows it Running", KubeSettings.load().pending_timeout_s),
            *self.api(lambda k: k.probe_pod.nginx_version()),
            *self.api(lambda k: k.probe_pod.delete()),
        ]

    def change(self) -> list[Planned]:
        from lrmatrix.kube.settings import KubeSettings

        if not self.manifests().change:
            return [planned.note(NO_CHANGE)]
        calls = self.api(lambda k: k.workload.apply_change())
        return [
            *calls[:-1],
            planned.wait(f"{calls[-1].text} shows the rollout done", KubeSettings.load().rollout_timeout_s),
        ]


def render(cell: Cell, steps: list[Step]) -> str:
    """A heading per phase, then its steps; a wait reads ``wait until ..., up to N s``."""
    lr = "on" if cell.live_restore else "off"
    platform = f"Kubernetes {cell.kubernetes} on minikube" if cell.kubernetes else f"the {cell.driver} driver"
    lines = [
        f"# lrmatrix plan {cell.name}: {platform}, live-restore {lr}, expect {cell.expect}",
        f"# {DRY_RUN}",
    ]
    if any(s.commands for s in steps):
        lines.append(f"# {COMMANDS}")
    for phase in ("setup", *PHASES):
        lines.append(f"== {phase}")
        ours = [s for s in steps if s.phase == phase]
        for s in ours:
            lines.append(f"  {'~' if s.wait else '-'} {s.action}: {s.text}")
            lines += [f"      {c.line()}" for c in s.commands]
        if not ours:
            lines.append("  (no action: the phase's checks run on the node as it is)")
        lines += [f"  ? check {name}: {about}" for name, at, about in scenario_checks(cell) if at == phase]
    lines.append("# '~' waits: it ends when the condition holds, or fails at its bound")
    if cell.scenario is not None:
        lines.append("# '?' a scenario check: the cell fails unless it observes the value measured for it")
    return "\n".join(lines) + "\n"


def scenario_checks(cell: Cell) -> list[tuple[str, str, str]]:
    """(name, phase, what it reads and must observe) of a scenario cell's checks."""
    if cell.scenario is None:
        return []
    specs = registry.checks()
    return [
        (
            name,
            specs[name].phase,
            f"{specs[name].about} Must observe: {cell.scenario.expect.get(name, 'not measured yet')!r}",
        )
        for name in cell.scenario.checks
    ]


def as_json(cell: Cell, steps: list[Step]) -> dict[str, Any]:
    """The same plan for tools; the disclaimer travels with it."""
    return {
        "cell": cell.name,
        "platform": kind(cell),
        "dry_run": DRY_RUN,
        "steps": [asdict(s) for s in steps],
        "scenario_checks": [
            {"check": name, "phase": phase, "text": text} for name, phase, text in scenario_checks(cell)
        ],
    }
