"""The gateway: one ASGI application that is the HTTP ingest trigger, the WebSocket push tier,
the query API and the overlay and dashboard pages (see DESIGN.md)."""
