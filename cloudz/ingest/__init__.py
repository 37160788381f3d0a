"""The ingest wire contract: code generated from ``proto/cloudz/ingest/v1/ingest.proto``, and
``endpoint``, the address rules (TLS unless loopback) the client and the receiver share."""
