"""Benchmarks (`make bench`). Each module measures one capability; results go to var/bench/*.json
and are written up in docs/benchmarks.md. Timings are never asserted in unit tests."""
