"""What a newcomer runs first: the package builds without deprecation notices, the demo's port can be chosen."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pipeline.commands.web import serve

ROOT = Path(__file__).resolve().parents[2]


def test_the_license_is_an_spdx_expression_for_a_setuptools_that_reads_it() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # A table here makes setuptools print a deprecation notice on every install.
    assert isinstance(pyproject["project"]["license"], str)
    assert re.fullmatch(r"LicenseRef-[A-Za-z0-9.-]+|[A-Za-z0-9.+-]+", pyproject["project"]["license"])
    (setuptools,) = [r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert minimum is not None and int(minimum.group(1)) >= 77  # SPDX strings are read from 77.0 on


def test_the_demo_port_is_documented_and_reaches_the_server() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./dev demo --port 9000" in readme
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    demo = dev[dev.index("  demo)"):dev.index(";;", dev.index("  demo)"))]
    assert re.search(r'triage serve "\$@"\s*$', demo.strip()), "./dev demo must hand its arguments to triage serve"
    assert {"host", "port"} <= {param.name for param in serve.params}
