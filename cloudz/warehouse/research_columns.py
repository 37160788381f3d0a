"""The research columns of the routes table as SQL over the columns every row already has.

``as_path_asns``, ``origin_asns``, ``aggregator_asn``, ``aggregator_ip`` and ``ip_version``
are functions of ``as_path``, ``aggregator`` and ``prefix``: a table loaded before they
existed needs no reload. ``cloudz-migrate-routes`` (:mod:`cloudz.warehouse.migration`) copies
it month by month into a table of the current schema, selecting :data:`EXPRESSIONS` for the
columns the old table lacks; the stack test checks that they give what the converter writes.
(An in-place ``UPDATE`` of each partition would bill the same bytes, but the BigQuery emulator
cannot UPDATE an ARRAY column, so it could not be tested here.)
"""

from __future__ import annotations

from typing import Final

RESEARCH_COLUMNS: Final = (
    "as_path_asns",
    "origin_asns",
    "aggregator_asn",
    "aggregator_ip",
    "ip_version",
)

# bgpdump's text without its confederation segments, "(…)" and "[…]", and without empty AS_SETs
# ("{}": a segment of no AS, which the converter skips when it looks for the origin, so a path
# "1 2 {}" has the origin 2, as "1 2" has; bgpdump prints the empty set, and so does as_path)
_PATH: Final = r"TRIM(REGEXP_REPLACE(as_path, r'\([^)]*\)|\[[^\]]*\]|\{\}', ''))"

#: each research column as SQL over the row's own columns: what the converter writes
EXPRESSIONS: Final = {
    "as_path_asns": (
        "ARRAY(SELECT CAST(asn AS INT64) FROM UNNEST(REGEXP_EXTRACT_ALL("
        f"IFNULL({_PATH}, ''), r'[0-9]+')) AS asn WITH OFFSET AS i ORDER BY i)"
    ),
    "origin_asns": (
        f"IF(ENDS_WITH(IFNULL({_PATH}, ''), '}}'), "
        "ARRAY(SELECT CAST(asn AS INT64) FROM UNNEST(REGEXP_EXTRACT_ALL("
        f"REGEXP_EXTRACT({_PATH}, r'\\{{([^}}]*)\\}}$'), r'[0-9]+')) AS asn WITH OFFSET AS i "
        "ORDER BY i), "
        f"ARRAY(SELECT CAST(asn AS INT64) FROM UNNEST(REGEXP_EXTRACT_ALL("
        f"IFNULL({_PATH}, ''), r'([0-9]+)$')) AS asn))"
    ),
    "aggregator_asn": "CAST(REGEXP_EXTRACT(aggregator, r'^([0-9]+) ') AS INT64)",
    "aggregator_ip": "REGEXP_EXTRACT(aggregator, r' (.+)$')",
    "ip_version": "IF(prefix IS NULL, NULL, IF(STRPOS(prefix, ':') > 0, 6, 4))",
}
