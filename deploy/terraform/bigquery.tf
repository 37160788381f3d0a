# The dataset: the routes table and the files catalog readable by any Google account (queries
# run, and are billed, in the querying project: BigQuery bills the project that runs a job);
# the coverage and quarantine tables (operations) private.
#
# Table layouts come from the project's code: the routes table's from
# include/schemas/routes_table.json (generated from cloudz/warehouse/schema.py), the others'
# from schemas/*.json (cloudz/warehouse/file_catalog.py, coverage_table.py and
# cloudz/quarantine/audit.py's COLUMNS);
# tests/unit/test_terraform_tables.py compares them. Terraform creates each table once;
# a later schema change is made by the project's migration code (cloudz-migrate-routes,
# cloudz.stack.provision), never by `terraform apply`: schema, partitioning and clustering
# changes are ignored, and prevent_destroy plus deletion_protection make a plan that would
# replace (drop) a table fail instead.

locals {
  routes_table = jsondecode(file("${path.module}/../../include/schemas/routes_table.json"))
}

resource "google_bigquery_dataset" "routeviews" {
  # checkov:skip=CKV_GCP_81: Google-managed encryption: the routes are public data
  dataset_id                 = var.dataset
  location                   = var.region
  storage_billing_model      = "PHYSICAL"
  delete_contents_on_destroy = false
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_bigquery_table" "routes" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption: the routes are public data
  dataset_id               = google_bigquery_dataset.routeviews.dataset_id
  table_id                 = var.routes_table
  deletion_protection      = true
  schema                   = jsonencode(local.routes_table.schema.fields)
  require_partition_filter = true
  time_partitioning {
    type  = "MONTH"
    field = "timestamp"
  }
  clustering = ["collector", "entry_type", "timestamp", "prefix"]
  lifecycle {
    prevent_destroy = true
    ignore_changes  = [schema, time_partitioning, clustering, require_partition_filter]
  }
}

resource "google_bigquery_table" "files" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption: the catalog is public data
  dataset_id          = google_bigquery_dataset.routeviews.dataset_id
  table_id            = var.files_table
  deletion_protection = true
  schema              = file("${path.module}/schemas/files.json")
  time_partitioning {
    type  = "MONTH"
    field = "month"
  }
  clustering = ["collector", "kind", "state"]
  lifecycle {
    prevent_destroy = true
    ignore_changes  = [schema, time_partitioning, clustering]
  }
}

resource "google_bigquery_table" "coverage" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption: operational counts, no personal data
  dataset_id          = google_bigquery_dataset.routeviews.dataset_id
  table_id            = var.coverage_table
  deletion_protection = true
  schema              = file("${path.module}/schemas/coverage.json")
  time_partitioning {
    type  = "MONTH"
    field = "day"
  }
  clustering = ["collector", "kind"]
  lifecycle {
    prevent_destroy = true
    ignore_changes  = [schema, time_partitioning, clustering]
  }
}

resource "google_bigquery_table" "quarantine" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption: operational records
  dataset_id          = google_bigquery_dataset.routeviews.dataset_id
  table_id            = var.quarantine_table
  deletion_protection = true
  schema              = file("${path.module}/schemas/quarantine.json")
  time_partitioning {
    type  = "MONTH"
    field = "month"
  }
  clustering = ["collector"]
  lifecycle {
    prevent_destroy = true
    ignore_changes  = [schema, time_partitioning, clustering]
  }
}

resource "google_bigquery_table_iam_member" "routes_public" {
  # checkov:skip=CKV_GCP_100: readable by any Google account by design (issue 22): researchers query it, billed to their own project
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.routes.table_id
  role       = "roles/bigquery.dataViewer"
  member     = "allAuthenticatedUsers"
}

resource "google_bigquery_table_iam_member" "files_public" {
  # checkov:skip=CKV_GCP_100: readable by any Google account by design (issue 22): researchers query it, billed to their own project
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.files.table_id
  role       = "roles/bigquery.dataViewer"
  member     = "allAuthenticatedUsers"
}
