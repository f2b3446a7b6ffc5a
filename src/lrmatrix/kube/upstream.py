"""What minikube, cri-dockerd and the kubelet do, as data, each with the upstream file and
version it was read from. The tests' simulated machine and cluster (tests/contract) and the
checks' classifiers use these, so none of them carries its own idea of a node. None of
it has been observed on a real cluster here: it is what the sources say.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

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
EXEC_RELOAD = "/bin/kill -s HUP $MAINPID"
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


#: kubeadm's static pods (label tier=control-plane), Docker containers with the docker runtime:
#: pkg/minikube/cruntime/docker.go lists them with `docker ps` (name filter k8s_...)
STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")

#: pkg/minikube/constants/constants_kubeadm_images.go (v1.38.1): the pause image per minor of
#: the pins, which cri-dockerd gets as --pod-infra-container-image (cruntime/docker.go)
PAUSE_TAGS = {"1.28": "3.9", "1.29": "3.9", "1.30": "3.9", "1.31": "3.10", "1.32": "3.10", "1.33": "3.10"}


def pause_image(kubernetes: str) -> str:
    minor = ".".join(kubernetes.lstrip("v").split(".")[:2])
    return f"registry.k8s.io/pause:{PAUSE_TAGS.get(minor, '3.10.1')}"


# --- cri-dockerd v0.4.0 ----------------------------------------------------------------------
#: core/docker_service.go systemInfoCacheMinTTL: `docker version` / `docker info` are memoized
#: for a minute; utils/cache.go Memoize does not cache failures
DOCKER_INFO_CACHE_S = 60.0
DOCKER_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
)


def sandbox_failure(pause: str) -> str:
    """The kubelet's FailedCreatePodSandBox message when RunPodSandbox fails in
    core/sandbox_run.go at ensureSandboxImageExists (core/sandbox_helpers.go)."""
    return (
        "Failed to create pod sandbox: rpc error: code = Unknown desc = "
        f'failed to inspect sandbox image "{pause}": {DOCKER_DOWN}'
    )


# --- the kubelet (pkg/kubelet/kubelet.go updateRuntimeUp, runtime.go runtimeErrors) ----------
RUNTIME_CHECK_S = 5.0  # updateRuntimeUp runs every 5 s
RUNTIME_SYNC_THRESHOLD_S = 30.0  # "container runtime is down" 30 s after the last good check
NODE_STATUS_S = 10.0  # nodeStatusUpdateFrequency (default)
#: core/docker_service.go Status -> RuntimeReady=false, reason DockerDaemonNotReady
RUNTIME_NOT_READY = (
    "container runtime not ready: RuntimeReady=false reason:DockerDaemonNotReady "
    f"message:docker: failed to get docker version: {DOCKER_DOWN}"
)
RUNTIME_DOWN = "container runtime is down"
#: the earliest and latest NotReady after the stop: cache just expiring, or just refreshed
#: (60 s) plus a runtime check (5 s) plus a status post (10 s), and the threshold for "down"
NOT_READY_RANGE_S = (0.0, DOCKER_INFO_CACHE_S + RUNTIME_CHECK_S + NODE_STATUS_S + RUNTIME_SYNC_THRESHOLD_S)


def not_ready_form(message: str) -> str:
    """Which of the kubelet's runtime messages a NotReady condition carries."""
    forms = [
        name
        for name, needle in (("runtime-down", RUNTIME_DOWN), ("runtime-not-ready", "RuntimeReady=false"))
        if needle in message
    ]
    return "+".join(forms) or "other"


_SANDBOX = re.compile(r"Failed to create pod sandbox: .*Cannot connect to the Docker daemon")


def is_runtime_down_sandbox_failure(message: str) -> bool:
    return bool(_SANDBOX.search(message))
