"""Scenario actions, one module per topic; each class is registered with ``@registry.action``."""
