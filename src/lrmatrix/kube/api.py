"""The ``kubernetes`` client wired to a runner, and the kube-context guard.

Every REST call the client makes goes through ``Runner.api`` (by swapping the client's REST
object), and so does ``exec``; a dry run therefore sees the same calls a real run makes.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode, urlsplit

from lrmatrix.errors import BadInput, EnvironmentProblem
from lrmatrix.kube.runner import ApiReply, Runner


@runtime_checkable
class ClusterNode(Protocol):
    """A node that belongs to a Kubernetes cluster the harness can reach (minikube's)."""

    scheme: str

    def kube_client(self) -> Kube: ...


def cluster_of(node: object) -> Kube:
    """The Kubernetes API of ``node``'s cluster; a node without one cannot run a Kubernetes cell."""
    if not isinstance(node, ClusterNode):
        scheme = getattr(node, "scheme", type(node).__name__)
        raise BadInput(f"the {scheme} driver has no Kubernetes API; Kubernetes cells need minikube")
    return node.kube_client()


#: kind -> (API group object, create method, delete method) for what manifests/ contains
KINDS: dict[str, tuple[str, str, str]] = {
    "ConfigMap": ("core", "create_namespaced_config_map", "delete_namespaced_config_map"),
    "Service": ("core", "create_namespaced_service", "delete_namespaced_service"),
    "Deployment": ("apps", "create_namespaced_deployment", "delete_namespaced_deployment"),
}


def _client() -> Any:
    try:
        from kubernetes import client
    except ImportError:
        raise EnvironmentProblem(
            "Kubernetes cells need the kubernetes client: pip install 'lrmatrix[kubernetes]'"
        ) from None
    return client


def guard_context(named: str | None, expected: str) -> str:
    """The run may use one context only: the one named on the command line, if any, must be
    the one this node's cluster is reached by; anything else is refused before any change."""
    if named and named != expected:
        raise BadInput(f"kube context {named!r} was named, but this node's cluster is {expected!r}; refusing")
    return expected


def kubeconfig_contexts(config_file: str | None) -> list[str]:
    try:
        from kubernetes import config
    except ImportError:
        _client()
        raise
    try:
        contexts, _active = config.list_kube_config_contexts(config_file=config_file)
    except Exception as exc:  # the client raises ConfigException, OSError, yaml errors
        raise EnvironmentProblem(f"cannot read kubeconfig {config_file or '~/.kube/config'}: {exc}") from exc
    return [str(c["name"]) for c in contexts or []]


class _RunnerRest:
    """Stands in for the client's REST object: each request is handed to the runner."""

    def __init__(self, runner: Runner, real: Any) -> None:
        self.runner = runner
        self.real = real

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        query = parts.query or urlencode(kwargs.get("query_params") or [])  # clients < 34 pass it apart
        path = parts.path + (f"?{query}" if query else "")
        reply = self.runner.api(
            method, path, kwargs.get("body"), lambda: self.real.request(method, url, *args, **kwargs)
        )
        if isinstance(reply, ApiReply) and not 200 <= reply.status < 300:
            raise _client().exceptions.ApiException(http_resp=reply)
        return reply

    def close(self) -> None:
        if self.real is not None:
            self.real.close()

    # clients before 34 call one method per verb, named as the client names them
    def GET(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def POST(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def PATCH(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)

    def PUT(self, url: str, **kwargs: Any) -> Any:
        return self.request("PUT", url, **kwargs)

    def DELETE(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)


class Kube:
    """Typed API groups (``core``, ``apps``) whose every call goes through ``runner``."""

    def __init__(self, runner: Runner, configuration: Any, context: str = "") -> None:
        client = _client()
        self.runner = runner
        self.context = context
        self.api_client = client.ApiClient(configuration)
        self.api_client.rest_client = _RunnerRest(runner, self.api_client.rest_client)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)

    @classmethod
    def from_kubeconfig(cls, runner: Runner, context: str, config_file: str | None = None) -> Kube:
        """Load exactly ``context`` (never the kubeconfig's current one), or refuse."""
        known = kubeconfig_contexts(config_file)
        if context not in known:
            raise BadInput(f"kube context {context!r} is not in the kubeconfig; it has: {', '.join(known)}")
        from kubernetes import config

        configuration = _client().Configuration()
        config.load_kube_config(config_file=config_file, context=context, client_configuration=configuration)
        return cls(runner, configuration, context)

    @classmethod
    def offline(cls, runner: Runner, context: str) -> Kube:
        """For dry runs: no kubeconfig is read and no connection is made."""
        configuration = _client().Configuration()
        configuration.host = "https://control-plane.minikube.internal:8443"
        return cls(runner, configuration, context)

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    @property
    def ca_file(self) -> str | None:
        return self.api_client.configuration.ssl_ca_cert or None

    def readyz(self, timeout: float = 5.0) -> str:
        """``GET /readyz``: "ok" when the API server is ready; otherwise what went wrong."""
        from urllib3.exceptions import HTTPError

        client = self.api_client
        try:
            if hasattr(client, "param_serialize"):  # clients >= 34 (the newer generator)
                method, url, headers, _body, _post = client.param_serialize(
                    "GET", "/readyz", auth_settings=["BearerToken"]
                )
                reply = client.call_api(method, url, header_params=headers, _request_timeout=timeout)
            else:
                reply = client.call_api(
                    "/readyz",
                    "GET",
                    auth_settings=["BearerToken"],
                    _preload_content=False,
                    _return_http_data_only=True,
                    _request_timeout=timeout,
                )
        except _client().exceptions.ApiException as exc:
            return f"HTTP {exc.status}"
        except (HTTPError, OSError) as exc:  # connection refused or dropped: the server is gone
            return f"no answer ({type(exc).__name__})"
        if not 200 <= reply.status < 300:
            return f"HTTP {reply.status}"
        return bytes(reply.read()).decode(errors="replace").strip()

    def group(self, kind: str) -> tuple[Any, str, str]:
        try:
            group, create, delete = KINDS[kind]
        except KeyError:
            raise BadInput(f"manifest kind {kind!r} is not supported; known: {', '.join(KINDS)}") from None
        return getattr(self, group), create, delete

    def create(self, doc: dict[str, Any], namespace: str) -> None:
        api, create, _ = self.group(doc["kind"])
        getattr(api, create)(namespace, doc)

    def delete(self, doc: dict[str, Any], namespace: str) -> None:
        api, _, delete = self.group(doc["kind"])
        getattr(api, delete)(doc["metadata"]["name"], namespace)

    def exec(self, pod: str, namespace: str, argv: list[str]) -> str:
        """Run ``argv`` in the pod's first container; stdout and stderr together."""
        from kubernetes.stream import stream

        query = "&".join(f"command={a}" for a in argv)

        def send() -> ApiReply:
            out = stream(
                self.core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=argv,
                stderr=True,
                stdout=True,
                stdin=False,
                tty=False,
            )
            return ApiReply(200, str(out).encode())

        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/exec?{query}&stderr=true&stdout=true"
        reply = self.runner.api("GET", path, None, send)
        return bytes(reply.data).decode(errors="replace")
