# The receivers' network pieces: a VPC and subnet for the GKE nodes, a regional static address
# for the passthrough load balancer (the Service of deploy/k8s/receiver.yaml takes it as its
# loadBalancerIP), the firewall rules that let collectors and Google's health checks reach port
# 50051, and private service access for Cloud SQL and Memorystore (no public IPs).

resource "google_compute_network" "cloudz" {
  name                    = "cloudz"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "nodes" {
  name                     = "cloudz-nodes"
  network                  = google_compute_network.cloudz.id
  region                   = var.region
  ip_cidr_range            = var.network_cidr
  private_ip_google_access = true
  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_address" "receiver" {
  name         = "cloudz-receiver"
  region       = var.region
  address_type = "EXTERNAL"
}

resource "google_compute_firewall" "receiver" {
  # checkov:skip=CKV_GCP_106: the receiver is a public endpoint: collectors anywhere upload over TLS with per-collector credentials (docs/security.md)
  name          = "cloudz-receiver"
  network       = google_compute_network.cloudz.id
  direction     = "INGRESS"
  source_ranges = var.receiver_source_ranges
  allow {
    protocol = "tcp"
    ports    = ["50051"]
  }
  target_tags = ["cloudz-receiver"]
}

resource "google_compute_firewall" "health_checks" {
  name          = "cloudz-receiver-health-checks"
  network       = google_compute_network.cloudz.id
  direction     = "INGRESS"
  source_ranges = ["35.191.0.0/16", "130.211.0.0/22"] # Google's health checkers
  allow {
    protocol = "tcp"
    ports    = ["50051"]
  }
  target_tags = ["cloudz-receiver"]
}

resource "google_compute_global_address" "private_services" {
  name          = "cloudz-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.cloudz.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.cloudz.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}
