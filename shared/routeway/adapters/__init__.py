"""Adapters at the edges: storage (local files + SQLite, S3 + DynamoDB), upstreams, secrets."""
