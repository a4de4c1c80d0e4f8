"""Tests for webchat-server."""
