# One service account per component and its grants: custom roles that list their permissions,
# bound on the narrowest resource. cloudz/deploy_permissions.py is the table of what each
# component's calls need; tests/unit/test_terraform_iam.py checks these grants against it,
# both ways (no permission missing, none extra).

resource "google_service_account" "receiver" {
  account_id   = "cloudz-receiver"
  display_name = "cloudz receiver replicas (ingest_service)"
}

resource "google_service_account" "airflow" {
  account_id   = "cloudz-airflow"
  display_name = "cloudz Airflow scheduler, dag-processor, triggerer"
}

resource "google_service_account" "worker" {
  account_id   = "cloudz-worker"
  display_name = "cloudz per-file convert and load tasks"
}

resource "google_service_account" "reconcile" {
  account_id   = "cloudz-reconcile"
  display_name = "cloudz the hourly reconcile (scans, recounts, heals)"
}

resource "google_service_account" "mirror" {
  account_id   = "cloudz-mirror"
  display_name = "cloudz the mirror and backfill DAGs"
}

resource "google_service_account" "api_server" {
  account_id   = "cloudz-api-server"
  display_name = "cloudz Airflow api-server: the coverage page"
}

resource "google_service_account" "provision" {
  account_id   = "cloudz-provision"
  display_name = "cloudz python -m cloudz.stack.provision, once"
}

resource "google_service_account" "operator" {
  account_id   = "cloudz-operator"
  display_name = "cloudz operator commands (cloudz-quarantine), impersonated by var.operators"
}

# The operators act as cloudz-operator by impersonation (gcloud
# --impersonate-service-account, or ADC made with it): no key file, and each call is logged
# with the human who made it. A binding, not a member: the account is the project's own.
resource "google_service_account_iam_binding" "operator_impersonation" {
  service_account_id = google_service_account.operator.name
  role               = "roles/iam.serviceAccountTokenCreator"
  members            = var.operators
}

resource "google_project_iam_custom_role" "receiver_archive" {
  role_id     = "cloudzReceiverArchive"
  title       = "cloudz receiver on bucket:archive"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
  ]
}

resource "google_storage_bucket_iam_member" "receiver_archive" {
  bucket = google_storage_bucket.archive.name
  role   = google_project_iam_custom_role.receiver_archive.name
  member = "serviceAccount:${google_service_account.receiver.email}"
}

resource "google_project_iam_custom_role" "receiver_work" {
  role_id     = "cloudzReceiverWork"
  title       = "cloudz receiver on bucket:work"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
  ]
}

resource "google_storage_bucket_iam_member" "receiver_work" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.receiver_work.name
  member = "serviceAccount:${google_service_account.receiver.email}"
}

resource "google_project_iam_custom_role" "receiver_work_claims" {
  role_id     = "cloudzReceiverWorkClaims"
  title       = "cloudz receiver on bucket:work/_claims/"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "receiver_work_claims" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.receiver_work_claims.name
  member = "serviceAccount:${google_service_account.receiver.email}"
  condition {
    title      = "_claims/"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.work.name}/objects/_claims/\")"
  }
}

resource "google_project_iam_custom_role" "receiver_work_incoming" {
  role_id     = "cloudzReceiverWorkIncoming"
  title       = "cloudz receiver on bucket:work/_incoming/"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "receiver_work_incoming" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.receiver_work_incoming.name
  member = "serviceAccount:${google_service_account.receiver.email}"
  condition {
    title      = "_incoming/"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.work.name}/objects/_incoming/\")"
  }
}

resource "google_project_iam_custom_role" "receiver_secrets" {
  role_id     = "cloudzReceiverSecrets"
  title       = "cloudz receiver on secret:receiver"
  permissions = [
    "secretmanager.versions.access",
  ]
}

resource "google_secret_manager_secret_iam_member" "receiver_secrets" {
  for_each  = toset(local.secrets.receiver)
  secret_id = google_secret_manager_secret.secret[each.key].id
  role   = google_project_iam_custom_role.receiver_secrets.name
  member = "serviceAccount:${google_service_account.receiver.email}"
}

resource "google_project_iam_custom_role" "receiver_project" {
  role_id     = "cloudzReceiverProject"
  title       = "cloudz receiver on project"
  permissions = [
    "bigquery.jobs.create",
  ]
}

