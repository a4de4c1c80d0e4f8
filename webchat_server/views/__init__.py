"""HTTP and WebSocket handlers: parse, authorize, call one function, respond."""
