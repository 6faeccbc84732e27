"""From readings to decisions: windows, scoring batches, per-asset detectors, CSV backtests."""
