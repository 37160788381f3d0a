"""Generated protobuf and gRPC modules of ``cloudz.ingest.v1``; regenerate with
``python -m cloudz.ingest.generate``, never edit by hand."""
