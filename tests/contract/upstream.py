"""What minikube, cri-dockerd and the kubelet do, as the tests' simulated machine and cluster
(tests/contract) and the dry run model it: data, each with the upstream file and version it
was read from. What the harness itself reads (the taints, the toleration, cri-dockerd's cache,
the kubelet's runtime messages) is in ``lrmatrix.kube.upstream`` and is re-exported here, so the
fake and the harness cannot disagree; the rest is only the fakes', so it lives with them. None
of it has been observed on a real cluster here: it is what the sources say.

minikube and cri-dockerd were read at their tags (``git show TAG:FILE``, lines as cited). The
constants of the Kubernetes API (taint keys, condition types, reasons) were read from
kubernetes/api at every pinned tag (kubernetes-1.28.15 ... kubernetes-1.34.1). The kubelet,
scheduler and controller sources are cited by file and symbol: kubernetes/kubernetes is too
large to fetch here, so they were read in indexed copies of those files, not at the tags.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lrmatrix.kube.upstream import (
    DOCKER_INFO_CACHE_S,
    NO_EXECUTE,
    NO_SCHEDULE,
    NOT_READY_TAINTS,
    NOT_READY_TOLERATION_S,
    POD_SCHEDULED,
    RUNTIME_DOWN,
    STATIC_PODS,
    TAINT_NOT_READY,
    cri_dockerd_version,
    not_ready_form,
)

__all__ = [
    "CRI_DOCKERD",
    "CRI_DOCKERD_COMMIT",
    "DOCKERD_ARGV",
    "DOCKER_DOWN",
    "DOCKER_INFO_CACHE_S",
    "DOCKER_VERSION_FAILED",
    "KICBASE",
    "MINIKUBE",
    "NODE_STATUS_S",
    "NOT_READY_TAINTS",
    "NOT_READY_TOLERATION_S",
    "NO_EXECUTE",
    "NO_SCHEDULE",
    "PAUSE_TAGS",
    "POD_SCHEDULED",
    "RUNTIME_CHECK_S",
    "RUNTIME_DOWN",
    "RUNTIME_NOT_READY",
    "RUNTIME_SYNC_THRESHOLD_S",
    "START_LIMIT_BURST",
    "START_LIMIT_HIT",
    "START_LIMIT_INTERVAL_S",
    "STATIC_PODS",
    "TAINT_NOT_READY",
    "UNSCHEDULABLE",
    "cri_dockerd_version",
    "host_cgroup_driver",
    "is_runtime_down_sandbox_failure",
    "minikube_daemon_json",
    "not_ready_form",
    "pause_image",
    "sandbox_failure",
    "unschedulable_message",
]

#: the release matrix.toml [minikube] pins; its Kubernetes versions are kept in
#: matrix/minikube-<release>-kubernetes-versions.txt
MINIKUBE = "v1.38.1"

# --- minikube (pkg/provision/ubuntu.go: the kicbase node's docker.service) --------------------
#: ExecStart of docker.service, provider label and insecure registry as `minikube start
#: --driver=docker` fills the template (10.96.0.0/12 is the default service CIDR)
DOCKERD_ARGV: tuple[str, ...] = (
    "/usr/bin/dockerd",
    "-H",
    "tcp://0.0.0.0:2376",
    "-H",
    "fd://",
    "--containerd=/run/containerd/containerd.sock",
    "-H",
    "unix:///var/run/docker.sock",
    "--default-ulimit=nofile=1048576:1048576",
    "--tlsverify",
    "--tlscacert",
    "/etc/docker/ca.pem",
    "--tlscert",
    "/etc/docker/server.pem",
    "--tlskey",
    "/etc/docker/server-key.pem",
    "--label",
    "provider=docker",
    "--insecure-registry",
    "10.96.0.0/12",
)
#: [Unit] StartLimitBurst=3, StartLimitIntervalSec=60; [Service] Restart=always,
#: ExecReload=/bin/kill -s HUP $MAINPID
START_LIMIT_BURST = 3
START_LIMIT_INTERVAL_S = 60.0
START_LIMIT_HIT = (
    "Job for docker.service failed because the service was restarted too often. "
    'See "systemctl status docker.service" and "journalctl -xeu docker.service" for details.'
)


def minikube_daemon_json(cgroup_driver: str) -> bytes:
    """pkg/minikube/cruntime/docker.go configureDocker: Go's json.Marshal of
    dockerDaemonConfig (compact, field order as declared, no trailing newline), written on
    every start, then docker is restarted."""
    config = {
        "exec-opts": [f"native.cgroupdriver={cgroup_driver}"],
        "log-driver": "json-file",
        "log-opts": {"max-size": "100m"},
        "storage-driver": "overlay2",
    }
    return json.dumps(config, separators=(",", ":")).encode()


def host_cgroup_driver(cgroup_root: str = "/sys/fs/cgroup") -> str:
    """pkg/minikube/node/start.go cgroupDriver with the docker driver, from
    pkg/minikube/detect/detect_linux.go cgroupVersion: a cgroup v2 host (cgroup2fs) gives
    ``systemd``, a v1 host ``cgroupfs`` (the kic node shares the host's cgroups)."""
    return "systemd" if (Path(cgroup_root) / "cgroup.controllers").exists() else "cgroupfs"


#: pkg/minikube/constants/constants_kubeadm_images.go (v1.38.1): the pause image per minor of
#: the pins, which cri-dockerd gets as --pod-infra-container-image (cruntime/docker.go)
PAUSE_TAGS = {"1.28": "3.9", "1.29": "3.9", "1.30": "3.9", "1.31": "3.10", "1.32": "3.10", "1.33": "3.10"}


def pause_image(kubernetes: str) -> str:
    minor = ".".join(kubernetes.lstrip("v").split(".")[:2])
    return f"registry.k8s.io/pause:{PAUSE_TAGS.get(minor, '3.10.1')}"


# --- what minikube v1.38.1's kicbase (v0.0.50) puts on the node -----------------------------
#: deploy/kicbase/Dockerfile:30-31 ARG CRI_DOCKERD_VERSION="v0.4.1", CRI_DOCKERD_COMMIT=55d6e1a...
#: (the tag v0.4.1 of Mirantis/cri-dockerd is that commit); the ISO agrees:
#: deploy/iso/minikube-iso/arch/x86_64/package/cri-dockerd/cri-dockerd.mk:7-8
CRI_DOCKERD = "v0.4.1"
CRI_DOCKERD_COMMIT = "55d6e1a1d6f2ee58949e13a0c66afe7d779ac942"
#: pkg/drivers/kic/types.go:27 Version = "v0.0.50"
KICBASE = "v0.0.50"
#: deploy/kicbase/Dockerfile:153-162 installs `docker-ce docker-ce-cli containerd.io` from
#: download.docker.com's apt repository with no version: the node's Docker is whatever was
#: current when the image was built, so a cell reads it on the node (`docker version`), never
#: takes it from here


# --- cri-dockerd v0.4.1 ----------------------------------------------------------------------
#: the docker client cri-dockerd vendors (v27.0.2): vendor/github.com/docker/docker/client/
#: errors.go:37, for its default endpoint unix:///var/run/docker.sock (cmd/cri/options/options.go:109)
DOCKER_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
)
#: core/docker_service.go:347 getDockerVersion wraps the client's error
DOCKER_VERSION_FAILED = f"failed to get docker version from dockerd: {DOCKER_DOWN}"


