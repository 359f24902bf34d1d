"""The service's faces: FastAPI REST routes and websocket endpoints (HTTP/WS codes live here)."""
