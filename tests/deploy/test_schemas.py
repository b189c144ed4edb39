"""deploy/ against the published schemas, offline: the Kubernetes objects against the OpenAPI
schemas kubernetes-validate bundles (strict: unknown fields rejected), compose.yaml against the
compose-spec schema check-jsonschema bundles.

Both packages are proposed dev dependencies: until pyproject.toml's dev extra has them, these
tests skip, naming the package (schema.py's field lists and the cross-checks of
test_manifests.py and test_compose.py run either way). KEDA's ScaledObject is a custom resource
neither package knows; schema.py covers it.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from .layout import compose, k8s_docs

#: The oldest Kubernetes the manifests claim (deploy/README.md) and the newest the package knows.
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_objects_match_the_openapi_schemas(version: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate (proposed dev dependency) not installed"
    )
    checked = 0
    for doc in k8s_docs():
        if doc.kind == "ScaledObject":
            continue
        try:
            kubernetes_validate.validate(doc.body, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc}: {exc.message}")
        checked += 1
    assert checked == 10


def test_compose_matches_the_compose_spec() -> None:
    pytest.importorskip(
        "check_jsonschema", reason="check-jsonschema (proposed dev dependency) not installed"
    )
    import jsonschema

    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendor.joinpath("compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
