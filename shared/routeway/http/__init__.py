"""The FastAPI app: one factory for Lambda (through Mangum) and for `routeway serve` (uvicorn)."""