resource "google_project_iam_member" "receiver_project" {
  project = var.project_id
  role   = google_project_iam_custom_role.receiver_project.name
  member = "serviceAccount:${google_service_account.receiver.email}"
}

resource "google_project_iam_custom_role" "receiver_files" {
  role_id     = "cloudzReceiverFiles"
  title       = "cloudz receiver on table:files"
  permissions = [
    "bigquery.tables.getData",
  ]
}

resource "google_bigquery_table_iam_member" "receiver_files" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.files.table_id
  role   = google_project_iam_custom_role.receiver_files.name
  member = "serviceAccount:${google_service_account.receiver.email}"
}

resource "google_project_iam_custom_role" "airflow_logs" {
  role_id     = "cloudzAirflowLogs"
  title       = "cloudz airflow on bucket:logs"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
    "storage.objects.list",
  ]
}

resource "google_storage_bucket_iam_member" "airflow_logs" {
  bucket = google_storage_bucket.logs.name
  role   = google_project_iam_custom_role.airflow_logs.name
  member = "serviceAccount:${google_service_account.airflow.email}"
}

resource "google_project_iam_custom_role" "airflow_project" {
  role_id     = "cloudzAirflowProject"
  title       = "cloudz airflow on project"
  permissions = [
    "cloudsql.instances.connect",
    "cloudsql.instances.get",
  ]
}

resource "google_project_iam_member" "airflow_project" {
  project = var.project_id
  role   = google_project_iam_custom_role.airflow_project.name
  member = "serviceAccount:${google_service_account.airflow.email}"
}

resource "google_project_iam_custom_role" "airflow_secrets" {
  role_id     = "cloudzAirflowSecrets"
  title       = "cloudz airflow on secret:airflow"
  permissions = [
    "secretmanager.versions.access",
  ]
}

resource "google_secret_manager_secret_iam_member" "airflow_secrets" {
  for_each  = toset(local.secrets.airflow)
  secret_id = google_secret_manager_secret.secret[each.key].id
  role   = google_project_iam_custom_role.airflow_secrets.name
  member = "serviceAccount:${google_service_account.airflow.email}"
}

resource "google_project_iam_custom_role" "worker_archive" {
  role_id     = "cloudzWorkerArchive"
  title       = "cloudz worker on bucket:archive"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
    "storage.objects.list",
  ]
}

resource "google_storage_bucket_iam_member" "worker_archive" {
  bucket = google_storage_bucket.archive.name
  role   = google_project_iam_custom_role.worker_archive.name
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_project_iam_custom_role" "worker_archive_avro" {
  role_id     = "cloudzWorkerArchiveAvro"
  title       = "cloudz worker on bucket:archive/*.avro"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "worker_archive_avro" {
  bucket = google_storage_bucket.archive.name
  role   = google_project_iam_custom_role.worker_archive_avro.name
  member = "serviceAccount:${google_service_account.worker.email}"
  condition {
    title      = "*.avro"
    expression = "resource.name.endsWith(\".avro\")"
  }
}

resource "google_project_iam_custom_role" "worker_work" {
  role_id     = "cloudzWorkerWork"
  title       = "cloudz worker on bucket:work"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
  ]
}

resource "google_storage_bucket_iam_member" "worker_work" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.worker_work.name
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_project_iam_custom_role" "worker_work_loads" {
  role_id     = "cloudzWorkerWorkLoads"
  title       = "cloudz worker on bucket:work/_loads/"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "worker_work_loads" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.worker_work_loads.name
  member = "serviceAccount:${google_service_account.worker.email}"
  condition {
    title      = "_loads/"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.work.name}/objects/_loads/\")"
  }
}

resource "google_project_iam_custom_role" "worker_project" {
  role_id     = "cloudzWorkerProject"
  title       = "cloudz worker on project"
  permissions = [
    "bigquery.jobs.create",
    "bigquery.jobs.get",
  ]
}

