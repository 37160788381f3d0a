# Secret Manager holds every secret; values are added out of band (`gcloud secrets versions
# add`), never in Terraform state. The receiver's pods mount theirs, Airflow's processes read
# theirs (iam.tf grants each account only its group).

locals {
  secrets = {
    receiver = [
      "cloudz-receiver-airflow-password", # CLOUDZ_AIRFLOW_PASSWORD
      "cloudz-receiver-credentials",      # the collectors' credentials file (hashes only)
      "cloudz-receiver-tls-key",          # CLOUDZ_RECEIVER_TLS_KEY
    ]
    airflow = [
      "cloudz-airflow-fernet-key",
      "cloudz-airflow-jwt-secret",
      "cloudz-airflow-api-secret-key",
      "cloudz-airflow-db-password",
      "cloudz-airflow-admin-password",
    ]
  }
}

resource "google_secret_manager_secret" "secret" {
  # checkov:skip=CKV_GCP_128: Google-managed encryption keys; a CMEK adds a key to operate and no control here
  for_each  = toset(concat(local.secrets.receiver, local.secrets.airflow))
  secret_id = each.key
  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }
}
