"""The workload on a node: containers, their image, and how they are identified."""
