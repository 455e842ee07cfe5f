"""perf: performance toolkit for async, LLM-backed web services (placeholder, filled below)."""
