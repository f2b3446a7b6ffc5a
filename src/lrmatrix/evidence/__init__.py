"""What a run observes and how it is judged: probe, coverage, serving, watchers, verdict."""
