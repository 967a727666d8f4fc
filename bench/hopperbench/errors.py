"""The benchmark's one error type."""


class BenchError(RuntimeError):
    """A step of the benchmark failed or timed out; the message says which and why."""
