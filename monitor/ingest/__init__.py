"""From raw MQTT messages to validated readings: topic grammar, payload schemas, the inbox."""
