"""The pieces of `bench/run.py`: API client and watch, audit log, scenarios, report."""
