"""Desks: the services one install answers for, each with its own taxonomy, rules, model, templates and identity.

An install with no ``[desks]`` has one desk, ``registry`` (the default), made of
the ``[triage]``, ``[replies]`` and ``[web]`` paths. Each ``[desks.<id>]`` adds
a desk (or, named ``registry``, changes the default one). Mail belongs to the
desk of its mailbox, else of the address it was sent to, else the default desk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import DeskSettings, Settings, TriageSettings

DEFAULT_DESK = "registry"

Problem = tuple[str, str]


@dataclass(frozen=True)
class Desk:
    """What one desk works with, every path resolved from its folder or the install's defaults."""

    id: str
    name: str
    triage: TriageSettings
    templates: Path
    sla: Path
    languages: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    display_name: str | None = None

    @property
    def label(self) -> str:
        """How staff read the desk's name: its configured ``name``, else its id."""
        return self.name or self.id


def _desk(desk_id: str, desk: DeskSettings | None, settings: Settings) -> Desk:
    base = settings.triage
    if desk is None:
        return Desk(DEFAULT_DESK, "", base, settings.replies.templates, settings.web.sla)
    folder = desk.folder

    def pick(own: Path | None, in_folder: str, fallback: Path) -> Path:
        if own is not None:
            return own
        return folder / in_folder if folder is not None else fallback

    # A folder of its own: the folder is the desk's model registry (versions and the live pointer).
    model = desk.model_path or (base.model_path.parent / desk_id / base.model_path.name
                                if folder is not None else base.model_path)
    triage = TriageSettings(
        taxonomy=pick(desk.taxonomy, "taxonomy.toml", base.taxonomy),
        routing=pick(desk.routing, "routing.toml", base.routing),
        model_path=model,
        corpus=desk.corpus or (base.corpus / desk_id if folder is not None else base.corpus),
        auto_train=base.auto_train,
    )
    return Desk(
        id=desk_id,
        name=desk.name,
        triage=triage,
        templates=pick(desk.templates, "templates", settings.replies.templates),
        sla=pick(desk.sla, "sla.toml", settings.web.sla),
        languages=desk.languages,
        addresses=tuple(a.lower() for a in desk.addresses),
        display_name=desk.display_name,
    )


def all_desks(settings: Settings) -> dict[str, Desk]:
    """Every desk of the install, the default one first."""
    desks = {DEFAULT_DESK: _desk(DEFAULT_DESK, settings.desks.get(DEFAULT_DESK), settings)}
    for desk_id, desk in settings.desks.items():
        desks[desk_id] = _desk(desk_id, desk, settings)
    return desks


def default_desk(settings: Settings) -> str:
    """The id of the desk that takes mail belonging to no other: the one marked ``default``, else ``registry``."""
    marked = [desk_id for desk_id, desk in settings.desks.items() if desk.default]
    return marked[0] if marked else DEFAULT_DESK


def desk_of(settings: Settings, desk_id: str | None) -> Desk:
    """The desk with this id; an unknown or missing id gives the default desk."""
    desks = all_desks(settings)
    return desks.get(desk_id or "", desks.get(default_desk(settings), desks[DEFAULT_DESK]))


def assign_desk(settings: Settings, mailbox: str | None, recipients: Iterable[str] = ()) -> str:
    """The desk a message belongs to: its mailbox's, else the desk of an address it was sent to, else the default."""
    box = settings.mailboxes.get(mailbox or "")
    if box is not None and box.desk:
        return box.desk
    by_address = address_desks(settings)
    for recipient in recipients:
        desk_id = by_address.get(_address_only(recipient))
        if desk_id is not None:
            return desk_id
    if box is not None:
        owner = by_address.get(box.user.lower())
        if owner is not None:
            return owner
    return default_desk(settings)


def address_desks(settings: Settings) -> Mapping[str, str]:
    """Each receiving address listed by a desk, lower-cased, with its desk (the first desk listing it)."""
    owners: dict[str, str] = {}
    for desk_id, desk in settings.desks.items():
        for address in desk.addresses:
            owners.setdefault(address.lower(), desk_id)
    return owners


def _address_only(recipient: str) -> str:
    text = recipient.strip()
    if "<" in text and text.endswith(">"):
        text = text[text.rindex("<") + 1 : -1]
    return text.strip().lower()


def desk_setting_problems(settings: Settings) -> list[Problem]:
    """Desk settings that cannot work: unknown or missing desks of mailboxes, one address claimed twice, two defaults."""
    problems: list[Problem] = []
    known = set(all_desks(settings))
    several = len(known) > 1
    claimed: dict[str, str] = {}
    for desk_id, desk in settings.desks.items():
        for address in desk.addresses:
            owner = claimed.setdefault(address.lower(), desk_id)
            if owner != desk_id:
                problems.append((f"desks.{desk_id}.addresses",
                                 f"{address!r} is claimed by desks {owner!r} and {desk_id!r}: mail to it must "
                                 "belong to one desk"))
        if desk.folder is not None and not _folder_exists(desk.folder):
            problems.append((f"desks.{desk_id}.folder", f"desk folder {desk.folder} does not exist"))
    registries: dict[Path, str] = {}
    for desk_id, configured in all_desks(settings).items():
        path = configured.triage.model_path
        owner = registries.setdefault(path.parent, desk_id)
        if owner != desk_id and path != desk_of(settings, owner).triage.model_path:
            problems.append((f"desks.{desk_id}.model_path",
                             f"{path} is in the model registry folder of desk {owner!r} ({path.parent}): the "
                             "folder's live model would serve both desks; give the desk a folder of its own"))
    defaults = [desk_id for desk_id, desk in settings.desks.items() if desk.default]
    if len(defaults) > 1:
        problems.append(("desks", f"several desks are marked default ({', '.join(defaults)}): mark one"))
    for name, box in settings.mailboxes.items():
        key = f"mailboxes.{name}.desk"
        if box.desk is not None and box.desk not in known:
            problems.append((key, f"unknown desk {box.desk!r}; known: {', '.join(sorted(known))}"))
        elif box.desk is None and several:
            if claimed.get(box.user.lower()) is None:
                problems.append((key, f"mailbox {name!r} belongs to no desk while the install has several "
                                 f"({', '.join(sorted(known))}): set desk = \"<id>\""))
        elif box.desk is not None and claimed.get(box.user.lower(), box.desk) != box.desk:
            problems.append((key, f"mailbox {name!r} is in desk {box.desk!r} but its address {box.user!r} is "
                             f"claimed by desk {claimed[box.user.lower()]!r}"))
    return problems


def _folder_exists(folder: Path) -> bool:
    # as classifiers.config.resolve does: here, else in the source tree
    return folder.is_dir() or (not folder.is_absolute() and (Path(__file__).resolve().parent.parent / folder).is_dir())


def desk_assigner(settings: Settings, fixed: str | None = None) -> Callable[[str | None, list[str]], str]:
    """The ingest's desk of a new message: ``fixed`` when given, else as ``assign_desk`` says."""
    if fixed is not None:
        return lambda _mailbox, _recipients: fixed
    return lambda mailbox, recipients: assign_desk(settings, mailbox, recipients)
