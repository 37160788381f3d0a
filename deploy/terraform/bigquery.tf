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

# prefix_origins (cloudz/warehouse/prefix_origins.py): one row per day, prefix and origin AS,
# rebuilt after the loads by the DAG prefix_origins (as cloudz-worker@); public, as the routes
# table it is derived from. Its layout is the code's COLUMNS (schemas/prefix_origins.json,
# compared by tests/unit/test_terraform_research_tables.py), protected as the other tables.
resource "google_bigquery_table" "prefix_origins" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption: derived from the public routes table
  dataset_id          = google_bigquery_dataset.routeviews.dataset_id
  table_id            = "prefix_origins"
  deletion_protection = true
  schema              = file("${path.module}/schemas/prefix_origins.json")
  time_partitioning {
    type  = "MONTH"
    field = "day"
  }
  clustering = ["prefix", "origin_asn"]
  lifecycle {
    prevent_destroy = true
    ignore_changes  = [schema, time_partitioning, clustering]
  }
}

# The files catalog's newest row per file version, and BGPKIT broker's view of it
# (cloudz/warehouse/file_broker.py, `cloudz-files`): views, their SQL the code's
# (schemas/*.sql, compared by tests/unit/test_terraform_research_tables.py). A view holds no data: a
# change of its SQL replaces it in place. Public as the catalog (a view is read with the
# reader's own access to what it selects from: files_broker -> files_latest -> files).
resource "google_bigquery_table" "files_latest" {
  # checkov:skip=CKV_GCP_80: a view holds no data to encrypt; the files table's key applies
  # checkov:skip=CKV_GCP_121: a view holds no data: dropping it loses nothing, provision recreates it
  dataset_id          = google_bigquery_dataset.routeviews.dataset_id
  table_id            = "${google_bigquery_table.files.table_id}_latest"
  deletion_protection = false
  view {
    query          = templatefile("${path.module}/schemas/files_latest.sql", { files = "${var.project_id}.${google_bigquery_dataset.routeviews.dataset_id}.${google_bigquery_table.files.table_id}" })
    use_legacy_sql = false
  }
}

resource "google_bigquery_table" "files_broker" {
  # checkov:skip=CKV_GCP_80: a view holds no data to encrypt; the files table's key applies
  # checkov:skip=CKV_GCP_121: a view holds no data: dropping it loses nothing, `cloudz-files` recreates it
  dataset_id          = google_bigquery_dataset.routeviews.dataset_id
  table_id            = "files_broker"
  deletion_protection = false
  view {
    query          = templatefile("${path.module}/schemas/files_broker.sql", { files = "${var.project_id}.${google_bigquery_dataset.routeviews.dataset_id}.${google_bigquery_table.files.table_id}", bucket = google_storage_bucket.archive.name })
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.files_latest]
}

resource "google_bigquery_table_iam_member" "prefix_origins_public" {
  # checkov:skip=CKV_GCP_100: readable by any Google account by design (issue 24): researchers query it, billed to their own project
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.prefix_origins.table_id
  role       = "roles/bigquery.dataViewer"
  member     = "allAuthenticatedUsers"
}

resource "google_bigquery_table_iam_member" "files_latest_public" {
  # checkov:skip=CKV_GCP_100: readable by any Google account by design (issue 24): files_broker reads it with the reader's access
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.files_latest.table_id
  role       = "roles/bigquery.dataViewer"
  member     = "allAuthenticatedUsers"
}

resource "google_bigquery_table_iam_member" "files_broker_public" {
  # checkov:skip=CKV_GCP_100: readable by any Google account by design (issue 24): BGPKIT broker's clients and cloudz-files read it
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.files_broker.table_id
  role       = "roles/bigquery.dataViewer"
  member     = "allAuthenticatedUsers"
}
