"""Delivering alert notifications from the outbox (MQTT now; webhook and e-mail plug in here)."""
