output "settings" {
  description = "The CLOUDZ_* settings of every component (docs/deploy.md)."
  value = {
    CLOUDZ_GCP_PROJECT        = var.project_id
    CLOUDZ_BUCKET             = google_storage_bucket.archive.name
    CLOUDZ_WORK_BUCKET        = google_storage_bucket.work.name
    CLOUDZ_DATASET            = google_bigquery_dataset.routeviews.dataset_id
    CLOUDZ_TABLE              = google_bigquery_table.routes.table_id
    CLOUDZ_FILES_TABLE        = google_bigquery_table.files.table_id
    CLOUDZ_COVERAGE_TABLE     = google_bigquery_table.coverage.table_id
    CLOUDZ_BIGQUERY_LOCATION  = google_bigquery_dataset.routeviews.location
    CLOUDZ_PROVISION          = "0"
  }
}

output "service_accounts" {
  description = "The account of each component (workload identity annotations)."
  value = {
    receiver   = google_service_account.receiver.email
    airflow    = google_service_account.airflow.email
    worker     = google_service_account.worker.email
    reconcile  = google_service_account.reconcile.email
    mirror     = google_service_account.mirror.email
    api_server = google_service_account.api_server.email
    provision  = google_service_account.provision.email
  }
}

output "receiver_address" {
  value = google_compute_address.receiver.address
}

output "sql_instance" {
  value = google_sql_database_instance.airflow.connection_name
}

output "broker_host" {
  value = google_redis_instance.broker.host
}

output "logs_bucket" {
  value = google_storage_bucket.logs.name
}
