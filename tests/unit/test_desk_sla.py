"""Two desks in the review app: each queue knows its desk, each queue's target comes from its desk's SLA file,
a change of one desk's targets goes to that desk's file, and check-config finds shared queues that disagree."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from classifiers.config import load_triage_config
from pipeline.checks import check_desks
from pipeline.config import DeskSettings, LoadedSettings, Settings, TriageSettings, WebSettings
from pipeline.errors import ConfigError
from webapp.desk_sla import DeskSla, OfficeSla, load_office_sla, save_desk_sla, shared_queue_problems
from webapp.errors import BadInput
from webapp.services.admin_queues import update_sla
from webapp.services.users import with_desk_queues
from webapp.sla import Sla
from webapp.vocabulary import Vocabulary, desks_vocabulary

ROOT = Path(__file__).resolve().parents[2]
RENEWALS = ROOT / "config" / "desks" / "renewals"
REGISTRY_QUEUES = ("customer_service", "operations", "legal", "finance", "it", "translation")
RENEWAL_QUEUES = ("account_team", "renewals_processing", "billing", "records", "account_manager")


def _settings(tmp_path: Path, renewals: Path = RENEWALS) -> Settings:
    """The registry desk with a copy of the shipped SLA file, and the renewal desk from ``renewals``."""
    sla = tmp_path / "sla.toml"
    if not sla.exists():
        shutil.copy(ROOT / "config" / "sla.toml", sla)
    return Settings(web=WebSettings(sla=sla),
                    desks={"renewals": DeskSettings(name="Patent renewals", folder=renewals)})


def _vocabulary(settings: Settings) -> Vocabulary:
    return desks_vocabulary(settings, load_triage_config(TriageSettings()).taxonomy)


def _renewal_copy(tmp_path: Path, *, shared: str | None = None, sla_queues: str = "") -> Path:
    """A copy of the renewal desk's folder; ``shared``: also declare this queue; ``sla_queues``: SLA lines added."""
    folder = tmp_path / "renewals"
    shutil.copytree(RENEWALS, folder)
    if shared:
        taxonomy = folder / "taxonomy.toml"
        text = taxonomy.read_text(encoding="utf-8")
        taxonomy.write_text(text.replace("[queues.records]", f'[queues.{shared}]\ndescription = "shared"\n'
                                         "[queues.records]", 1), encoding="utf-8")
    if sla_queues:
        with (folder / "sla.toml").open("a", encoding="utf-8") as out:
            out.write(sla_queues)
    return folder


def test_the_vocabulary_keeps_each_queues_desks_and_groups_them() -> None:
    vocabulary = _vocabulary(Settings(desks={"renewals": DeskSettings(name="Patent renewals", folder=RENEWALS)}))
    assert vocabulary.desks == {"registry": "registry", "renewals": "Patent renewals"}
    assert vocabulary.several_desks
    assert vocabulary.desk_of("finance") == "registry" and vocabulary.desk_of("billing") == "renewals"
    assert vocabulary.declared_by("renewals") == RENEWAL_QUEUES
    groups = vocabulary.grouped(["billing", "legal", "gone"])
    assert [(g.id, g.name, g.queues) for g in groups] == [("registry", "registry", ("legal",)),
                                                           ("renewals", "Patent renewals", ("billing",)),
                                                           ("", "", ("gone",))]


def test_a_queue_two_desks_declare_is_one_queue_listed_under_the_first(tmp_path: Path) -> None:
    vocabulary = _vocabulary(_settings(tmp_path, _renewal_copy(tmp_path, shared="legal")))
    assert list(vocabulary.queues).count("legal") == 1
    assert vocabulary.queue_desks["legal"] == ("registry", "renewals")
    assert vocabulary.desk_names("legal") == ("registry", "Patent renewals")
    assert "legal" in vocabulary.declared_by("renewals")
    assert [g.queues.count("legal") for g in vocabulary.grouped()] == [1, 0]


def test_a_vocabulary_without_desks_is_one_group() -> None:
    vocabulary = Vocabulary(queues={"a": "", "b": ""})
    assert not vocabulary.several_desks and vocabulary.declared_by("registry") == ("a", "b")
    assert [g.queues for g in vocabulary.grouped()] == [("a", "b")]


