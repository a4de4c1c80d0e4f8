"""The HTTP layer: sessions, middlewares, caps, proxies, CORS/CSP, static files, health, metrics, logs, OpenAPI."""
