"""Bench-only endpoints (bare JSON, one-row read, one-row insert) that give each run its ceilings.

Installed and mounted under /bench/ only when HEATDESK_BENCH=1; never part of a deployment.
"""
