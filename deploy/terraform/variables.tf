variable "project_id" {
  description = "The Google Cloud project (CLOUDZ_GCP_PROJECT)."
  type        = string
}

variable "region" {
  description = "One region for the buckets, the dataset, Cloud SQL, Memorystore and the receivers (loads read the bucket without egress)."
  type        = string
  default     = "us-east1"
}

variable "archive_bucket" {
  description = "The public archive bucket (CLOUDZ_BUCKET): raw files and their Avro rows."
  type        = string
}

variable "work_bucket" {
  description = "The private working bucket (CLOUDZ_WORK_BUCKET): _incoming/, _claims/, _loads/."
  type        = string
}

variable "logs_bucket" {
  description = "Airflow's remote task logs."
  type        = string
}

variable "dataset" {
  description = "The BigQuery dataset (CLOUDZ_DATASET)."
  type        = string
  default     = "routeviews"
}

variable "routes_table" {
  description = "CLOUDZ_TABLE"
  type        = string
  default     = "routes"
}

variable "files_table" {
  description = "CLOUDZ_FILES_TABLE"
  type        = string
  default     = "files"
}

variable "coverage_table" {
  description = "CLOUDZ_COVERAGE_TABLE (operations: private)"
  type        = string
  default     = "coverage"
}

variable "quarantine_table" {
  description = "CLOUDZ_QUARANTINE_TABLE: the audit of cloudz-quarantine (operations: private)"
  type        = string
  default     = "quarantine"
}

variable "operators" {
  description = "Who may act as cloudz-operator (cloudz-quarantine), e.g. [\"group:cloudz-oncall@example.org\"]."
  type        = list(string)
  default     = []
}

variable "cold_after_days" {
  description = "Archive objects older than this move to Coldline (the pipeline reads old raw files only on a repair or a backfill of their range)."
  type        = number
  default     = 365
}

variable "avro_nearline_after_days" {
  description = "Avro objects older than this move to Nearline (then to Coldline with everything at cold_after_days)."
  type        = number
  default     = 30
}

variable "network_cidr" {
  description = "The subnet of the GKE nodes (receivers, Airflow) and the private services."
  type        = string
  default     = "10.20.0.0/20"
}

variable "receiver_source_ranges" {
  description = "Where collectors connect from (the receivers' port 50051; TLS and per-collector credentials guard it)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "sql_tier" {
  description = "Cloud SQL machine tier of Airflow's metadata database."
  type        = string
  default     = "db-custom-2-7680"
}

variable "broker_memory_gb" {
  description = "Memorystore (Redis protocol) size of the Celery broker."
  type        = number
  default     = 1
}
