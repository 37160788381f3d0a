SELECT * EXCEPT (newest)
FROM (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY archive_path, sha256 ORDER BY recorded_at DESC) = 1 AS newest
  FROM `${files}`
)
WHERE newest
