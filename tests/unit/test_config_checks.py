"""The triage configuration is checked with the line of each problem; the defaults are valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.config import SOURCE_ROOT, triage_config_problems
from classifiers.routing import parse_rules
from classifiers.taxonomy import parse_taxonomy
from classifiers.tomlines import TomlLines
from pipeline.checks import run_checks
from pipeline.config import TriageSettings, load_settings
from pipeline.errors import ConfigError

DEFAULT_TAXONOMY = (SOURCE_ROOT / "config" / "taxonomy.toml").read_text(encoding="utf-8")
DEFAULT_RULES = (SOURCE_ROOT / "config" / "routing.toml").read_text(encoding="utf-8")


def _rule(body: str) -> str:
    return f'[[rule]]\nid = "first"\nqueue = "finance"\nreason = "ok"\n\n[[rule]]\n{body}\n'


BAD_RULES = [
    # (rules text, line of the problem, words the message must contain)
    (_rule('id = "second"\ntopic = ["fees", "feez"]\nqueue = "finance"\nreason = "x"'), 8, ["unknown topic", "feez"]),
    (_rule('id = "second"\ntopic = [\n  "fees",\n  "renewals",\n]\nqueue = "finance"\nreason = "x"'), 10, ["unknown topic", "renewals"]),
    (_rule('id = "second"\nqueue = "finanse"\nreason = "x"'), 8, ["unknown queue", "finanse"]),
    (_rule('id = "second"\nsignals = ["angry"]\nqueue = "legal"\nreason = "x"'), 8, ["unknown signal", "angry"]),
    (_rule('id = "second"\nentities = ["iban"]\nqueue = "legal"\nreason = "x"'), 8, ["unknown entity kind", "iban"]),
    (_rule('id = "second"\ntopic_band = ["hi"]\nqueue = "legal"\nreason = "x"'), 8, ["topic_band"]),
    (_rule('id = "second"\ntopics = ["fees"]\nqueue = "legal"\nreason = "x"'), 8, ["topics", "Extra inputs"]),
    (_rule('id = "first"\nqueue = "legal"\nreason = "x"'), 7, ["duplicate rule id"]),
    (_rule('id = "second"\nqueue = "legal"\nreason = "for {who}"'), 9, ["unknown field {who}"]),
    (_rule('id = "second"\nqueue = "legal"'), 6, ["reason", "Field required"]),
]


@pytest.mark.parametrize(("text", "line", "words"), BAD_RULES)
def test_bad_rules_are_rejected_with_their_line(triage_config, text: str, line: int, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as caught:
        parse_rules(text, Path("rules.toml"), triage_config.taxonomy)
    (where, message), *_ = caught.value.problems
    assert where == f"rules.toml:{line}"
    for word in words:
        assert word in message


def test_not_toml_is_reported(triage_config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_rules("[[rule]\nid=", Path("r.toml"), triage_config.taxonomy)


BAD_TAXONOMY = [
    # (text to replace, replacement, what the reported line shows, words the message must contain)
    ('section = "operations"', 'section = "front_office"', "front_office", ["unknown queue", "front_office"]),
    ("high = 0.60\nmedium = 0.40", "high = 0.30\nmedium = 0.40", "[bands.topic]", ["must not be above high"]),
    ('working = ["en", "fr", "es"]', 'working = ["english"]', "english", ["ISO 639-1"]),
    ("[signals.urgent]", "[signals.hurry]", "[signals.hurry]", ["unknown signal word list"]),
    ("min_letters = 8", "min_letters = -1", "min_letters", ["greater than or equal to 1"]),
]


@pytest.mark.parametrize(("old", "new", "shown", "words"), BAD_TAXONOMY)
def test_bad_taxonomy_is_rejected_with_its_line(old: str, new: str, shown: str, words: list[str]) -> None:
    assert old in DEFAULT_TAXONOMY
    text = DEFAULT_TAXONOMY.replace(old, new, 1)
    with pytest.raises(ConfigError) as caught:
        parse_taxonomy(text, Path("taxonomy.toml"))
    where, message = caught.value.problems[0]
    line = int(where.rsplit(":", 1)[1])
    assert shown in text.splitlines()[line - 1]
    for word in words:
        assert word in message


def test_the_shipped_configuration_is_valid() -> None:
    assert triage_config_problems(TriageSettings()) == []
    loaded = load_settings(SOURCE_ROOT / "config" / "triage.toml", env={})
    assert run_checks(loaded) == []


def test_check_config_reports_a_rule_with_an_unknown_queue(tmp_path: Path) -> None:
    rules = DEFAULT_RULES.replace('queue = "translation"', 'queue = "translations"')
    (tmp_path / "routing.toml").write_text(rules, encoding="utf-8")
    config = tmp_path / "triage.toml"
    config.write_text(f'[triage]\nrouting = "{tmp_path / "routing.toml"}"\n', encoding="utf-8")
    problems = run_checks(load_settings(config, env={}))
    line = next(n for n, text in enumerate(rules.splitlines(), 1) if "translations" in text)
    assert problems == [(f"{tmp_path / 'routing.toml'}:{line}", problems[0][1])]
    assert "unknown queue 'translations'" in problems[0][1]


def test_missing_files_are_problems_not_crashes(tmp_path: Path) -> None:
    problems = triage_config_problems(TriageSettings(taxonomy=tmp_path / "none.toml"))
    assert problems and "not found" in problems[0][1]


def test_toml_lines_index_tables_arrays_and_multiline_values() -> None:
    text = '# c\n[a]\nx = 1\n[[r]]\nk = [\n  "p",\n  "q",\n]\n[[r]]\nk = "z"\n[b.c]\n"quoted key" = """\nmore\n"""\ny = 2\n'
    lines = TomlLines(text)
    assert lines.line_of(("a", "x")) == 3
    assert lines.line_of(("r", 0, "k")) == 5
    assert lines.line_of(("r", 0, "k"), '"q"') == 7
    assert lines.line_of(("r", 1, "k")) == 10
    assert lines.line_of(("b", "c", "quoted key")) == 12
    assert lines.line_of(("b", "c", "y")) == 15
    assert lines.line_of(("r", 1, "missing")) == 9


def test_a_check_that_breaks_is_one_problem_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import checks

    def check_replies(loaded: object) -> list[tuple[str, str]]:
        raise RuntimeError("cannot use extend\n  from a non top-level scope")

    def check_web(loaded: object) -> list[tuple[str, str]]:
        return [("web.sla", "still checked")]

    monkeypatch.setattr(checks, "CHECKS", [check_replies, check_web])
    loaded = load_settings(SOURCE_ROOT / "config" / "triage.toml", env={})
    assert run_checks(loaded) == [
        ("replies", "this check broke: RuntimeError: cannot use extend from a non top-level scope"),
        ("web.sla", "still checked"),
    ]
