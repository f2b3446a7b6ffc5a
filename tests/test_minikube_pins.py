"""The Kubernetes pins of matrix.toml against the version list of the minikube release they
are run with (kept in matrix/ as data, with its source tag): a pin that release does not
list makes `minikube start` go online to look it up, which fails on an offline machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from lrmatrix.matrix.cells import find_matrix_dir

MATRIX = find_matrix_dir()


def semver(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v.split("-")[0])[:3])


def release_list(release: str) -> tuple[list[str], dict[str, str]]:
    """(ValidKubernetesVersions, {Newest/OldestKubernetesVersion: v}) of one release's file."""
    path = MATRIX / f"minikube-{release}-kubernetes-versions.txt"
    assert path.exists(), f"no version list for minikube {release} in {MATRIX}; add {path.name}"
    versions, bounds = [], {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if " = " in line:
            key, _, value = line.partition(" = ")
            bounds[key] = value
        elif line:
            versions.append(line)
    return versions, bounds


def pins(data: dict) -> dict[str, tuple[str, str]]:
    """{platform: (kubernetes pin, minikube release named by the platform)}."""
    return {
        name: (plat["kubernetes"], plat.get("minikube", ""))
        for name, plat in data["platforms"].items()
        if "kubernetes" in plat
    }


def problems(data: dict) -> list[str]:
    release = data["minikube"]["release"]
    versions, bounds = release_list(release)
    newest = semver(bounds["NewestKubernetesVersion"])
    found = []
    for name, (pin, named) in sorted(pins(data).items()):
        if named and named != release:
            found.append(f"{name} names minikube {named}, [minikube] release is {release}")
        if pin not in versions:
            found.append(f"{name}: {pin} is not in minikube {release}'s ValidKubernetesVersions")
        elif semver(pin) > newest:
            found.append(f"{name}: {pin} is newer than {release}'s NewestKubernetesVersion")
    return found


def matrix_data() -> dict:
    return tomllib.loads((MATRIX / "matrix.toml").read_text())


def test_every_pin_is_listed_by_the_pinned_minikube_release():
    data = matrix_data()
    assert len(pins(data)) == 7
    assert problems(data) == []


@pytest.mark.parametrize(
    ("platform", "pin", "message"),
    [
        ("k8s134", "v1.34.99", "not in minikube"),
        ("k8s131", "v1.31.13-rc.0", "not in minikube"),
    ],
)
def test_a_pin_the_release_does_not_list_is_caught(platform, pin, message):
    data = matrix_data()
    data["platforms"][platform]["kubernetes"] = pin
    assert any(message in p and platform in p for p in problems(data))


def test_a_platform_naming_another_release_is_caught():
    data = matrix_data()
    data["platforms"]["k8s128"]["minikube"] = "v1.37.0"
    assert problems(data) == ["k8s128 names minikube v1.37.0, [minikube] release is v1.38.1"]


def test_the_list_is_the_releases_own_with_its_source():
    head = (MATRIX / "minikube-v1.38.1-kubernetes-versions.txt").read_text().splitlines()[:4]
    assert "tag v1.38.1" in head[1] and "constants_kubernetes_versions.go" in head[2]
    versions, bounds = release_list("v1.38.1")
    # v1.37.0 lacked these four (its newest were v1.31.12, v1.32.8, v1.33.4, v1.34.0)
    assert {"v1.31.13", "v1.32.9", "v1.33.5", "v1.34.1"} <= set(versions)
    assert bounds == {"NewestKubernetesVersion": "v1.35.1", "OldestKubernetesVersion": "v1.28.0"}


def test_the_list_file_is_found_from_the_matrix_folder():
    assert isinstance(MATRIX, Path) and (MATRIX / "matrix.toml").exists()


def test_ci_installs_the_release_the_pins_are_checked_against():
    from contract import upstream
    from lrmatrix.cli import ci_workflows
    from lrmatrix.matrix.cells import load_matrix

    release = matrix_data()["minikube"]["release"]
    assert release == upstream.MINIKUBE
    setup = ci_workflows.driver_setup(load_matrix(MATRIX))
    assert f"/minikube/releases/{release}/" in setup["minikube"]


#: read at each release's tag: pkg/drivers/kic/types.go (kicbase), deploy/kicbase/Dockerfile
#: ARG CRI_DOCKERD_VERSION / CRI_DOCKERD_COMMIT (v1.38.1: lines 30-31)
KICBASE_OF = {"v1.38.1": ("v0.0.50", "v0.4.1", "55d6e1a1d6f2ee58949e13a0c66afe7d779ac942")}


def test_the_modelled_runtime_is_the_one_the_pinned_releases_kicbase_carries():
    """Moving [minikube] release without reading its kicbase's cri-dockerd fails here."""
    from contract import upstream

    release = matrix_data()["minikube"]["release"]
    assert release in KICBASE_OF, f"read deploy/kicbase/Dockerfile at {release} and add its cri-dockerd"
    assert KICBASE_OF[release] == (upstream.KICBASE, upstream.CRI_DOCKERD, upstream.CRI_DOCKERD_COMMIT)


def test_the_runtime_messages_are_cri_dockerd_v041s_words():
    """core/docker_service.go:347 wraps the client's error, :480 wraps that again, and the
    kubelet prints the condition: two wrappers before "Cannot connect"."""
    from contract import upstream

    assert upstream.RUNTIME_NOT_READY == (
        "container runtime not ready: RuntimeReady=false reason:DockerDaemonNotReady "
        "message:docker: failed to get docker version: failed to get docker version from dockerd: "
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    )
    assert upstream.cri_dockerd_version("cri-dockerd 0.4.1 (55d6e1a)\n") == "0.4.1 (55d6e1a)"
