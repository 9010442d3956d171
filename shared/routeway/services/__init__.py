"""Orchestration: each service drives the domain with the adapters the gateway was built with."""
