"""The ingest wire contract: code generated from ``proto/cloudz/ingest/v1/ingest.proto``."""
