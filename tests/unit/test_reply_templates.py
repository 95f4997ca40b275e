"""The shipped reply templates, and the sandbox that refuses bad ones at load time."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from classifiers.config import load_triage_config
from pipeline.config import Settings
from pipeline.errors import ConfigError, TemplateError
from responders.facts import InquiryFacts
from responders.render import Library, amount, date_long, join_and, load_library, sample_entities, sample_facts
from responders.variables import build_variables

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "config" / "templates"
LANGUAGES = ("en", "fr", "es")
GREETINGS = {"en": ("Dear ",), "fr": ("Bonjour ", "Madame, Monsieur,"), "es": ("Estimado/a ",)}
CLOSINGS = {"en": "Kind regards,", "fr": "Bien cordialement,", "es": "Atentamente,"}


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(TEMPLATES)


def _variables(library: Library, template_id: str, language: str, *, full: bool) -> dict[str, object]:
    spec = library.catalogue.by_id(template_id)
    assert spec is not None
    return build_variables(language=language, topic=spec.topic, variant=spec.variant, facts=sample_facts(full=full),
                           entities=sample_entities(full=full), catalogue=library.catalogue)


def test_shipped_templates_all_load_without_a_problem(library: Library) -> None:
    assert library.problems == []
    assert library.catalogue.languages == LANGUAGES


def test_every_topic_of_the_default_taxonomy_has_its_general_explainer_in_every_language(library: Library) -> None:
    topics = load_triage_config(Settings().triage).taxonomy.topic_ids
    assert len(topics) == 11
    for topic in topics:
        specs = library.catalogue.for_topic(topic)
        assert [s.id for s in specs if s.variant == "default"] == [topic], topic
        for spec in specs:
            for language in LANGUAGES:
                assert library.usable(spec.id, language), (spec.id, language)


def test_topics_with_several_answers_have_variants(library: Library) -> None:
    variants = {topic: {s.variant for s in library.catalogue.for_topic(topic)} for topic in ("fees", "renewal")}
    assert {"refund", "missing_payment", "default"} <= variants["fees"]
    assert {"grace_period", "lapsed", "default"} <= variants["renewal"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("full", [True, False])
def test_every_template_renders_a_complete_letter(library: Library, language: str, full: bool) -> None:
    for spec in library.catalogue.templates:
        body = library.render(spec.id, language, _variables(library, spec.id, language, full=full))
        text = body.text
        assert text.startswith(GREETINGS[language]), (spec.id, text[:80])
        assert CLOSINGS[language] in text
        assert library.catalogue.office_facts(language)["name"] in text
        assert "{{" not in text and "{%" not in text and "None" not in text, spec.id
        assert "\n\n\n" not in text and text.endswith("\n")
        assert ("T-1042" in text) == full, spec.id
        assert body.html is not None and body.html.startswith("<!DOCTYPE html>")


def test_translations_are_not_the_english_text(library: Library) -> None:
    for spec in library.catalogue.templates:
        texts = {lang: library.render(spec.id, lang, _variables(library, spec.id, lang, full=True)).text
                 for lang in LANGUAGES}
        assert len(set(texts.values())) == 3, spec.id


def test_values_that_look_like_jinja_are_printed_literally(library: Library) -> None:
    facts = InquiryFacts(
        inquiry_id=7, message_id=None, references=(), subject="{{ 7*7 }} {% for x in range(3) %}x{% endfor %}",
        sender_name="{{ ''.__class__.__mro__ }}", sender_address="a@example.org", reply_to=None, recipients=(),
        sent_at=None, new_text="",
    )
    variables = build_variables(language="en", topic=None, variant="default", facts=facts, entities=(),
                                catalogue=library.catalogue)
    text = library.render("acknowledgement", "en", variables).text
    assert "Dear {{ ''.__class__.__mro__ }}," in text
    assert '("{{ 7*7 }} {% for x in range(3) %}x{% endfor %}")' in text
    assert "49" not in text


def test_html_part_escapes_what_came_from_the_message(library: Library) -> None:
    facts = InquiryFacts(
        inquiry_id=7, message_id=None, references=(), subject="<b>bold</b>",
        sender_name='<script>alert("x")</script> & Co', sender_address="a@example.org", reply_to=None,
        recipients=(), sent_at=None, new_text="",
    )
    variables = build_variables(language="en", topic=None, variant="default", facts=facts, entities=(),
                                catalogue=library.catalogue)
    html = library.render("acknowledgement", "en", variables).html
    assert html is not None
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in html
    assert '<a href="https://registry.example.org">https://registry.example.org</a>' in html


def test_names_with_line_breaks_stay_on_one_line(library: Library) -> None:
    facts = InquiryFacts(
        inquiry_id=7, message_id=None, references=(), subject="Line one\r\nBcc: evil@example.com",
        sender_name="Jane\r\nDoe\x00", sender_address="a@example.org", reply_to=None, recipients=(),
        sent_at=None, new_text="",
    )
    variables = build_variables(language="fr", topic=None, variant="default", facts=facts, entities=(),
                                catalogue=library.catalogue)
    text = library.render("acknowledgement", "fr", variables).text
    assert text.startswith("Bonjour Jane Doe,\n")
    assert "« Line one Bcc: evil@example.com »" in text


# --- refused at load time -----------------------------------------------------------------------

_BAD = {
    "syntax": ("{% extends \"_layout.j2\" %}{% block body %}{% if x %}oops{% endblock %}", "syntax error"),
    "undefined": ("{% extends \"_layout.j2\" %}{% block body %}{{ customer_name }}{% endblock %}",
                  "undefined variable 'customer_name'"),
    "internals": ("{% extends \"_layout.j2\" %}{% block body %}{{ sender.__class__.__mro__ }}{% endblock %}",
                  "reaches into Python internals (.__"),
    "attr_filter": ("{% extends \"_layout.j2\" %}{% block body %}{{ sender|attr('__class__') }}{% endblock %}",
                    "attr filter"),
    "globals": ("{% extends \"_layout.j2\" %}{% block body %}{{ self._TemplateReference__context }}{% endblock %}",
                "Python internals"),
    "item": ("{% extends \"_layout.j2\" %}{% block body %}{{ sender['__class__'] }}{% endblock %}",
             "Python internals"),
    "strict": ("{% extends \"_layout.j2\" %}{% block body %}{{ office.phone_number }}{% endblock %}",
               "fails with sample values"),
    "empty_list": ("{% extends \"_layout.j2\" %}{% block body %}{{ refs.registrations[0] }}{% endblock %}",
                   "fails with sample values"),
    "loop": ("{% extends \"_layout.j2\" %}{% block body %}{% for i in range(10**6) %}x{% endfor %}{% endblock %}",
             "limited to 1000 items"),
    "dynamic": ("{% extends \"_layout.j2\" %}{% block body %}{% include topic ~ '.j2' %}{% endblock %}",
                "with an expression"),
    "deep_loops": ("{% extends \"_layout.j2\" %}{% block body %}{% for a in range(900) %}{% for b in range(900) %}"
                   "{% for c in range(900) %}{% endfor %}{% endfor %}{% endfor %}x{% endblock %}",
                   "nests loops 3 deep"),
    "huge_output": ("{% extends \"_layout.j2\" %}{% block body %}{% for a in range(999) %}{% for b in range(999) %}"
                    "xxxxxxxxxx{% endfor %}{% endfor %}{% endblock %}", "output passed"),
    "extends_in_block": ("{% extends \"_layout.j2\" %}{% block body %}{% extends \"_layout.j2\" %}x{% endblock %}",
                         "cannot use extend from a non top-level scope"),
}


def _catalogue(ids: list[str], languages: tuple[str, ...] = ("en",)) -> str:
    lines = [f"languages = {list(languages)!r}".replace("'", '"'), 'default_language = "en"',
             "[office.en]", 'name = "Test Office"', "[links]", 'website = "https://x.example"']
    for template_id in ids:
        lines += ["[[template]]", f'id = "{template_id}"', 'topic = "general"', "version = 1"]
    return "\n".join(lines) + "\n"


_LAYOUT = ("Hello {{ sender.name }},\n{% block body %}{% for section in sections %}{{ section.heading }}\n"
           "{{ section.text }}\n{% endfor %}{% endblock %}\n{{ office.name }}\n")


def _write(tmp_path: Path, templates: dict[str, str], layout: str | None = None) -> Path:
    directory = tmp_path / "templates"
    (directory / "en").mkdir(parents=True)
    (directory / "en" / "_layout.j2").write_text(
        layout or _LAYOUT, encoding="utf-8")
    ids = ["general", *(f"general--{name}" for name in templates if name != "general")]
    for name, text in templates.items():
        file = "general" if name == "general" else f"general--{name}"
        (directory / "en" / f"{file}.j2").write_text(text, encoding="utf-8")
    (directory / "catalogue.toml").write_text(_catalogue(ids), encoding="utf-8")
    return directory


def test_bad_templates_are_refused_and_listed_with_their_file(tmp_path: Path) -> None:
    files = {"general": '{% extends "_layout.j2" %}{% block body %}Fine: {{ refs.main }}{% endblock %}'}
    files.update({name: text for name, (text, _) in _BAD.items()})
    library = load_library(_write(tmp_path, files))
    assert library.usable("general", "en")
    problems = dict(library.problems)
    for name, (_, expected) in _BAD.items():
        path = str(tmp_path / "templates" / "en" / f"general--{name}.j2")
        assert not library.usable(f"general--{name}", "en"), name
        assert path in problems, (name, library.problems)
        assert expected in problems[path] and "never used" in problems[path], (name, problems[path])
        with pytest.raises(TemplateError, match="cannot be used"):
            library.render(f"general--{name}", "en", {})


def test_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    library = load_library(_write(tmp_path, {"general": '{% extends "_layout.j2" %}\n{% block body %}\n'
                                                        "ok\n{{ sender.name }\n{% endblock %}"}))
    ((where, message),) = library.problems
    assert where.endswith("en/general.j2") and "line 4: syntax error" in message


def test_a_broken_layout_refuses_every_template_that_uses_it(tmp_path: Path) -> None:
    library = load_library(_write(tmp_path, {"general": '{% extends "_layout.j2" %}{% block body %}x{% endblock %}'},
                                  layout="{{ sender.__init__.__globals__ }}{% block body %}{% endblock %}"))
    assert not library.usable("general", "en")
    messages = " ".join(message for _, message in library.problems)
    assert "uses _layout.j2, which was refused" in messages and "_layout.j2" in " ".join(w for w, _ in library.problems)


def test_missing_and_stray_files_are_problems(tmp_path: Path) -> None:
    directory = _write(tmp_path, {"general": '{% extends "_layout.j2" %}{% block body %}x{% endblock %}'})
    (directory / "en" / "forgotten.j2").write_text("x", encoding="utf-8")
    catalogue = (directory / "catalogue.toml").read_text(encoding="utf-8")
    (directory / "catalogue.toml").write_text(catalogue.replace('["en"]', '["en", "fr"]'), encoding="utf-8")
    problems = load_library(directory).problems
    text = "\n".join(f"{w}: {m}" for w, m in problems)
    assert "forgotten.j2: not in the catalogue" in text
    assert "fr/general.j2: template refused, never used: file not found" in text


def test_a_broken_catalogue_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    directory = _write(tmp_path, {"general": "x"})
    (directory / "catalogue.toml").write_text(
        'languages = ["en"]\ndefault_language = "en"\n[[template]]\nid = "Bad Id"\nversion = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_library(directory)
    text = str(info.value)
    assert "catalogue.toml:4" in text and "Bad Id" in text and "version" in text


def test_unknown_topics_are_refused(tmp_path: Path) -> None:
    directory = _write(tmp_path, {"general": "x"})
    text = (directory / "catalogue.toml").read_text(encoding="utf-8")
    text += '[[template]]\nid = "weather"\ntopic = "weather"\nversion = 1\n'
    (directory / "catalogue.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_library(directory, topics=("general",))
    assert "unknown topic 'weather'" in str(info.value)


def test_keyword_when_rules_are_refused_with_their_line(tmp_path: Path) -> None:
    directory = _write(tmp_path, {"general": "x"})
    text = (directory / "catalogue.toml").read_text(encoding="utf-8")
    text += '[[template]]\nid = "general--fees"\ntopic = "general"\nversion = 1\n[template.when]\nwords.en = ["fee"]\n'
    (directory / "catalogue.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_library(directory)
    assert "catalogue.toml:" in str(info.value) and "[when] rules are gone" in str(info.value)


def test_a_layout_that_drops_the_sections_is_refused(tmp_path: Path) -> None:
    library = load_library(_write(tmp_path, {"general": '{% extends "_layout.j2" %}{% block body %}x{% endblock %}'},
                                  layout="Hello,\n{% block body %}{% endblock %}\nBye\n"))
    problems = dict(library.problems)
    assert "does not print every section" in problems[str(tmp_path / "templates" / "en" / "_layout.j2")]


def test_the_shipped_folder_copied_still_loads(tmp_path: Path) -> None:
    copy = tmp_path / "t"
    shutil.copytree(TEMPLATES, copy)
    assert load_library(copy).problems == []


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "language", "expected"), [
    ("2027-03-15", "en", "15 March 2027"), ("2027-03-01", "fr", "1er mars 2027"),
    ("2027-03-15", "es", "15 de marzo de 2027"), ("not a date", "en", "not a date"),
])
def test_date_long(value: str, language: str, expected: str) -> None:
    assert date_long(value, language) == expected


@pytest.mark.parametrize(("value", "language", "expected"), [
    ("CHF 1234.50", "en", "CHF 1,234.50"), ("CHF 1234.50", "fr", "1\u202f234,50\u00a0CHF"),
    ("EUR 300", "es", "300 EUR"), ("CHF 1234567.5", "es", "1.234.567,5 CHF"), ("odd", "en", "odd"),
    ("EUR 3200", "de", "3.200 EUR"), ("EUR 1980.00", "de", "1.980,00 EUR"),
])
def test_amount(value: str, language: str, expected: str) -> None:
    assert amount(value, language) == expected


def test_join_and() -> None:
    assert join_and([], "en") == "" and join_and(["a"], "fr") == "a"
    assert join_and(["a", "b", "c"], "en") == "a, b and c"
    assert join_and(["a", "b"], "es") == "a y b" and join_and(["a", "b"], "fr") == "a et b"


def test_rendered_text_has_no_trailing_spaces(library: Library) -> None:
    for spec in library.catalogue.templates:
        text = library.render(spec.id, "fr", _variables(library, spec.id, "fr", full=False)).text
        assert not re.search(r"[ \t]+$", text, re.MULTILINE), spec.id


def test_a_rendering_is_stopped_when_it_grows_too_long_or_takes_too_long() -> None:
    from responders.render import bounded

    assert bounded(iter(["a", "b"])) == "ab"
    with pytest.raises(TemplateError, match="output passed 10 characters"):
        bounded(iter(["12345", "67890", "x"]), max_chars=10)

    def slow() -> Iterator[str]:
        yield "a"
        time.sleep(0.05)
        yield "b"

    with pytest.raises(TemplateError, match="took more than"):
        bounded(slow(), max_seconds=0.01)
