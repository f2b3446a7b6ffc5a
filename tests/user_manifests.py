"""A user's own Kubernetes workload for the tests: a manifests folder (Deployment, two
Services, ConfigMap) and a change overlay, named by a matrix beside the shipped one.

Nothing here is nginx: another Deployment name and labels, a container named ``app``, three
replicas, an HTTP and a TCP endpoint on two NodePorts read from the Services.
"""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT

CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-config
data:
  greeting: hello
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: shop
      tier: web
  template:
    metadata:
      labels:
        app.kubernetes.io/name: shop
        tier: web
    spec:
      containers:
        - name: app
          image: shop:1
          ports:
            - containerPort: 8080
              name: web
            - containerPort: 6379
        - name: sidecar
          image: shop-sidecar:1
"""

SERVICES = """\
apiVersion: v1
kind: Service
metadata:
  name: shop-web
spec:
  type: NodePort
  selector:
    app.kubernetes.io/name: shop
  ports:
    - port: 80
      targetPort: web
      nodePort: 30090
---
apiVersion: v1
kind: Service
metadata:
  name: shop-cache
spec:
  type: NodePort
  selector:
    app.kubernetes.io/name: shop
  ports:
    - port: 6379
      nodePort: 30091
"""

CHANGE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-config
data:
  greeting: hello - updated
"""

WORKLOAD = """
[workloads.shop]
description = "a user's own Deployment, two NodePort Services"
manifests = "shop"
change_manifests = "shop-change.yaml"
identify = "X-Pod"
endpoints = [
  { path = "/ready", status = 204, port = 80 },
  { protocol = "tcp", send = "PING", expect = "+PONG", port = 6379 },
]
change_endpoints = [{ path = "/greeting", body = "hello - updated", port = 8080 }]

[cells.k8s128-liverestore-shop]
workload = "shop"

[cells.k8s129-noliverestore-shop]
workload = "shop"
"""

CELL = "k8s128-liverestore-shop"
NAMESPACE = f"lrm-{CELL}"


def write(folder: Path, extra: str = WORKLOAD) -> Path:
    """matrix/ under ``folder``: the shipped matrix.toml plus ``extra``, the redis files it
    names, and the shop's manifests beside it; the matrix folder."""
    matrix = folder / "matrix"
    (matrix / "workloads" / "redis").mkdir(parents=True)
    for name in ("redis.conf", "redis-changed.conf"):
        (matrix / "workloads" / "redis" / name).write_bytes(
            (ROOT / "matrix/workloads/redis" / name).read_bytes()
        )
    (matrix / "matrix.toml").write_text((ROOT / "matrix" / "matrix.toml").read_text() + extra)
    shop = matrix / "shop"
    shop.mkdir()
    (shop / "config.yaml").write_text(CONFIG)
    (shop / "deployment.yml").write_text(DEPLOYMENT)
    (shop / "services.yaml").write_text(SERVICES)
    (shop / "README.md").write_text("not a manifest: only .yaml and .yml files are read\n")
    (matrix / "shop-change.yaml").write_text(CHANGE)
    return matrix
