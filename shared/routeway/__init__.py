"""Routeway: a serverless LLM routing gateway."""
