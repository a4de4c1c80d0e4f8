"""Presence: who is online, away or offline, known across processes, told only to chat partners."""
