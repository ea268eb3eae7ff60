"""Cross-service tests: the pipeline fixture lives in tests/pipeline.py."""
