"""Entrypoints: the CLI now; the HTTP API and dashboard later. Each calls use cases only."""