resource "google_project_iam_member" "worker_project" {
  project = var.project_id
  role   = google_project_iam_custom_role.worker_project.name
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_project_iam_custom_role" "worker_files" {
  role_id     = "cloudzWorkerFiles"
  title       = "cloudz worker on table:files"
  permissions = [
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "worker_files" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.files.table_id
  role   = google_project_iam_custom_role.worker_files.name
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_project_iam_custom_role" "worker_prefix_origins" {
  role_id     = "cloudzWorkerPrefixOrigins"
  title       = "cloudz worker on table:prefix_origins"
  permissions = [
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "worker_prefix_origins" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.prefix_origins.table_id
  role       = google_project_iam_custom_role.worker_prefix_origins.name
  member     = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_project_iam_custom_role" "worker_routes" {
  role_id     = "cloudzWorkerRoutes"
  title       = "cloudz worker on table:routes"
  permissions = [
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "worker_routes" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.routes.table_id
  role   = google_project_iam_custom_role.worker_routes.name
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_project_iam_custom_role" "reconcile_archive" {
  role_id     = "cloudzReconcileArchive"
  title       = "cloudz reconcile on bucket:archive"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
    "storage.objects.list",
  ]
}

resource "google_storage_bucket_iam_member" "reconcile_archive" {
  bucket = google_storage_bucket.archive.name
  role   = google_project_iam_custom_role.reconcile_archive.name
  member = "serviceAccount:${google_service_account.reconcile.email}"
}

resource "google_project_iam_custom_role" "reconcile_archive_avro" {
  role_id     = "cloudzReconcileArchiveAvro"
  title       = "cloudz reconcile on bucket:archive/*.avro"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "reconcile_archive_avro" {
  bucket = google_storage_bucket.archive.name
  role   = google_project_iam_custom_role.reconcile_archive_avro.name
  member = "serviceAccount:${google_service_account.reconcile.email}"
  condition {
    title      = "*.avro"
    expression = "resource.name.endsWith(\".avro\")"
  }
}

resource "google_project_iam_custom_role" "reconcile_work" {
  role_id     = "cloudzReconcileWork"
  title       = "cloudz reconcile on bucket:work"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
  ]
}

resource "google_storage_bucket_iam_member" "reconcile_work" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.reconcile_work.name
  member = "serviceAccount:${google_service_account.reconcile.email}"
}

resource "google_project_iam_custom_role" "reconcile_work_loads" {
  role_id     = "cloudzReconcileWorkLoads"
  title       = "cloudz reconcile on bucket:work/_loads/"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "reconcile_work_loads" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.reconcile_work_loads.name
  member = "serviceAccount:${google_service_account.reconcile.email}"
  condition {
    title      = "_loads/"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.work.name}/objects/_loads/\")"
  }
}

resource "google_project_iam_custom_role" "reconcile_project" {
  role_id     = "cloudzReconcileProject"
  title       = "cloudz reconcile on project"
  permissions = [
    "bigquery.jobs.create",
    "bigquery.jobs.get",
  ]
}

resource "google_project_iam_member" "reconcile_project" {
  project = var.project_id
  role   = google_project_iam_custom_role.reconcile_project.name
  member = "serviceAccount:${google_service_account.reconcile.email}"
}

resource "google_project_iam_custom_role" "reconcile_coverage" {
  role_id     = "cloudzReconcileCoverage"
  title       = "cloudz reconcile on table:coverage"
  permissions = [
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "reconcile_coverage" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.coverage.table_id
  role   = google_project_iam_custom_role.reconcile_coverage.name
  member = "serviceAccount:${google_service_account.reconcile.email}"
}

resource "google_project_iam_custom_role" "reconcile_files" {
  role_id     = "cloudzReconcileFiles"
  title       = "cloudz reconcile on table:files"
  permissions = [
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "reconcile_files" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.files.table_id
  role   = google_project_iam_custom_role.reconcile_files.name
  member = "serviceAccount:${google_service_account.reconcile.email}"
}

resource "google_project_iam_custom_role" "reconcile_routes" {
  role_id     = "cloudzReconcileRoutes"
  title       = "cloudz reconcile on table:routes"
  permissions = [
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "reconcile_routes" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.routes.table_id
  role   = google_project_iam_custom_role.reconcile_routes.name
  member = "serviceAccount:${google_service_account.reconcile.email}"
}

resource "google_project_iam_custom_role" "mirror_archive" {
  role_id     = "cloudzMirrorArchive"
  title       = "cloudz mirror on bucket:archive"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
    "storage.objects.list",
  ]
}

resource "google_storage_bucket_iam_member" "mirror_archive" {
  bucket = google_storage_bucket.archive.name
  role   = google_project_iam_custom_role.mirror_archive.name
  member = "serviceAccount:${google_service_account.mirror.email}"
}

resource "google_project_iam_custom_role" "mirror_archive_avro" {
  role_id     = "cloudzMirrorArchiveAvro"
  title       = "cloudz mirror on bucket:archive/*.avro"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "mirror_archive_avro" {
  bucket = google_storage_bucket.archive.name
  role   = google_project_iam_custom_role.mirror_archive_avro.name
  member = "serviceAccount:${google_service_account.mirror.email}"
  condition {
    title      = "*.avro"
    expression = "resource.name.endsWith(\".avro\")"
  }
}

resource "google_project_iam_custom_role" "mirror_work" {
  role_id     = "cloudzMirrorWork"
  title       = "cloudz mirror on bucket:work"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
  ]
}

resource "google_storage_bucket_iam_member" "mirror_work" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.mirror_work.name
  member = "serviceAccount:${google_service_account.mirror.email}"
}

resource "google_project_iam_custom_role" "mirror_work_claims" {
  role_id     = "cloudzMirrorWorkClaims"
  title       = "cloudz mirror on bucket:work/_claims/"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "mirror_work_claims" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.mirror_work_claims.name
  member = "serviceAccount:${google_service_account.mirror.email}"
  condition {
    title      = "_claims/"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.work.name}/objects/_claims/\")"
  }
}

