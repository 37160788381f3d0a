# The archive bucket is public: researchers read raw files and the Avro rows beside them
# without an account. Nothing private may live in it: the pipeline's working prefixes are in the
# work bucket (a public-read binding takes no IAM condition, so they could not be hidden here).

resource "google_storage_bucket" "archive" {
  # checkov:skip=CKV_GCP_114: public by design (issue 22): the archive is read by anyone; writes need the components' grants
  # checkov:skip=CKV_GCP_62: access logs of a public archive's reads would be the largest bucket here; Cloud Audit Logs record writes
  name                        = var.archive_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "inherited"

  versioning {
    enabled = true
  }
  soft_delete_policy {
    retention_duration_seconds = 7776000 # 90 days: a deleted archive object can be restored
  }
  lifecycle_rule {
    condition {
      age = var.cold_after_days
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }
  lifecycle_rule {
    # Avro objects (<path>.avro, <path>.avro-NNNN.avro): the reconcile's reloads read them in
    # the first days, researchers seldom after; docs/costs.md (bench/bill.py) has the sums
    condition {
      age                   = var.avro_nearline_after_days
      matches_suffix        = [".avro"]
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }
  lifecycle_rule {
    # a noncurrent version exists only after a delete (paths are never overwritten)
    condition {
      days_since_noncurrent_time = 90
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_storage_bucket_iam_member" "archive_public_read" {
  # checkov:skip=CKV_GCP_28: the archive is public by design (issue 22): anyone reads it
  bucket = google_storage_bucket.archive.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

resource "google_storage_bucket" "work" {
  # checkov:skip=CKV_GCP_62: staging objects and claims live seconds to a day; Cloud Audit Logs cover the bucket
  # checkov:skip=CKV_GCP_78: versioning would keep every deleted staging object and replaced claim; soft delete covers mistakes
  name                        = var.work_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  soft_delete_policy {
    retention_duration_seconds = 604800
  }
  lifecycle_rule {
    # what a writer killed mid-upload leaves (cloudz.stack.provision.LEFTOVER_PREFIXES, the
    # same rule provision adds); _loads/ stays: the load claims are the per-file load ledger
    condition {
      age            = 1
      matches_prefix = ["_incoming/", "_claims/"]
    }
    action {
      type = "Delete"
    }
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_storage_bucket" "logs" {
  # checkov:skip=CKV_GCP_62: Airflow's task logs; logging their access is not needed
  # checkov:skip=CKV_GCP_78: task logs are written once; versioning adds nothing
  name                        = var.logs_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }
}
