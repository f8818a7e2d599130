"""Benchmarks of the orchestrator against raw Celery (``python bench/run.py``)."""
