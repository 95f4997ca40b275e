"""Desks in configuration: which desks an install has, where each finds its files, which desk a message belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.config import load_triage_config
from classifiers.entities import extract_entities
from classifiers.signals import conflicting_instruction
from pipeline.config import DeskSettings, MailboxSettings, Settings
from pipeline.desks import DEFAULT_DESK, all_desks, assign_desk, default_desk, desk_setting_problems

ROOT = Path(__file__).resolve().parents[2]
RENEWALS = ROOT / "config" / "desks" / "renewals"


def _mailbox(user: str, desk: str | None = None) -> MailboxSettings:
    return MailboxSettings(host="127.0.0.1", tls="none", user=user, desk=desk)  # type: ignore[arg-type]


def _two_desks(**mailboxes: MailboxSettings) -> Settings:
    return Settings(desks={"renewals": DeskSettings(name="Renewals", folder=RENEWALS,
                                                     addresses=("Renewals@Example.com",))},
                    mailboxes=mailboxes)


def test_an_install_without_desks_has_the_default_desk_made_of_its_own_paths() -> None:
    settings = Settings()
    desks = all_desks(settings)
    assert list(desks) == [DEFAULT_DESK] and default_desk(settings) == DEFAULT_DESK
    desk = desks[DEFAULT_DESK]
    assert desk.triage == settings.triage
    assert desk.templates == settings.replies.templates and desk.sla == settings.web.sla
    assert assign_desk(settings, None, ["someone@example.org"]) == DEFAULT_DESK
    assert desk_setting_problems(settings) == []


def test_a_desk_folder_gives_its_taxonomy_rules_templates_sla_corpus_and_own_model() -> None:
    settings = _two_desks()
    desk = all_desks(settings)["renewals"]
    assert desk.triage.taxonomy == RENEWALS / "taxonomy.toml" and desk.triage.routing == RENEWALS / "routing.toml"
    assert desk.templates == RENEWALS / "templates" and desk.sla == RENEWALS / "sla.toml"
    assert desk.triage.corpus == Path("data/corpus/renewals")
    # its model in a folder of its own: the folder is its registry, with its own live pointer
    assert desk.triage.model_path == settings.triage.model_path.parent / "renewals" / settings.triage.model_path.name
    assert desk.addresses == ("renewals@example.com",)


def test_a_desk_whose_model_sits_in_another_desks_registry_folder_is_a_problem() -> None:
    beside = Path("var/models/triage-model-renewals.skops")  # next to the default desk's model: its live pointer
    settings = Settings(desks={"renewals": DeskSettings(folder=RENEWALS, model_path=beside)})
    problems = dict(desk_setting_problems(settings))
    assert "registry folder of desk 'registry'" in problems["desks.renewals.model_path"]
    own = Settings(desks={"renewals": DeskSettings(folder=RENEWALS, model_path=Path("var/models/rn/model.skops"))})
    assert desk_setting_problems(own) == []
    shared = Settings(desks={"same": DeskSettings(name="Same model")})  # no folder: the default desk's own model
    assert desk_setting_problems(shared) == []


def test_mail_belongs_to_its_mailboxs_desk_else_its_receiving_address_else_the_default() -> None:
    settings = _two_desks(desk=_mailbox("help@registry.example.org", "registry"),
                          renewals=_mailbox("renewals@example.com", "renewals"),
                          shared=_mailbox("shared@example.com", "registry"))
    assert assign_desk(settings, "renewals", []) == "renewals"
    assert assign_desk(settings, "desk", ["Renewals <renewals@example.com>"]) == "registry"  # the mailbox decides
    assert assign_desk(settings, None, ["Meridian <RENEWALS@example.com>"]) == "renewals"
    assert assign_desk(settings, None, ["someone@example.org"]) == DEFAULT_DESK


def test_desk_problems_name_their_key() -> None:
    settings = Settings(
        desks={"renewals": DeskSettings(folder=RENEWALS, addresses=("renewals@example.com",)),
               "other": DeskSettings(folder=Path("config/desks/nowhere"), addresses=("RENEWALS@example.com",))},
        mailboxes={"loose": _mailbox("loose@example.com"), "typo": _mailbox("typo@example.com", "renewal")},
    )
    problems = dict(desk_setting_problems(settings))
    assert "claimed by desks 'renewals' and 'other'" in problems["desks.other.addresses"]
    assert "does not exist" in problems["desks.other.folder"]
    assert "belongs to no desk" in problems["mailboxes.loose.desk"]
    assert "unknown desk 'renewal'" in problems["mailboxes.typo.desk"]


def test_a_mailbox_needs_no_desk_key_when_a_desk_claims_its_address() -> None:
    settings = _two_desks(renewals=_mailbox("renewals@example.com"), desk=_mailbox("help@x.org", "registry"))
    assert desk_setting_problems(settings) == []
    assert assign_desk(settings, "renewals", []) == "renewals"


def test_the_renewal_desk_reads_client_and_instruction_numbers_from_its_taxonomy() -> None:
    taxonomy = load_triage_config(all_desks(_two_desks())["renewals"].triage).taxonomy
    assert taxonomy.front_desk == "account_team" and "account_manager" in taxonomy.queues
    text = "Client no. C-10452, instruction RI-2025-4471: please pay EP 1 234 567."
    found = {(e.kind, e.value) for e in extract_entities(text, extra=taxonomy.extra_entities)}
    assert {("client", "C-10452"), ("instruction", "RI-2025-4471"), ("patent", "EP1234567")} <= found
    assert not [e for e in extract_entities(text) if e.kind in ("client", "instruction")]  # the registry has none


@pytest.mark.parametrize(("text", "conflict"), [
    ("Please pay the annuity for EP 1 234 567. Then again, do not pay EP 1 234 567; let it lapse.", "EP1234567"),
    ("Bitte zahlen Sie die Jahresgebühr für EP 1 234 567. Bitte EP 1 234 567 doch nicht zahlen.", "EP1234567"),
    ("Please pay the annuity for EP 1 234 567. Do NOT pay the annuity for EP 2 345 678.", None),
    ("Do NOT pay the annuity for EP 1 234 567, let it lapse.", None),
])
def test_a_patent_both_to_pay_and_to_let_lapse_is_a_conflict(text: str, conflict: str | None) -> None:
    taxonomy = load_triage_config(all_desks(_two_desks())["renewals"].triage).taxonomy
    assert conflicting_instruction(text, taxonomy.working_languages, taxonomy.words) == conflict
    registry = load_triage_config(Settings().triage).taxonomy
    assert conflicting_instruction(text, registry.working_languages, registry.words) is None  # no word lists


def test_a_person_asked_for_at_the_renewal_desk_goes_to_its_own_front_desk() -> None:
    from classifiers.registry import load_or_train
    from classifiers.triage import triage_message
    from pipeline.mail.parse import parse_message

    desk = all_desks(_two_desks())["renewals"]
    config = load_triage_config(desk.triage)
    model = load_or_train(desk.triage, config)
    raw = (b"From: a@example.com\r\nTo: renewals@example.com\r\nSubject: Invoice INV-2025-0412\r\n\r\n"
           b"Hello, I would like to speak to a person about our invoice for EP 1 234 567, please call me.\r\n")
    decision = triage_message(parse_message(raw), model, config)
    assert decision.queue in config.taxonomy.queues
    assert "customer_service" not in config.taxonomy.queues
    assert (decision.standard, decision.hold_reason, decision.queue) == (False, "asked_for_person", "account_team")
