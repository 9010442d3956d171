"""One router per Lambda function: completions, info, route (preview and explain)."""