resource "google_project_iam_custom_role" "mirror_work_incoming" {
  role_id     = "cloudzMirrorWorkIncoming"
  title       = "cloudz mirror on bucket:work/_incoming/"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "mirror_work_incoming" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.mirror_work_incoming.name
  member = "serviceAccount:${google_service_account.mirror.email}"
  condition {
    title      = "_incoming/"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.work.name}/objects/_incoming/\")"
  }
}

resource "google_project_iam_custom_role" "mirror_work_loads" {
  role_id     = "cloudzMirrorWorkLoads"
  title       = "cloudz mirror on bucket:work/_loads/"
  permissions = [
    "storage.objects.delete",
  ]
}

resource "google_storage_bucket_iam_member" "mirror_work_loads" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.mirror_work_loads.name
  member = "serviceAccount:${google_service_account.mirror.email}"
  condition {
    title      = "_loads/"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.work.name}/objects/_loads/\")"
  }
}

resource "google_project_iam_custom_role" "mirror_project" {
  role_id     = "cloudzMirrorProject"
  title       = "cloudz mirror on project"
  permissions = [
    "bigquery.jobs.create",
    "bigquery.jobs.get",
  ]
}

resource "google_project_iam_member" "mirror_project" {
  project = var.project_id
  role   = google_project_iam_custom_role.mirror_project.name
  member = "serviceAccount:${google_service_account.mirror.email}"
}

resource "google_project_iam_custom_role" "mirror_files" {
  role_id     = "cloudzMirrorFiles"
  title       = "cloudz mirror on table:files"
  permissions = [
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "mirror_files" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.files.table_id
  role   = google_project_iam_custom_role.mirror_files.name
  member = "serviceAccount:${google_service_account.mirror.email}"
}

resource "google_project_iam_custom_role" "mirror_routes" {
  role_id     = "cloudzMirrorRoutes"
  title       = "cloudz mirror on table:routes"
  permissions = [
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "mirror_routes" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.routes.table_id
  role   = google_project_iam_custom_role.mirror_routes.name
  member = "serviceAccount:${google_service_account.mirror.email}"
}

resource "google_project_iam_custom_role" "api_server_project" {
  role_id     = "cloudzApiServerProject"
  title       = "cloudz api_server on project"
  permissions = [
    "bigquery.jobs.create",
  ]
}

resource "google_project_iam_member" "api_server_project" {
  project = var.project_id
  role   = google_project_iam_custom_role.api_server_project.name
  member = "serviceAccount:${google_service_account.api_server.email}"
}

resource "google_project_iam_custom_role" "api_server_coverage" {
  role_id     = "cloudzApiServerCoverage"
  title       = "cloudz api_server on table:coverage"
  permissions = [
    "bigquery.tables.getData",
  ]
}

resource "google_bigquery_table_iam_member" "api_server_coverage" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.coverage.table_id
  role   = google_project_iam_custom_role.api_server_coverage.name
  member = "serviceAccount:${google_service_account.api_server.email}"
}

resource "google_project_iam_custom_role" "api_server_files" {
  role_id     = "cloudzApiServerFiles"
  title       = "cloudz api_server on table:files"
  permissions = [
    "bigquery.tables.getData",
  ]
}

resource "google_bigquery_table_iam_member" "api_server_files" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.files.table_id
  role   = google_project_iam_custom_role.api_server_files.name
  member = "serviceAccount:${google_service_account.api_server.email}"
}

