"""The paths given to `triage ingest`: the usable ones go on, each other one is a problem of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import SourceError
from pipeline.sources.base import SourceProblem
from pipeline.sources.files import check_paths, usable_paths


def test_a_missing_path_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(b"Subject: a\n\nx\n")
    (tmp_path / "folder").mkdir()
    given = [tmp_path / "a.eml", tmp_path / "typo.eml", tmp_path / "folder", tmp_path / "gone"]
    usable, problems = usable_paths(given)
    assert usable == [tmp_path / "a.eml", tmp_path / "folder"]
    assert problems == [SourceProblem(str(tmp_path / "typo.eml"), "no such file or directory"),
                        SourceProblem(str(tmp_path / "gone"), "no such file or directory")]


def test_check_paths_still_refuses_at_the_first_problem(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="typo.eml: no such file or directory"):
        check_paths([tmp_path / "typo.eml"])
