"""The build's replace list is generated from k8s.io/kubernetes' go.mod (no cluster needed)."""

from __future__ import annotations

import pytest

from kubegym.devcluster import build
from kubegym.errors import ConfigError

GO_MOD = """\
module k8s.io/kubernetes

require (
\tgithub.com/armon/circbuf v0.0.0-20190214190532-5111143e8da2
\tk8s.io/api v0.0.0
\tk8s.io/klog/v2 v2.130.1
\tk8s.io/kube-openapi v0.0.0-20250710124328-f3f2b991d03b
\tk8s.io/client-go v0.0.0 // indirect
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""


def test_every_staging_module_gets_its_release_tag() -> None:
    replacements = build.staging_replacements(GO_MOD, "v1.34.2")
    assert replacements == {
        "k8s.io/api": "v0.34.2",
        "k8s.io/client-go": "v0.34.2",
        "k8s.io/sample-controller": "v0.34.2",
    }


def test_pseudo_versions_and_other_modules_are_left_alone() -> None:
    replacements = build.staging_replacements(GO_MOD, "v1.34.2")
    assert "k8s.io/kube-openapi" not in replacements
    assert "k8s.io/klog/v2" not in replacements


def test_a_version_that_is_not_a_release_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"v1\.34\.2"):
        build.staging_replacements(GO_MOD, "master")
