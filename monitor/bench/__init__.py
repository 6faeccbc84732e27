"""Benchmarks of the running service (`monitor bench …`) and the private brokers they need."""