def test_each_queue_has_its_own_desks_target_and_warning_share(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    office = load_office_sla(settings, _vocabulary(settings))
    assert [d.desk for d in office.desks] == ["registry", "renewals"]
    assert office.desk("renewals").path == RENEWALS / "sla.toml"
    assert office.target("renewals_processing") == timedelta(hours=8)
    assert office.target("customer_service") == timedelta(hours=24)
    assert office.target("nobody_declares_it") == timedelta(hours=48)  # the first desk's default
    assert office.hours["billing"] == 48 and office.hours["legal"] == 120
    two_desks = OfficeSla((DeskSla("registry", "registry", tmp_path / "a.toml", Sla(default_hours=48), ("legal",)),
                           DeskSla("renewals", "R", tmp_path / "b.toml", Sla(default_hours=10, warn_share=0.5),
                                   ("records",))))
    assert two_desks.target("records") == timedelta(hours=10) and "records" not in two_desks.hours
    assert (two_desks.warn("records"), two_desks.warn("legal")) == (0.5, 0.75)
    now = datetime(2025, 6, 2, 12, tzinfo=timezone.utc)
    assert two_desks.status("records", now - timedelta(hours=6), now) == "soon"  # past half of 10 h
    assert two_desks.status("legal", now - timedelta(hours=6), now) == "ok"
    assert two_desks.status("records", now - timedelta(hours=10), now) == "overdue"


def test_an_sla_file_is_checked_against_its_own_desks_queues(tmp_path: Path) -> None:
    folder = _renewal_copy(tmp_path, sla_queues="customer_service = 4\n")  # a registry queue
    settings = _settings(tmp_path, folder)
    with pytest.raises(ConfigError) as raised:
        load_office_sla(settings, _vocabulary(settings))
    assert any("queues.customer_service" in key and "unknown queue" in message
               for key, message in raised.value.problems)
    problems = check_desks(LoadedSettings(settings=settings, path=None, raw={}))
    assert any(key.startswith("desks.renewals.sla") and "queues.customer_service" in key and "unknown queue" in message
               for key, message in problems), problems


def test_check_config_reports_a_shared_queue_whose_targets_differ(tmp_path: Path) -> None:
    folder = _renewal_copy(tmp_path, shared="legal", sla_queues="legal = 12\n")
    settings = _settings(tmp_path, folder)
    office = load_office_sla(settings, _vocabulary(settings))
    [(key, message)] = shared_queue_problems(office)
    assert key == "desks.renewals.sla: queues.legal"
    assert "'registry' (120 h" in message and "'renewals' (12 h" in message and "one target" in message
    problems = check_desks(LoadedSettings(settings=settings, path=None, raw={}))
    assert ("desks.renewals.sla: queues.legal", message) in problems
    agreeing = _renewal_copy(tmp_path / "two", shared="legal", sla_queues="legal = 120\n")
    settings = _settings(tmp_path, agreeing)
    assert shared_queue_problems(load_office_sla(settings, _vocabulary(settings))) == []


def test_saving_a_desks_targets_writes_its_own_file_with_its_header(tmp_path: Path) -> None:
    folder = _renewal_copy(tmp_path)
    settings = _settings(tmp_path, folder)
    office = load_office_sla(settings, _vocabulary(settings))
    registry_before = (tmp_path / "sla.toml").read_text(encoding="utf-8")
    saved = update_sla(office, {"desk": "renewals", "hours_renewals_processing": "6", "hours_billing": "",
                                "hours_legal": "1", "default_hours": "20", "warn_share": "0.5"})
    text = (folder / "sla.toml").read_text(encoding="utf-8")
    assert text.startswith("# Response-time targets (hours) of the patent-renewal desk")
    queues = text.split("[queues]")[1]
    assert "renewals_processing = 6" in queues and "billing" not in queues and "legal" not in queues
    assert "default_hours = 20" in text and "warn_share = 0.5" in text
    assert (tmp_path / "sla.toml").read_text(encoding="utf-8") == registry_before
    assert saved.target("renewals_processing") == timedelta(hours=6) and saved.target("billing") == timedelta(hours=20)
    assert saved.target("legal") == timedelta(hours=120) and saved.warn("account_team") == 0.5
    with pytest.raises(BadInput, match="no desk"):
        update_sla(office, {"desk": "nope", "default_hours": "1", "warn_share": "0.5"})
    with pytest.raises(BadInput, match="more than 0"):
        update_sla(saved, {"desk": "renewals", "hours_records": "-1", "default_hours": "1", "warn_share": "0.5"})
    assert (folder / "sla.toml").read_text(encoding="utf-8") == text  # nothing written


def test_a_shared_queues_new_target_goes_to_every_file_naming_it(tmp_path: Path) -> None:
    folder = _renewal_copy(tmp_path, shared="legal", sla_queues="legal = 120\n")
    settings = _settings(tmp_path, folder)
    office = load_office_sla(settings, _vocabulary(settings))
    assert "legal" in office.owned("registry") and "legal" not in office.owned("renewals")
    hours = {q: office.hours[q] for q in office.owned("registry") if q in office.hours}
    saved = save_desk_sla(office, "registry", {**hours, "legal": 36}, 48, 0.75)
    assert "legal = 36" in (folder / "sla.toml").read_text(encoding="utf-8")
    assert saved.desk("renewals").sla.hours["legal"] == 36 and shared_queue_problems(saved) == []
    # no target of its own: the other desk's file (default 24 h) names the registry's default (48 h)
    hours.pop("legal")
    saved = save_desk_sla(saved, "registry", hours, 48, 0.75)
    assert saved.desk("renewals").sla.hours["legal"] == 48 and shared_queue_problems(saved) == []
    # the renewal desk's own save keeps the shared queue's target it does not own
    saved = update_sla(saved, {"desk": "renewals", "default_hours": "24", "warn_share": "0.75"})
    assert saved.desk("renewals").sla.hours == {"legal": 48}


def test_a_desk_choice_gives_all_its_queues() -> None:
    desks = {"registry": ("finance", "legal"), "renewals": ("billing", "records")}
    assert with_desk_queues(["legal"], ["renewals"], desks) == ["legal", "billing", "records"]
    assert with_desk_queues([], ["", "registry"], desks) == ["finance", "legal"]
    with pytest.raises(BadInput, match="unknown desk"):
        with_desk_queues([], ["payroll"], desks)
