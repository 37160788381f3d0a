"""Least privilege, proven offline: deploy/terraform's grants to each component's service account
are exactly what cloudz/deploy_permissions.py says its calls need, no permission missing and
none extra; grants are custom roles (their permissions listed, so checkable here), bound on the
narrowest resource; the public sees only the archive bucket, the routes and files tables and
what researchers query beside them (prefix_origins, files_broker and the files_latest it reads)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from terraform_hcl import reference, resources, text

from cloudz import deploy_permissions
from cloudz.settings import PROJECT_ROOT

Resources = dict[tuple[str, str], dict[str, Any]]
Grants = dict[str, set[tuple[str, str]]]

#: who else may be a member, and of what: the public archive and the public tables only
PUBLIC_BINDINGS = {
    (
        "google_storage_bucket_iam_member",
        "bucket:archive",
        "roles/storage.objectViewer",
        "allUsers",
    ),
    (
        "google_bigquery_table_iam_member",
        "table:routes",
        "roles/bigquery.dataViewer",
        "allAuthenticatedUsers",
    ),
    (
        "google_bigquery_table_iam_member",
        "table:files",
        "roles/bigquery.dataViewer",
        "allAuthenticatedUsers",
    ),
    # what researchers query beside them (issue 24): the derived prefix_origins table and the
    # broker's view, with the view it reads (a view is read with the reader's own access)
    *(
        (
            "google_bigquery_table_iam_member",
            f"table:{name}",
            "roles/bigquery.dataViewer",
            "allAuthenticatedUsers",
        )
        for name in ("prefix_origins", "files_latest", "files_broker")
    ),
}


def _scopes(kind: str, body: dict[str, Any]) -> list[str]:
    """The resources a binding grants on, as deploy_permissions names them."""
    if kind == "google_project_iam_member":
        assert text(body["project"]) == "var.project_id"
        return ["project"]
    if kind == "google_bigquery_table_iam_member":
        return [f"table:{reference(body['table_id'])[1]}"]
    if kind == "google_secret_manager_secret_iam_member":
        group = re.fullmatch(r"toset\(local\.secrets\.(\w+)\)", text(body["for_each"]))
        assert group, body
        return [f"secret:{group.group(1)}"]
    assert kind == "google_storage_bucket_iam_member", kind
    bucket = reference(body["bucket"])[1]
    conditions = body.get("condition", [])
    if not conditions:
        return [f"bucket:{bucket}"]
    expression = text(conditions[0]["expression"])
    scopes = [f"bucket:{bucket}/*{s}" for s in re.findall(r'endsWith\("([^"]+)"\)', expression)]
    for target, prefix in re.findall(
        r'startsWith\("projects/_/buckets/\$\{google_storage_bucket\.(\w+)\.name\}/objects/([^"]+)"\)',
        expression,
    ):
        assert target == bucket, f"a condition on {target} bound on {bucket}"
        scopes.append(f"bucket:{bucket}/{prefix}")
    assert scopes, f"a condition this test does not read: {expression}"
    return scopes


def granted(found: Resources) -> Grants:
    """(resource, permission) pairs each service account is granted."""
    roles = {
        name: {text(p) for p in body["permissions"]}
        for (kind, name), body in found.items()
        if kind == "google_project_iam_custom_role"
    }
    grants: Grants = {name: set() for kind, name in found if kind == "google_service_account"}
    for (kind, name), body in found.items():
        if not kind.endswith("_iam_member"):
            continue
        account = re.fullmatch(
            r"serviceAccount:\$\{google_service_account\.(\w+)\.email\}", text(body["member"])
        )
        if account is None:
            continue  # the public bindings: test_only_the_archive_and_public_tables_are_public
        role_kind, role = reference(body["role"])
        assert role_kind == "google_project_iam_custom_role", f"{name}: not a custom role"
        for scope in _scopes(kind, body):
            grants[account.group(1)] |= {(scope, permission) for permission in roles[role]}
    return grants


def differences(found: Resources) -> dict[str, tuple[set[tuple[str, str]], set[tuple[str, str]]]]:
    """Per account: (needed but not granted, granted but not needed); empty when exact."""
    grants = granted(found)
    out = {}
    for account in deploy_permissions.ACCOUNTS:
        need = deploy_permissions.needed(account)
        have = grants.get(account, set())
        if need != have:
            out[account] = (need - have, have - need)
    return out


@pytest.fixture(scope="module")
def found() -> Resources:
    return resources()


def test_every_account_is_granted_exactly_what_its_calls_need(found: Resources) -> None:
    assert differences(found) == {}


def test_one_account_per_component_and_no_other(found: Resources) -> None:
    accounts = {name for kind, name in found if kind == "google_service_account"}
    assert accounts == set(deploy_permissions.ACCOUNTS)
    for name in accounts:
        account_id = text(found[("google_service_account", name)]["account_id"])
        assert account_id == f"cloudz-{name.replace('_', '-')}"


def test_the_coverage_page_can_query_and_a_dropped_grant_is_caught(found: Resources) -> None:
    """Issue 22's first regression: docs/deploy.md gave the api-server no BigQuery role, and
    the coverage page failed. Its account needs jobs.create and reads of the two tables; the
    check above reports the grant missing when the binding is dropped."""
    need = deploy_permissions.needed("api_server")
    assert {
        ("project", "bigquery.jobs.create"),
        ("table:files", "bigquery.tables.getData"),
        ("table:coverage", "bigquery.tables.getData"),
    } <= need
    dropped = {
        k: v for k, v in found.items() if k != ("google_project_iam_member", "api_server_project")
    }
    assert differences(dropped) == {"api_server": ({("project", "bigquery.jobs.create")}, set())}


def test_an_extra_permission_is_caught(found: Resources) -> None:
    key = ("google_project_iam_custom_role", "receiver_archive")
    widened = dict(found)
    widened[key] = {
        **found[key],
        "permissions": [*found[key]["permissions"], '"storage.objects.delete"'],
    }
    assert differences(widened) == {
        "receiver": (set(), {("bucket:archive", "storage.objects.delete")})
    }


def test_only_the_archive_and_public_tables_are_public(found: Resources) -> None:
    public = set()
    for (kind, _name), body in found.items():
        if not kind.endswith("_iam_member") or text(body["member"]).startswith("serviceAccount:"):
            continue
        scope = _scopes(kind, body)[0]
        public.add((kind, scope, text(body["role"]), text(body["member"])))
    assert public == PUBLIC_BINDINGS
    work = found[("google_storage_bucket", "work")]
    assert text(work["public_access_prevention"]) == "enforced"


def test_docs_deploy_shows_the_table_of_grants() -> None:
    doc = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    assert deploy_permissions.markdown_table() in doc, (
        "docs/deploy.md's IAM table differs from cloudz.deploy_permissions.markdown_table():\n"
        + deploy_permissions.markdown_table()
    )


def test_the_worker_runs_prefix_origins_and_retention_and_a_dropped_grant_is_caught(
    found: Resources,
) -> None:
    """Issue 24's gap: the prefix_origins DAG (default queue, so cloudz-worker@) rebuilds a day
    of the table Terraform made; issue 23's: the maintenance DAG's retention reads the files
    catalog. Both need exactly their rows, and dropping the table's grant is reported."""
    from cloudz.warehouse import prefix_origins

    need = deploy_permissions.needed("worker")
    assert {
        ("table:prefix_origins", "bigquery.tables.get"),
        ("table:prefix_origins", "bigquery.tables.getData"),
        ("table:prefix_origins", "bigquery.tables.updateData"),
        ("table:routes", "bigquery.tables.getData"),
        ("table:files", "bigquery.tables.getData"),
        ("project", "bigquery.jobs.create"),
    } <= need
    assert (
        text(found[("google_bigquery_table", "prefix_origins")]["table_id"]) == prefix_origins.TABLE
    )
    dropped = {
        k: v
        for k, v in found.items()
        if k != ("google_bigquery_table_iam_member", "worker_prefix_origins")
    }
    assert differences(dropped) == {
        "worker": (
            {
                ("table:prefix_origins", "bigquery.tables.get"),
                ("table:prefix_origins", "bigquery.tables.getData"),
                ("table:prefix_origins", "bigquery.tables.updateData"),
            },
            set(),
        )
    }
    narrowed = dict(found)
    key = ("google_project_iam_custom_role", "worker_files")
    narrowed[key] = {
        **found[key],
        "permissions": [p for p in found[key]["permissions"] if "getData" not in p],
    }
    assert differences(narrowed) == {
        "worker": ({("table:files", "bigquery.tables.getData")}, set())
    }


