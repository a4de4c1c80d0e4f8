"""WebChat server: Postgres is the channel layer for a real-time web chat."""

__version__ = "0.1.0"