def sandbox_failure(pause: str) -> str:
    """The kubelet's FailedCreatePodSandBox message (pkg/kubelet/kuberuntime/kuberuntime_manager.go
    SyncPod: "Failed to create pod sandbox: %v" of the gRPC error) when RunPodSandbox fails at
    ensureSandboxImageExists (core/sandbox_run.go:50, core/sandbox_helpers.go:433)."""
    return (
        "Failed to create pod sandbox: rpc error: code = Unknown desc = "
        f'failed to inspect sandbox image "{pause}": {DOCKER_DOWN}'
    )


# --- the kubelet (pkg/kubelet/kubelet.go updateRuntimeUp, runtime.go runtimeErrors) ----------
RUNTIME_CHECK_S = 5.0  # updateRuntimeUp runs every 5 s
RUNTIME_SYNC_THRESHOLD_S = 30.0  # "container runtime is down" 30 s after the last good check
NODE_STATUS_S = 10.0  # nodeStatusUpdateFrequency (default)
#: cri-dockerd core/docker_service.go:477-481 Status (478: getDockerVersion fails): RuntimeReady=false, reason
#: DockerDaemonNotReady, "docker: failed to get docker version: %v" of getDockerVersion's error;
#: the kubelet's "container runtime not ready: %v" (updateRuntimeUp) of the condition as
#: pkg/kubelet/container/runtime.go RuntimeCondition.String formats it. When the cached
#: `docker info` has expired too, Status fails outright (core/docker_service.go:488-490): the
#: kubelet then only says RUNTIME_DOWN, 30 s later
RUNTIME_NOT_READY = (
    "container runtime not ready: RuntimeReady=false reason:DockerDaemonNotReady "
    f"message:docker: failed to get docker version: {DOCKER_VERSION_FAILED}"
)
_SANDBOX = re.compile(r"Failed to create pod sandbox: .*Cannot connect to the Docker daemon")


def is_runtime_down_sandbox_failure(message: str) -> bool:
    return bool(_SANDBOX.search(message))


#: kubernetes/api core/v1/types.go PodReasonUnschedulable (every pinned tag; 2854 at 1.28.15, 3532 at
#: 1.34.1)
UNSCHEDULABLE = "Unschedulable"


def unschedulable_message(nodes: int = 1) -> str:
    """The scheduler's PodScheduled=False message for a pod that does not tolerate the
    not-ready NoSchedule taint (pkg/scheduler/framework/plugins/tainttoleration Filter,
    "node(s) had untolerated taint {%s: %s}", in FitError.Error). Newer releases word it
    differently ("untolerated taint(s)"), so lrmatrix reads the condition's status and reason,
    and the taint from the node, never this text."""
    return (
        f"0/{nodes} nodes are available: {nodes} node(s) had untolerated taint "
        f"{{{TAINT_NOT_READY}: }}. preemption: 0/{nodes} nodes are available: "
        f"{nodes} Preemption is not helpful for scheduling."
    )
