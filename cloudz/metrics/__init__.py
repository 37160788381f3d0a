"""Metrics the stack exposes for Prometheus beyond the receiver's own."""
