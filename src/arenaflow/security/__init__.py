"""Security helpers: webhook signatures (API keys join with the gateway)."""