resource "google_project_iam_custom_role" "provision_work" {
  role_id     = "cloudzProvisionWork"
  title       = "cloudz provision on bucket:work"
  permissions = [
    "storage.buckets.get",
    "storage.buckets.update",
  ]
}

resource "google_storage_bucket_iam_member" "provision_work" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.provision_work.name
  member = "serviceAccount:${google_service_account.provision.email}"
}

resource "google_project_iam_custom_role" "provision_project" {
  role_id     = "cloudzProvisionProject"
  title       = "cloudz provision on project"
  permissions = [
    "bigquery.datasets.create",
    "bigquery.datasets.get",
    "bigquery.tables.create",
    "bigquery.tables.get",
    "storage.buckets.create",
  ]
}

resource "google_project_iam_member" "provision_project" {
  project = var.project_id
  role   = google_project_iam_custom_role.provision_project.name
  member = "serviceAccount:${google_service_account.provision.email}"
}

resource "google_project_iam_custom_role" "operator_archive" {
  role_id     = "cloudzOperatorArchive"
  title       = "cloudz operator on bucket:archive"
  permissions = [
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
  ]
}

resource "google_storage_bucket_iam_member" "operator_archive" {
  bucket = google_storage_bucket.archive.name
  role   = google_project_iam_custom_role.operator_archive.name
  member = "serviceAccount:${google_service_account.operator.email}"
}

resource "google_project_iam_custom_role" "operator_work" {
  role_id     = "cloudzOperatorWork"
  title       = "cloudz operator on bucket:work"
  permissions = [
    "storage.objects.list",
  ]
}

resource "google_storage_bucket_iam_member" "operator_work" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.operator_work.name
  member = "serviceAccount:${google_service_account.operator.email}"
}

resource "google_project_iam_custom_role" "operator_work_quarantine" {
  role_id     = "cloudzOperatorWorkQuarantine"
  title       = "cloudz operator on bucket:work/_quarantine/"
  permissions = [
    "storage.objects.create",
    "storage.objects.get",
  ]
}

resource "google_storage_bucket_iam_member" "operator_work_quarantine" {
  bucket = google_storage_bucket.work.name
  role   = google_project_iam_custom_role.operator_work_quarantine.name
  member = "serviceAccount:${google_service_account.operator.email}"
  condition {
    title      = "_quarantine/"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.work.name}/objects/_quarantine/\")"
  }
}

resource "google_project_iam_custom_role" "operator_project" {
  role_id     = "cloudzOperatorProject"
  title       = "cloudz operator on project"
  permissions = [
    "bigquery.jobs.create",
  ]
}

resource "google_project_iam_member" "operator_project" {
  project = var.project_id
  role   = google_project_iam_custom_role.operator_project.name
  member = "serviceAccount:${google_service_account.operator.email}"
}

resource "google_project_iam_custom_role" "operator_routes" {
  role_id     = "cloudzOperatorRoutes"
  title       = "cloudz operator on table:routes"
  permissions = [
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "operator_routes" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.routes.table_id
  role   = google_project_iam_custom_role.operator_routes.name
  member = "serviceAccount:${google_service_account.operator.email}"
}

resource "google_project_iam_custom_role" "operator_files" {
  role_id     = "cloudzOperatorFiles"
  title       = "cloudz operator on table:files"
  permissions = [
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "operator_files" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.files.table_id
  role   = google_project_iam_custom_role.operator_files.name
  member = "serviceAccount:${google_service_account.operator.email}"
}

resource "google_project_iam_custom_role" "operator_quarantine" {
  role_id     = "cloudzOperatorQuarantine"
  title       = "cloudz operator on table:quarantine"
  permissions = [
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_bigquery_table_iam_member" "operator_quarantine" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.routeviews.dataset_id
  table_id   = google_bigquery_table.quarantine.table_id
  role   = google_project_iam_custom_role.operator_quarantine.name
  member = "serviceAccount:${google_service_account.operator.email}"
}
