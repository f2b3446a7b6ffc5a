"""The engine driver: a dockerd the harness starts in its own network namespace."""
