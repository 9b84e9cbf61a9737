"""Framework-free building blocks with their own unit tests (no Django imports here)."""
