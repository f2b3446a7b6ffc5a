"""A FAKE: a single-node cluster in memory, answering the API calls lrmatrix makes with
real-shaped objects (kind, apiVersion, metadata.resourceVersion, conditions, events).

It stands in for a cluster only in tests, where none can run: the contract tests' fake API
server and the minikube driver's dry run (contract.dryrun), where it steers the waits. What
it does while the runtime is down follows lrmatrix.kube.upstream (minikube v1.38.1,
cri-dockerd v0.4.1, the kubelet, the node lifecycle controller, the scheduler):

- without live-restore the control plane's static pods die with dockerd: the API does not
  answer at all until ``control_plane_after`` s after docker is back; the kubelet then starts
  new sandboxes (restartCount + 1, a new pod IP from IPAM);
- with live-restore the API stays up; cri-dockerd's cached ``docker version`` keeps the
  runtime "ready" for up to a minute, so NotReady comes ``not_ready_after`` s after the stop
  (a few s to ~100 s on a real node); a pod created before the kubelet stops syncing
  (``stops_syncing_after``) gets a FailedCreatePodSandBox event, one created after gets no
  status and no event;
- once the node is NotReady it carries the not-ready NoSchedule and NoExecute taints, and a
  pod created then is never scheduled: PodScheduled False (Unschedulable) and a
  FailedScheduling event, until the node is Ready again;
- every pod created through the API gets the DefaultTolerationSeconds plugin's tolerations.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from contract import upstream
from lrmatrix.timestamps import iso

KINDS = {
    "configmaps": ("v1", "ConfigMap"),
    "services": ("v1", "Service"),
    "pods": ("v1", "Pod"),
    "events": ("v1", "Event"),
    "namespaces": ("v1", "Namespace"),
    "nodes": ("v1", "Node"),
    "deployments": ("apps/v1", "Deployment"),
}
NODE_IP = "192.168.49.2"
#: a request the API server cannot answer: the connection is dropped, no HTTP status
NO_ANSWER = 0
#: after the API is back, controller-manager and scheduler still need their leases
STATIC_READY_LAG_S = 5.0


def _hex(*parts: object, n: int = 10) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:n]


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge (what a strategic merge does for the maps lrmatrix patches)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def status_object(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class SimCluster:
    def __init__(
        self,
        node_name: str = "minikube",
        live_restore: bool = True,
        not_ready_after: float = upstream.DOCKER_INFO_CACHE_S
        + upstream.RUNTIME_CHECK_S
        + upstream.NODE_STATUS_S,
        stops_syncing_after: float = upstream.DOCKER_INFO_CACHE_S + upstream.RUNTIME_CHECK_S,
        control_plane_after: float = 20.0,
        wall0: float = 1_700_000_000.0,
        kubelet_version: str = "v1.34.1",
    ) -> None:
        self.node_name = node_name
        self.kubelet_version = kubelet_version
        self.live_restore = live_restore
        self.not_ready_after = not_ready_after
        self.stops_syncing_after = stops_syncing_after
        self.control_plane_after = control_plane_after
        self.static_ready_lag = STATIC_READY_LAG_S
        self.wall0 = wall0
        self.rv = 1000
        self.now = 0.0
        self.store: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.runtime_down_at: float | None = None
        self.api_back_at = 0.0
        self.ips = 0
        self.ready = ("True", "KubeletReady", "kubelet is posting ready status", 0.0)
        self._control_plane()

    # --- time and the runtime ------------------------------------------------------------
    def stamp(self, t: float | None = None) -> str:
        return iso(self.wall0 + (self.now if t is None else t))

    @property
    def api_up(self) -> bool:
        """The static pods run in Docker: without live-restore they are gone with dockerd."""
        if self.runtime_down_at is not None and not self.live_restore:
            return False
        return self.now >= self.api_back_at

    def set_runtime(self, up: bool, now: float) -> None:
        self.tick(now)
        if not up and self.runtime_down_at is None:
            self.runtime_down_at = now
        elif up and self.runtime_down_at is not None:
            self.runtime_down_at = None
            if not self.live_restore:  # new sandboxes for every pod, the control plane's too
                self.api_back_at = now + self.control_plane_after
                for pod in self._workload_pods():
                    self._set_pod(pod, "Running", ready=True, restarts=self._restarts(pod) + 1, new_ip=True)
                for pod in self._static_pods():
                    self._set_pod(pod, "Running", ready=False, restarts=self._restarts(pod) + 1)
        self.tick(now)

    def tick(self, now: float) -> None:
        """Advance to ``now``: the kubelet's view of the node and of pending pods."""
        self.now = max(self.now, now)
        down = self.runtime_down_at
        if down is not None and self.live_restore:  # the kubelet can still post its status
            if self.now - down >= self.not_ready_after and self.ready[0] == "True":
                since = down + self.not_ready_after
                self.ready = ("False", "KubeletNotReady", upstream.RUNTIME_NOT_READY, since)
            if self.now - down >= self.not_ready_after + upstream.RUNTIME_SYNC_THRESHOLD_S:
                both = f"[{upstream.RUNTIME_DOWN}, {upstream.RUNTIME_NOT_READY}]"
                self.ready = (*self.ready[:2], both, self.ready[3])
        elif down is None and self.ready[0] != "True" and self.api_up:
            self.ready = ("True", "KubeletReady", "kubelet is posting ready status", self.now)
        if down is None and self.api_up:
            for (plural, _ns, _name), pod in self.store.items():
                if plural == "pods" and pod["status"]["phase"] == "Pending":
                    pod["spec"]["nodeName"] = self.node_name  # the scheduler binds it, if it had not
                    pod["status"]["hostIP"] = NODE_IP
                    self._set_pod(pod, "Running", ready=True)
            if self.now >= self.api_back_at + self.static_ready_lag:
                for pod in self._static_pods():
                    if not pod["status"]["containerStatuses"][0]["ready"]:
                        self._set_pod(pod, "Running", ready=True)

    @property
    def tainted(self) -> bool:
        """The node lifecycle controller taints the node as soon as it sees Ready False (and
        untaints it once Ready is True again)."""
        return self.ready[0] == "False"

    @property
    def kubelet_syncing(self) -> bool:
        """The kubelet's sync loop skips pod work once its runtime check reports errors."""
        down = self.runtime_down_at
        return down is None or self.now - down < self.stops_syncing_after

    # --- objects -------------------------------------------------------------------------
    def _meta(self, plural: str, ns: str, doc: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        api_version, kind = KINDS[plural]
        obj = copy.deepcopy(doc)
        obj.update(apiVersion=api_version, kind=kind)
        meta = obj.setdefault("metadata", {})
        meta.update(
            uid=f"{_hex(plural, ns, meta['name'], self.rv, n=8)}-0000-4000-8000-{_hex(self.rv, n=12)}",
            resourceVersion=str(self.rv),
            creationTimestamp=meta.get("creationTimestamp") or self.stamp(),
        )
        if ns:
            meta["namespace"] = ns
        return obj

    def node(self) -> dict[str, Any]:
        status, reason, message, since = self.ready
        conditions = [
            {"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": f"kubelet has {r}"}
            for t, r in (
                ("MemoryPressure", "SufficientMemory"),
                ("DiskPressure", "NoDiskPressure"),
                ("PIDPressure", "SufficientPID"),
            )
        ]
        conditions.append({"type": "Ready", "status": status, "reason": reason, "message": message})
        for c in conditions:
            c.update(
                lastHeartbeatTime=self.stamp(),
                lastTransitionTime=self.stamp(since if c["type"] == "Ready" else 0),
            )
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "uid": f"{_hex('node', n=8)}-0000-4000-8000-{_hex('node', n=12)}",
                "resourceVersion": str(self.rv),
                "labels": {"kubernetes.io/hostname": self.node_name, "minikube.k8s.io/primary": "true"},
            },
            "spec": {"podCIDR": "10.244.0.0/24", **({"taints": self._taints()} if self.tainted else {})},
            "status": {
                "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": NODE_IP}],
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": _hex("boot", n=32),
                    "containerRuntimeVersion": "docker://28.4.0",
                    "kernelVersion": "6.1.0-40-amd64",
                    "kubeProxyVersion": self.kubelet_version,
                    "kubeletVersion": self.kubelet_version,
                    "machineID": _hex("machine", n=32),
                    "operatingSystem": "linux",
                    "osImage": "Ubuntu 22.04.5 LTS",
                    "systemUUID": f"{_hex('sys', n=8)}-0000-4000-8000-{_hex('sys', n=12)}",
                },
            },
        }

    def _taints(self) -> list[dict[str, Any]]:
        """not-ready:NoSchedule, and not-ready:NoExecute with the time it was added."""
        return [
            {"key": upstream.TAINT_NOT_READY, "effect": upstream.NO_SCHEDULE},
            {
                "key": upstream.TAINT_NOT_READY,
                "effect": upstream.NO_EXECUTE,
                "timeAdded": self.stamp(self.ready[3]),
            },
        ]

    def _pod(
        self,
        ns: str,
        name: str,
        spec: dict[str, Any],
        labels: dict[str, str],
        owner: str = "",
        owner_kind: str = "ReplicaSet",
    ) -> None:
        doc: dict[str, Any] = {"metadata": {"name": name, "labels": labels}, "spec": copy.deepcopy(spec)}
        if owner:
            doc["metadata"]["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1" if owner_kind == "ReplicaSet" else "v1",
                    "kind": owner_kind,
                    "name": owner,
                    "controller": True,
                    "uid": _hex(owner),
                }
            ]
        pod = self._meta("pods", ns, doc)
        if owner_kind != "Node":  # DefaultTolerationSeconds (static pods bring their own)
            pod["spec"].setdefault("tolerations", []).extend(
                {"key": key, "operator": "Exists", "effect": upstream.NO_EXECUTE, "tolerationSeconds": 300}
                for key in (upstream.TAINT_NOT_READY, "node.kubernetes.io/unreachable")
            )
        self.store[("pods", ns, name)] = pod
        if self.tainted and self.runtime_down_at is not None:  # not-ready:NoSchedule: not scheduled
            pod["status"] = {
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [self._unschedulable()],
            }
            self._event(ns, pod, "FailedScheduling")
            return
        pod["spec"]["nodeName"] = self.node_name
        pod["status"] = {"phase": "Pending", "qosClass": "BestEffort", "hostIP": NODE_IP}
        if self.runtime_down_at is None:
            self._set_pod(pod, "Running", ready=True)
            return
        if not self.kubelet_syncing:  # scheduled, and nothing else: no status, no event
            pod["status"]["conditions"] = [
                {"type": upstream.POD_SCHEDULED, "status": "True", "lastTransitionTime": self.stamp()}
            ]
            return
        self._set_pod(pod, "Pending", ready=False)
        self._event(ns, pod)

    def _unschedulable(self) -> dict[str, Any]:
        return {
            "type": upstream.POD_SCHEDULED,
            "status": "False",
            "reason": upstream.UNSCHEDULABLE,
            "message": upstream.unschedulable_message(),
            "lastProbeTime": None,
            "lastTransitionTime": self.stamp(),
        }

    def _set_pod(
        self, pod: dict[str, Any], phase: str, ready: bool, restarts: int | None = None, new_ip: bool = False
    ) -> None:
        st = pod["status"]
        running = phase == "Running"
        st["phase"] = phase
        if running and ("podIP" not in st or new_ip):
            if pod["spec"].get("hostNetwork"):
                st["podIP"] = NODE_IP
            else:  # host-local IPAM hands out the next free address to each new sandbox
                self.ips += 1
                st["podIP"] = f"10.244.0.{2 + self.ips % 250}"
            st["podIPs"] = [{"ip": st["podIP"]}]
            st.setdefault("startTime", self.stamp())
        flag = "True" if ready else "False"
        st["conditions"] = [
            {"type": t, "status": s, "lastTransitionTime": self.stamp()}
            for t, s in (
                ("PodScheduled", "True"),
                ("Initialized", "True"),
                ("ContainersReady", flag),
                ("Ready", flag),
            )
        ]
        container = pod["spec"]["containers"][0]
        count = self._restarts(pod) if restarts is None else restarts
        state = (
            {"running": {"startedAt": self.stamp()}}
            if running
            else {"waiting": {"reason": "ContainerCreating"}}
        )
        st["containerStatuses"] = [
            {
                "name": container["name"],
                "image": container["image"],
                "imageID": ""
                if not running
                else f"docker-pullable://{container['image']}@sha256:{_hex('img', n=64)}",
                "ready": ready,
                "started": running,
                "restartCount": count,
                "state": state,
                **(
                    {"containerID": f"docker://{_hex(pod['metadata']['uid'], count, n=64)}"}
                    if running
                    else {}
                ),
            }
        ]
        self.rv += 1
        pod["metadata"]["resourceVersion"] = str(self.rv)

    def _restarts(self, pod: dict[str, Any]) -> int:
        statuses = pod["status"].get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount", 0))

    def _event(self, ns: str, pod: dict[str, Any], reason: str = "FailedCreatePodSandBox") -> None:
        """The kubelet's sandbox failure, or the scheduler's FailedScheduling."""
        name = pod["metadata"]["name"]
        kubelet = reason == "FailedCreatePodSandBox"
        message = (
            upstream.sandbox_failure(upstream.pause_image(self.kubelet_version))
            if kubelet
            else upstream.unschedulable_message()
        )
        doc = {
            "metadata": {"name": f"{name}.{_hex(name, self.rv, n=16)}"},
            "involvedObject": {
                "kind": "Pod",
                "name": name,
                "namespace": ns,
                "uid": pod["metadata"]["uid"],
                "apiVersion": "v1",
            },
            "reason": reason,
            "message": message,
            "type": "Warning",
            "count": 1,
            "source": {"component": "kubelet", "host": self.node_name}
            if kubelet
            else {"component": "default-scheduler"},
            "firstTimestamp": self.stamp(),
            "lastTimestamp": self.stamp(),
            "reportingComponent": "kubelet" if kubelet else "default-scheduler",
            "reportingInstance": self.node_name if kubelet else "default-scheduler-" + self.node_name,
        }
        event = self._meta("events", ns, doc)
        self.store[("events", ns, event["metadata"]["name"])] = event

    def namespaces(self) -> list[str]:
        return [name for (plural, _ns, name) in self.store if plural == "namespaces"]

    def containers(self, ns: str) -> list[dict[str, Any]]:
        """The running app containers of a namespace as the node's Docker sees them (cri-dockerd
        names them k8s_<container>_<pod>_<ns>_<uid>_<restarts>)."""
        found = []
        for pod in self._workload_pods():
            meta, st = pod["metadata"], pod["status"]
            cs = (st.get("containerStatuses") or [{}])[0]
            if meta.get("namespace") != ns or "containerID" not in cs:
                continue
            found.append(
                {
                    "Id": cs["containerID"].removeprefix("docker://"),
                    "Name": f"/k8s_{cs['name']}_{meta['name']}_{ns}_{meta['uid']}_{cs['restartCount']}",
                    "State": {"Running": True, "Pid": 0, "StartedAt": cs["state"]["running"]["startedAt"]},
                    "RestartCount": 0,
                }
            )
        return found

    def _workload_pods(self) -> list[dict[str, Any]]:
        return [o for (p, _n, _m), o in self.store.items() if p == "pods" and _owner_kind(o) == "ReplicaSet"]

    def _static_pods(self) -> list[dict[str, Any]]:
        return [o for (p, _n, _m), o in self.store.items() if p == "pods" and _owner_kind(o) == "Node"]

    def _control_plane(self) -> None:
        """kube-system and kubeadm's static pods, mirrored into the API (owned by the Node)."""
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
        self.store[("namespaces", "", "kube-system")] = {
            **self._meta("namespaces", "", ns),
            "status": {"phase": "Active"},
        }
        for component in upstream.STATIC_PODS:
            spec = {
                "hostNetwork": True,
                "priorityClassName": "system-node-critical",
                "containers": [
                    {"name": component, "image": f"registry.k8s.io/{component}:{self.kubelet_version}"}
                ],
            }
            name = f"{component}-{self.node_name}"
            labels = {"component": component, "tier": "control-plane"}
            self._pod("kube-system", name, spec, labels, owner=self.node_name, owner_kind="Node")

    def _roll(self, dep: dict[str, Any]) -> None:
        """Replace the Deployment's pods with ones of its current template, all Ready."""
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        for key in [k for k, o in self.store.items() if k[0] == "pods" and k[1] == ns and _owned_by(o, name)]:
            del self.store[key]
        template = dep["spec"]["template"]
        rs = f"{name}-{_hex(template, n=10)}"
        for i in range(dep["spec"].get("replicas", 1)):
            self._pod(
                ns, f"{rs}-{_hex(rs, i, self.rv, n=5)}", template["spec"], template["metadata"]["labels"], rs
            )
        n = dep["spec"].get("replicas", 1)
        dep["status"] = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": n,
            "updatedReplicas": n,
            "readyReplicas": n,
            "availableReplicas": n,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
        }

    # --- the API -------------------------------------------------------------------------
    def handle(self, method: str, path: str, body: Any, now: float) -> tuple[int, Any]:
        """One request: (HTTP status, JSON object or text); ``NO_ANSWER`` when the API server
        is down (its static pod died with dockerd)."""
        self.tick(now)
        if not self.api_up:
            return NO_ANSWER, None
        parts = urlsplit(path)
        if parts.path in ("/readyz", "/livez"):
            return 200, "ok"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segs = parts.path.strip("/").split("/")
        rest = (
            segs[2:] if segs[:2] == ["api", "v1"] else segs[3:] if segs[:3] == ["apis", "apps", "v1"] else []
        )
        if not rest:
            return 404, status_object(404, "NotFound", f"the server could not find {parts.path}")
        if rest[0] == "nodes":
            if len(rest) == 1:
                return 200, self._list("nodes", [self.node()])
            if rest[1] == self.node_name:
                return 200, self.node()
            return 404, status_object(404, "NotFound", f'nodes "{rest[1]}" not found')
        if rest[0] != "namespaces":
            return 404, status_object(404, "NotFound", f"the server could not find {parts.path}")
        if len(rest) <= 2:
            return self._crud(method, "namespaces", "", rest[1] if len(rest) == 2 else None, body, query)
        return self._crud(method, rest[2], rest[1], rest[3] if len(rest) > 3 else None, body, query)

    def _list(self, plural: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        api_version, kind = KINDS[plural]
        return {
            "apiVersion": api_version,
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": str(self.rv)},
            "items": items,
        }

    def _crud(
        self, method: str, plural: str, ns: str, name: str | None, body: Any, query: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if plural not in KINDS:
            return 404, status_object(404, "NotFound", f"the server could not find the resource {plural}")
        if ns and ("namespaces", "", ns) not in self.store and method != "GET":
            return 404, status_object(404, "NotFound", f'namespaces "{ns}" not found')
        key = (plural, ns, name or "")
        if name is None and method == "GET":
            items = [o for (p, n, _), o in self.store.items() if p == plural and n == ns]
            return 200, self._list(plural, [o for o in items if _selected(o, query)])
        if name is None and method == "POST":
            key = (plural, ns, body["metadata"]["name"])
            if key in self.store:
                return 409, status_object(409, "AlreadyExists", f'{plural} "{key[2]}" already exists')
            if plural == "pods":
                self._pod(ns, key[2], body["spec"], body["metadata"].get("labels", {}))
                return 201, self.store[key]
            obj = self._meta(plural, ns, body)
            if plural == "namespaces":
                obj["status"] = {"phase": "Active"}
            self.store[key] = obj
            if plural == "deployments":
                obj["metadata"]["generation"] = 1
                self._roll(obj)
            return 201, obj
        if key not in self.store:
            return 404, status_object(404, "NotFound", f'{plural} "{name}" not found')
        obj = self.store[key]
        if method == "GET":
            return 200, obj
        if method == "PATCH":
            before = copy.deepcopy(obj.get("spec"))
            merge_patch(obj, body)
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            if plural == "deployments" and obj.get("spec") != before:
                obj["metadata"]["generation"] += 1
                self._roll(obj)
            return 200, obj
        if method == "DELETE":
            del self.store[key]
            if plural == "namespaces":
                for k in [k for k in self.store if k[1] == name]:
                    del self.store[k]
            if plural == "pods":
                return 200, obj
            return 200, status_object(200, "", f'{plural} "{name}" deleted')
        return 405, status_object(405, "MethodNotAllowed", f"{method} is not supported here")

    def exec_output(self, ns: str, pod: str, argv: list[str]) -> tuple[bool, str]:
        """What ``exec`` prints in a running nginx:alpine container (nginx -v writes to stderr)."""
        obj = self.store.get(("pods", ns, pod))
        if obj is None or obj["status"]["phase"] != "Running":
            return False, f'container not found ("{pod}")'
        if argv == ["nginx", "-v"]:
            return True, "nginx version: nginx/1.29.1\n"
        return True, ""


def _owner_kind(pod: dict[str, Any]) -> str:
    refs = pod["metadata"].get("ownerReferences") or [{}]
    return str(refs[0].get("kind", ""))


def _owned_by(pod: dict[str, Any], deployment: str) -> bool:
    return any(ref["name"].startswith(f"{deployment}-") for ref in pod["metadata"].get("ownerReferences", []))


def _selected(obj: dict[str, Any], query: dict[str, str]) -> bool:
    """labelSelector ``k=v[,k=v]`` and fieldSelector ``involvedObject.name=x``, as lrmatrix uses them."""
    labels = obj["metadata"].get("labels", {})
    for term in filter(None, query.get("labelSelector", "").split(",")):
        k, _, v = term.partition("=")
        if labels.get(k) != v:
            return False
    for term in filter(None, query.get("fieldSelector", "").split(",")):
        k, _, v = term.partition("=")
        if k == "involvedObject.name" and obj.get("involvedObject", {}).get("name") != v:
            return False
    return True
