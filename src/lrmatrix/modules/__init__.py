"""Capabilities of a node on top of the way commands reach it, in pytest-testinfra's module style.

A testinfra backend implements ``run``; its modules (``host.process``, ``host.socket``) are
classes bound to the host that turn that one method into a capability. lrmatrix does the same:
a driver provides how commands and files reach its node (``Node.run``, ``Node.read_files``,
over the node's transport), and the Docker and /proc work sits on top in these modules, once
for every driver. The harness reaches them as ``node.dockerd`` and ``node.processes``, the
node checks as ``host.lrm_dockerd`` and ``host.lrm_processes`` (``NodeHost``): the same objects.
A driver supplies what differs on its node by naming a subclass (the engine node finds its
processes by network namespace), as testinfra picks a module class per system.
"""
