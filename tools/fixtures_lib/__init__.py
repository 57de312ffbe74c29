"""Helpers for tools/make_fixtures.py: tiny SD models, LDM key conversion, goldens."""
