"""The model tests use the session's `trained` project (tests/trained.py, tests/conftest.py)."""
