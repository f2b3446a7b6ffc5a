"""Scenario checks, one module per topic; each function is registered with ``@registry.check``."""
