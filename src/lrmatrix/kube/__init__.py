"""The Kubernetes half of a cell: API helpers on the official ``kubernetes`` client (an
optional dependency), the runner every node command and API call goes through, and the
ordered steps of a Kubernetes cell, which the tests replay on a recording runner without a
cluster (tests/contract)."""
