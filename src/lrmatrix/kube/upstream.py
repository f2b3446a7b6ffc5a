"""What cri-dockerd, the kubelet and the control plane do, as data the harness reads, each with
the upstream file and version it was read from: the taints and the toleration a window must
stay under, cri-dockerd's cache, the kubelet's words for a runtime that is down. What only the
tests' simulated machine and cluster model (minikube's node, the scheduler's messages) is in
tests/contract/upstream.py, which builds on this. None of it has been observed on a real
cluster here: it is what the sources say.

cri-dockerd was read at its tag (``git show TAG:FILE``, lines as cited). The constants of the
Kubernetes API (taint keys, condition types, reasons) were read from kubernetes/api at every
pinned tag (kubernetes-1.28.15 ... kubernetes-1.34.1). The kubelet, scheduler and controller
sources are cited by file and symbol: kubernetes/kubernetes is too large to fetch here, so they
were read in indexed copies of those files, not at the tags.
"""

from __future__ import annotations

#: kubeadm's static pods (label tier=control-plane), Docker containers with the docker runtime:
#: pkg/minikube/cruntime/docker.go lists them with `docker ps` (name filter k8s_...)
STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


# --- cri-dockerd v0.4.1 ----------------------------------------------------------------------
#: core/docker_service.go:74 systemInfoCacheMinTTL = time.Minute: `docker version` (line 343)
#: and `docker info` (line 366) are memoized for a minute plus the last call's duration
#: (utils/cache.go:36), and a failure is not cached (utils/cache.go:43)
DOCKER_INFO_CACHE_S = 60.0


def cri_dockerd_version(output: str) -> str:
    """``cri-dockerd --version`` prints "cri-dockerd VERSION (COMMIT)" (cmd/server.go:81-89,
    cmd/version/version.go:17-23); the version and commit, as the binary says them."""
    line = next((ln.strip() for ln in output.splitlines() if ln.strip()), "")
    return line.removeprefix("cri-dockerd ").strip()


# --- the kubelet (pkg/kubelet/kubelet.go updateRuntimeUp, runtime.go runtimeErrors) ----------
#: what the kubelet says once the runtime's Status has failed for 30 s (its sync threshold)
RUNTIME_DOWN = "container runtime is down"


def not_ready_form(message: str) -> str:
    """Which of the kubelet's runtime messages a NotReady condition carries."""
    forms = [
        name
        for name, needle in (("runtime-down", RUNTIME_DOWN), ("runtime-not-ready", "RuntimeReady=false"))
        if needle in message
    ]
    return "+".join(forms) or "other"


# --- the not-ready taints, the default toleration, the scheduler ------------------------------
#: kubernetes/api core/v1/well_known_taints.go:22 TaintNodeNotReady (line 22 at every pinned tag)
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
#: kubernetes/api core/v1/types.go TaintEffectNoSchedule, TaintEffectNoExecute
NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "NoExecute"
#: pkg/controller/nodelifecycle/node_lifecycle_controller.go: a node whose Ready is False gets
#: not-ready:NoSchedule when the controller sees the update (nodeConditionToTaintKeyStatusMap,
#: doNoScheduleTaintingPass) and not-ready:NoExecute within its 5 s monitor period
#: (NotReadyTaintTemplate, processTaintBaseEviction); both are removed once Ready is True again
NOT_READY_TAINTS = (f"{TAINT_NOT_READY}:{NO_SCHEDULE}", f"{TAINT_NOT_READY}:{NO_EXECUTE}")
#: plugin/pkg/admission/defaulttolerationseconds/admission.go defaultNotReadyTolerationSeconds
#: (flag default 300): a pod without a toleration of its own for not-ready:NoExecute gets one
#: for 300 s. minikube v1.38.1 enables the plugin (pkg/util/constants.go:30, passed as
#: enable-admission-plugins in pkg/minikube/bootstrapper/bsutil/versions.go:46-47) and sets no
#: --default-not-ready-toleration-seconds. The taint eviction controller (pkg/controller/
#: tainteviction/taint_eviction.go processPodOnNode from 1.29; nodelifecycle/scheduler/
#: taint_manager.go in 1.28) deletes the pod 300 s after it saw the taint: a window that long
#: evicts the workload, which is another experiment than live-restore's
NOT_READY_TOLERATION_S = 300.0
#: kubernetes/api core/v1/types.go PodScheduled (every pinned tag; 2844 at 1.28.15, 3508 at 1.34.1)
POD_SCHEDULED = "PodScheduled"


def eviction_reached(window_s: float) -> str:
    """Why a window this long is not a live-restore experiment on Kubernetes, in one clause."""
    return (
        f"outage_window_s = {window_s:g} reaches the {NOT_READY_TAINTS[1]} taint's default "
        f"toleration of {NOT_READY_TOLERATION_S:g} s (DefaultTolerationSeconds): the pods may be "
        "evicted, which is another experiment"
    )
