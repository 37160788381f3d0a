SELECT
  dump_time AS ts_start,
  TIMESTAMP_ADD(dump_time, INTERVAL IF(kind = 'UPDATES', 15, 0) MINUTE) AS ts_end,
  collector AS collector_id,
  IF(kind = 'RIBS', 'rib', 'updates') AS data_type,
  CONCAT('https://storage.googleapis.com/${bucket}/', archive_path) AS url,
  size AS rough_size,
  size AS exact_size,
  month, state, rows
FROM `${files}_latest`
WHERE state IN ('loaded', 'partial')
