"""Shared pytest configuration (fixtures live in each app's tests/conftest.py)."""
