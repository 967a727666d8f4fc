"""Kopf wiring: watches, in-memory indexes, a work queue, and the executor of plans."""