def test_each_dag_task_has_an_account_whose_grants_cover_it_and_worker_lacks_two(
    found: Resources,
) -> None:
    """deploy_permissions.TASKS names each DAG task's components (test_helm_values.py checks
    it against the DAG files and follows each task to the account its worker set runs as).
    Here: every component is a real one, the reconcile's and the mirror's own tasks are
    covered by their accounts' Terraform grants, and cloudz-worker@'s are not enough for
    them (so they must not run on its queues: issue 22's finding)."""
    grants = granted(found)
    own = {
        ("mrt_reconcile", "scan"): "reconcile",
        ("mrt_reconcile", "recount"): "reconcile",
        ("mrt_reconcile", "report"): "reconcile",
        ("mrt_mirror", "plan"): "mirror",
        ("mrt_backfill", "plan"): "mirror",
    }
    for dag_id, dag in deploy_permissions.TASKS.items():
        for task_id, components in dag.items():
            assert set(components) <= set(deploy_permissions.CALLS), (dag_id, task_id)
            need = deploy_permissions.task_needs(dag_id, task_id)
            account = own.get((dag_id, task_id), "worker")
            assert need <= grants[account], (dag_id, task_id, need - grants[account])
    for dag_id, task_id in own:
        assert deploy_permissions.task_needs(dag_id, task_id) - grants["worker"], (dag_id, task_id)
    assert ("table:coverage", "bigquery.tables.updateData") in deploy_permissions.task_needs(
        "mrt_reconcile", "report"
    ) - grants["worker"]
    assert {
        ("bucket:work/_claims/", "storage.objects.delete"),
        ("bucket:work/_incoming/", "storage.objects.delete"),
    } <= deploy_permissions.task_needs("mrt_mirror", "plan") - grants["worker"]
