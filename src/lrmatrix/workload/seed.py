"""The seed experiment's nginx as a workload: the default of every cell that names none.

Its configuration is generated (the access log goes to stdout or, for one cell, to a file),
bind-mounted from files on the node, so the same config serves the offline-built image and
nginx:alpine, and the config change is an in-place rewrite + ``nginx -s reload``.
"""

from __future__ import annotations

from lrmatrix.evidence.probe import SERVED_BY
from lrmatrix.workload.spec import SEED, Change, Endpoint, Image, Mount, WorkloadSpec

NAME = SEED
PAGE_TITLE = "Live Restore Test"
ENDPOINTS = (
    Endpoint("/", PAGE_TITLE),
    Endpoint("/health", "healthy"),
    Endpoint("/status", "nginx is running"),
)
UPDATED_ENDPOINTS = (
    Endpoint("/health", "healthy - updated"),
    Endpoint("/status", "nginx is running - updated"),
    Endpoint("/test", "Live Restore Test - Updated Configuration"),
)

INDEX_HTML = f"""<!DOCTYPE html>
<html><head><title>{PAGE_TITLE}</title></head>
<body><h1>{PAGE_TITLE}</h1><p>Served by nginx; probed by lrmatrix.</p></body></html>
"""

#: where nginx writes its access log: the seed's stdout (drained by dockerd), or a file in the
#: container (nothing for a stopped dockerd to leave undrained)
ACCESS_LOGS = {"stdout": "/dev/stdout", "file": "/var/log/nginx/access.log"}
CONF = "nginx.conf"  # under the node's work folder


def nginx_conf(updated: bool = False, access_log: str = "stdout") -> str:
    """The seed nginx.conf; ``updated`` is the config-change variant with ``/test``."""
    suffix = " - updated" if updated else ""
    test = (
        (
            "    location = /test { default_type text/plain; "
            'return 200 "Live Restore Test - Updated Configuration\\n"; }\n'
        )
        if updated
        else ""
    )
    return (
        "user nobody nogroup;\n"
        "worker_processes 1;\n"
        "pid /tmp/nginx.pid;\n"
        "error_log /dev/stderr warn;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"  access_log {ACCESS_LOGS[access_log]};\n"
        # who served: the container's hostname (its name here, the pod's name on Kubernetes)
        "  add_header X-Served-By $hostname always;\n"
        "  server {\n"
        "    listen 80;\n"
        f'    location = /health {{ default_type text/plain; return 200 "healthy{suffix}\\n"; }}\n'
        f"    location = /status {{ default_type text/plain; "
        f'return 200 "nginx is running{suffix}\\n"; }}\n'
        f"{test}"
        "    location / { root /usr/share/nginx/html; index index.html; default_type text/html; }\n"
        "  }\n"
        "}\n"
    )


def seed(access_log: str = "stdout") -> WorkloadSpec:
    """Two nginx containers on node ports 8081-8082, told apart by X-Served-By ($hostname)."""
    return WorkloadSpec(
        name=NAME,
        image=Image(recipe=NAME),
        port=80,
        endpoints=ENDPOINTS,
        files={CONF: nginx_conf(access_log=access_log).encode(), "html/index.html": INDEX_HTML.encode()},
        mounts=(Mount(CONF, "/etc/nginx/nginx.conf"), Mount("html", "/usr/share/nginx/html")),
        identify=SERVED_BY,
        hostname=True,
        change=Change(
            CONF,
            nginx_conf(updated=True, access_log=access_log).encode(),
            ("nginx", "-s", "reload"),
            UPDATED_ENDPOINTS,
        ),
    )
