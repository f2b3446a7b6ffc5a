"""The minikube driver's declaration (registered in pyproject.toml's ``lrmatrix.drivers``), with
the matrix keys only it reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, Field

from lrmatrix.drivers.registry import Driver
from lrmatrix.errors import BadInput
from lrmatrix.matrix.schema import VERSION, Table

if TYPE_CHECKING:
    from lrmatrix.drivers.base import Node
    from lrmatrix.matrix.model import Matrix

# minikube is the release matrix.toml [minikube] pins (its Kubernetes pins were chosen for it),
# never `latest`, whose newest default may differ from what the cells were validated against
CI_SETUP = (
    "curl -fsSLo /tmp/minikube https://storage.googleapis.com/minikube/releases/{release}/"
    "minikube-linux-amd64 && sudo install /tmp/minikube /usr/local/bin/minikube"
)


class MinikubePlatform(Table):
    """``[platforms.<name>]`` keys of a minikube platform."""

    kubernetes: Annotated[str, Field(pattern=VERSION)] | None = None
    minikube: Annotated[str, Field(pattern=VERSION)] | None = None
    #: let the outage window reach the not-ready taint's 300 s default toleration (pods may be
    #: evicted); without it such a window is refused at load
    accept_eviction: bool | None = None


class MinikubeTable(Table):
    """``[minikube]``: how profiles are started (lrmatrix.drivers.minikube.node reads it)."""

    release: Annotated[str, Field(pattern=VERSION)] | None = None
    driver: Annotated[str, Field(min_length=1)] = "docker"
    start_flags: list[str] = Field(default_factory=list)


class MinikubeDriver(Driver):
    """One minikube profile per Kubernetes version, Docker runtime through cri-dockerd."""

    scheme = "minikube"
    # ssh as in every cell env ([testenv]): the cell may be pointed at a node of yours (--node)
    extras = ("kubernetes", "ssh")
    tox_labels = ("kubernetes",)
    tox_env: ClassVar[dict[str, Any]] = {
        "pass_env": ["LRMATRIX_*", "PIP_*", "HOME", "KUBECONFIG", "MINIKUBE_HOME", "DOCKER_HOST"],
    }
    platform_keys = MinikubePlatform
    matrix_tables: ClassVar[dict[str, type[BaseModel]]] = {"minikube": MinikubeTable}

    @classmethod
    def node_class(cls) -> type[Node]:
        from lrmatrix.drivers.minikube.node import MinikubeNode

        return MinikubeNode

    @classmethod
    def ci_setup(cls, matrix: Matrix) -> str | None:
        """minikube at the release the matrix pins."""
        from lrmatrix.kube.settings import matrix_table

        release = matrix_table("minikube", matrix.source.parent).get("release")
        if not release:
            raise BadInput(
                f"{matrix.source}: [minikube] release is missing; the CI job must install a pinned one"
            )
        return CI_SETUP.format(release=release)
