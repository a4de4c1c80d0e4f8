"""Real-time delivery: NOTIFY payloads in, the listener, the hub of subscribers, events and cursors out."""
