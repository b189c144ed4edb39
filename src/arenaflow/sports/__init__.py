"""Sports data: wire schemas, field geometry and sources (simulator, vendor replay)."""
