"""Load generators for webchat-server; each prints one JSON summary."""
