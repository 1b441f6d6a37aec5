"""Operator tooling: never imported by services."""
