"""The chat domain: accounts, identities, chats, messages, media, rate limits and their JSON shapes (no HTTP)."""
