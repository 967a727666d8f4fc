"""Command-line entry points: `hopper-operator` and the `kubectl hopper` plugin."""
