"""Airflow operators of the project, built on the Google provider's."""
