"""MQTT plumbing: the paho connection, sessions, status topic."""
