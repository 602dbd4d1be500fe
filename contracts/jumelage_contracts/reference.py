"""Reference types shared by every service: UAI, académies, territory, levels, EAC domains, the
vocabularies of the programme (dispositifs, action kinds, audiences…), school years, and a small
fixture of invented schools.

Every vocabulary is a ``StrEnum`` (or ``IntEnum`` for the numbered EAC domains) so that it
serialises to its plain value in JSON, in the generated JSON Schemas and on the bus. Values are
ASCII slugs: they are keys exchanged between services, the French labels are for display only.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo
from enum import IntEnum, StrEnum
from functools import lru_cache
from importlib import resources
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field

# --------------------------------------------------------------------------------------------
# UAI
# --------------------------------------------------------------------------------------------

# I, O and Q are left out of the alphabet so the letter cannot be mistaken for 1, 0 or a digit.
UAI_CHECK_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ"
UAI_PATTERN = r"^[0-9]{7}[A-HJ-NP-Z]$"
_UAI_RE = re.compile(UAI_PATTERN)


def uai_check_letter(digits: str) -> str:
    """The check letter of the 7 leading digits of a UAI."""
    if len(digits) != 7 or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"a UAI starts with 7 digits, got {digits!r}")
    return UAI_CHECK_ALPHABET[int(digits) % 23]


def parse_uai(value: str) -> str:
    """The UAI in canonical form (trimmed, upper case); ``ValueError`` if malformed or if the
    check letter does not match the digits."""
    if not isinstance(value, str):
        raise ValueError("a UAI is a string")
    uai = value.strip().upper()
    if not _UAI_RE.match(uai):
        raise ValueError(f"{value!r} is not a UAI (7 digits then a check letter)")
    expected = uai_check_letter(uai[:7])
    if uai[7] != expected:
        raise ValueError(f"{value!r} has a wrong check letter (expected {uai[:7]}{expected})")
    return uai


def is_valid_uai(value: object) -> bool:
    try:
        parse_uai(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def _normalise_uai(value: object) -> object:
    # Upper-case before the pattern check so "0750655e" is accepted and stored as "0750655E".
    return value.strip().upper() if isinstance(value, str) else value


UAI = Annotated[
    str,
    BeforeValidator(_normalise_uai),
    Field(max_length=8, pattern=UAI_PATTERN, description="UAI of a school: 7 digits and a check letter"),
    AfterValidator(parse_uai),
]
"""A school's UAI, usable as a pydantic field type: normalised to upper case, check letter verified."""


def departement_of_uai(uai: str) -> str:
    """The département code a UAI belongs to: ``0750655E`` → ``75``, ``6200001…`` → ``2A``,
    ``9740001…`` → ``974``."""
    prefix = parse_uai(uai)[:3]
    if prefix == "620":
        return "2A"
    if prefix == "720":
        return "2B"
    if prefix.startswith("97"):
        return prefix
    return prefix[1:] if prefix.startswith("0") else prefix


# --------------------------------------------------------------------------------------------
# Académies
# --------------------------------------------------------------------------------------------


class Academie(StrEnum):
    """The 30 académies, by slug. ``label`` is the French name, ``departements`` their codes."""

    aix_marseille = "aix-marseille"
    amiens = "amiens"
    besancon = "besancon"
    bordeaux = "bordeaux"
    clermont_ferrand = "clermont-ferrand"
    corse = "corse"
    creteil = "creteil"
    dijon = "dijon"
    grenoble = "grenoble"
    guadeloupe = "guadeloupe"
    guyane = "guyane"
    la_reunion = "la-reunion"
    lille = "lille"
    limoges = "limoges"
    lyon = "lyon"
    martinique = "martinique"
    mayotte = "mayotte"
    montpellier = "montpellier"
    nancy_metz = "nancy-metz"
    nantes = "nantes"
    nice = "nice"
    normandie = "normandie"
    orleans_tours = "orleans-tours"
    paris = "paris"
    poitiers = "poitiers"
    reims = "reims"
    rennes = "rennes"
    strasbourg = "strasbourg"
    toulouse = "toulouse"
    versailles = "versailles"

    @property
    def label(self) -> str:
        return _ACADEMIES[self][0]

    @property
    def departements(self) -> tuple[str, ...]:
        return _ACADEMIES[self][1]

    @property
    def time_zone(self) -> str:
        """The IANA zone in which the académie's calendar days are counted (a rule "on 1 September"
        means 1 September there, not in UTC)."""
        return _OVERSEAS_TIME_ZONES.get(self, "Europe/Paris")

    def day_of(self, moment: datetime) -> date:
        """The calendar day ``moment`` (an aware instant) falls on in the académie."""
        return moment.astimezone(ZoneInfo(self.time_zone)).date()


_ACADEMIES: dict[Academie, tuple[str, tuple[str, ...]]] = {
    Academie.aix_marseille: ("Aix-Marseille", ("04", "05", "13", "84")),
    Academie.amiens: ("Amiens", ("02", "60", "80")),
    Academie.besancon: ("Besançon", ("25", "39", "70", "90")),
    Academie.bordeaux: ("Bordeaux", ("24", "33", "40", "47", "64")),
    Academie.clermont_ferrand: ("Clermont-Ferrand", ("03", "15", "43", "63")),
    Academie.corse: ("Corse", ("2A", "2B")),
    Academie.creteil: ("Créteil", ("77", "93", "94")),
    Academie.dijon: ("Dijon", ("21", "58", "71", "89")),
    Academie.grenoble: ("Grenoble", ("07", "26", "38", "73", "74")),
    Academie.guadeloupe: ("Guadeloupe", ("971", "977", "978")),
    Academie.guyane: ("Guyane", ("973",)),
    Academie.la_reunion: ("La Réunion", ("974",)),
    Academie.lille: ("Lille", ("59", "62")),
    Academie.limoges: ("Limoges", ("19", "23", "87")),
    Academie.lyon: ("Lyon", ("01", "42", "69")),
    Academie.martinique: ("Martinique", ("972",)),
    Academie.mayotte: ("Mayotte", ("976",)),
    Academie.montpellier: ("Montpellier", ("11", "30", "34", "48", "66")),
    Academie.nancy_metz: ("Nancy-Metz", ("54", "55", "57", "88")),
    Academie.nantes: ("Nantes", ("44", "49", "53", "72", "85")),
    Academie.nice: ("Nice", ("06", "83")),
    Academie.normandie: ("Normandie", ("14", "27", "50", "61", "76", "975")),
    Academie.orleans_tours: ("Orléans-Tours", ("18", "28", "36", "37", "41", "45")),
    Academie.paris: ("Paris", ("75",)),
    Academie.poitiers: ("Poitiers", ("16", "17", "79", "86")),
    Academie.reims: ("Reims", ("08", "10", "51", "52")),
    Academie.rennes: ("Rennes", ("22", "29", "35", "56")),
    Academie.strasbourg: ("Strasbourg", ("67", "68")),
    Academie.toulouse: ("Toulouse", ("09", "12", "31", "32", "46", "65", "81", "82")),
    Academie.versailles: ("Versailles", ("78", "91", "92", "95")),
}

_OVERSEAS_TIME_ZONES: dict[Academie, str] = {
    Academie.guadeloupe: "America/Guadeloupe",
    Academie.guyane: "America/Cayenne",
    Academie.la_reunion: "Indian/Reunion",
    Academie.martinique: "America/Martinique",
    Academie.mayotte: "Indian/Mayotte",
}

_ACADEMIE_OF_DEPARTEMENT: dict[str, Academie] = {
    dep: academie for academie, (_, deps) in _ACADEMIES.items() for dep in deps
}


def normalise_departement(dep: str) -> str:
    """A département code in the form used above: ``"075"``/``"75"`` → ``"75"``, ``"1"`` → ``"01"``,
    ``"2a"`` → ``"2A"``, ``"971"`` stays."""
    code = str(dep).strip().upper()
    if code.isdigit():
        if len(code) == 3 and code.startswith("0"):
            code = code[1:]
        elif len(code) == 1:
            code = "0" + code
    return code


def academie_of_departement(dep: str) -> Academie:
    """The académie a département belongs to; ``ValueError`` for an unknown code."""
    code = normalise_departement(dep)
    try:
        return _ACADEMIE_OF_DEPARTEMENT[code]
    except KeyError:
        raise ValueError(f"unknown département {dep!r}") from None


def academie_of_uai(uai: str) -> Academie:
    """The académie of a school, from the département encoded in its UAI."""
    return academie_of_departement(departement_of_uai(uai))


# --------------------------------------------------------------------------------------------
# Territory
# --------------------------------------------------------------------------------------------


class EducationPrioritaire(StrEnum):
    """Membership of the éducation prioritaire network (the annuaire's values, plus ``none``)."""

    rep = "REP"
    rep_plus = "REP+"
    none = "none"


class Ruralite(StrEnum):
    """The INSEE communal density grid, 7 levels from the densest to the most scattered."""

    grands_centres_urbains = "grands_centres_urbains"
    ceintures_urbaines = "ceintures_urbaines"
    centres_urbains_intermediaires = "centres_urbains_intermediaires"
    petites_villes = "petites_villes"
    bourgs_ruraux = "bourgs_ruraux"
    rural_habitat_disperse = "rural_habitat_disperse"
    rural_habitat_tres_disperse = "rural_habitat_tres_disperse"

    @property
    def rank(self) -> int:
        """1 (densest) to 7 (most scattered)."""
        return list(Ruralite).index(self) + 1

    @property
    def is_rural(self) -> bool:
        # INSEE counts the last three levels of the grid as rural.
        return self.rank >= 5

    @property
    def label(self) -> str:
        return _RURALITE_LABELS[self]


_RURALITE_LABELS = {
    Ruralite.grands_centres_urbains: "Grands centres urbains",
    Ruralite.ceintures_urbaines: "Ceintures urbaines",
    Ruralite.centres_urbains_intermediaires: "Centres urbains intermédiaires",
    Ruralite.petites_villes: "Petites villes",
    Ruralite.bourgs_ruraux: "Bourgs ruraux",
    Ruralite.rural_habitat_disperse: "Rural à habitat dispersé",
    Ruralite.rural_habitat_tres_disperse: "Rural à habitat très dispersé",
}


# --------------------------------------------------------------------------------------------
# School levels
# --------------------------------------------------------------------------------------------


class Stage(StrEnum):
    """The stage of schooling a level belongs to."""

    maternelle = "maternelle"
    elementaire = "elementaire"
    college = "college"
    lycee = "lycee"
    pro = "pro"
    postbac = "postbac"


class Level(StrEnum):
    """A class level, youngest first (declaration order is the school order)."""

    PS = "PS"
    MS = "MS"
    GS = "GS"
    CP = "CP"
    CE1 = "CE1"
    CE2 = "CE2"
    CM1 = "CM1"
    CM2 = "CM2"
    SIXIEME = "6e"
    CINQUIEME = "5e"
    QUATRIEME = "4e"
    TROISIEME = "3e"
    SECONDE = "2de"
    PREMIERE = "1re"
    TERMINALE = "Tle"
    CAP1 = "CAP1"
    CAP2 = "CAP2"
    BACPRO = "BACPRO"
    BTS = "BTS"

    @property
    def stage(self) -> Stage:
        return _STAGE_OF_LEVEL[self]

    @property
    def rank(self) -> int:
        """Position in the school order (PS = 0). CAP and bac pro sit after Tle only by
        declaration; they run alongside the lycée général years."""
        return list(Level).index(self)

    @property
    def in_jes(self) -> bool:
        """Whether the entreprise dispositif (jumelage d'échanges solidaires) covers the level:
        5e to BTS."""
        return self.rank >= Level.CINQUIEME.rank


_STAGE_OF_LEVEL: dict[Level, Stage] = {
    **{lv: Stage.maternelle for lv in (Level.PS, Level.MS, Level.GS)},
    **{lv: Stage.elementaire for lv in (Level.CP, Level.CE1, Level.CE2, Level.CM1, Level.CM2)},
    **{lv: Stage.college for lv in (Level.SIXIEME, Level.CINQUIEME, Level.QUATRIEME, Level.TROISIEME)},
    **{lv: Stage.lycee for lv in (Level.SECONDE, Level.PREMIERE, Level.TERMINALE)},
    **{lv: Stage.pro for lv in (Level.CAP1, Level.CAP2, Level.BACPRO)},
    Level.BTS: Stage.postbac,
}


def stage_of(level: Level | str) -> Stage:
    return Level(level).stage


def levels_of(stage: Stage | str) -> tuple[Level, ...]:
    wanted = Stage(stage)
    return tuple(lv for lv in Level if lv.stage is wanted)


# --------------------------------------------------------------------------------------------
# EAC domains
# --------------------------------------------------------------------------------------------


class EacDomain(IntEnum):
    """The 17 domains of artistic and cultural education, numbered as in ADAGE."""

    ARCHITECTURE = 1
    CIRQUE_ARTS_DE_LA_RUE = 2
    GASTRONOMIE_ARTS_DU_GOUT = 3
    ARTS_NUMERIQUES = 4
    ARTS_VISUELS = 5
    CINEMA_AUDIOVISUEL = 6
    CULTURE_SCIENTIFIQUE = 7
    DANSE = 8
    DESIGN = 9
    DEVELOPPEMENT_DURABLE = 10
    LIVRE_LECTURE_ECRITURES = 11
    MUSIQUE = 12
    PATRIMOINE_MEMOIRE_ARCHEOLOGIE = 13
    PHOTOGRAPHIE = 14
    THEATRE_MARIONNETTES = 15
    BANDE_DESSINEE = 16
    MEDIA_INFORMATION = 17

    @property
    def label(self) -> str:
        return _EAC_LABELS[self]


_EAC_LABELS = {
    EacDomain.ARCHITECTURE: "Architecture",
    EacDomain.CIRQUE_ARTS_DE_LA_RUE: "Arts du cirque et arts de la rue",
    EacDomain.GASTRONOMIE_ARTS_DU_GOUT: "Gastronomie et arts du goût",
    EacDomain.ARTS_NUMERIQUES: "Arts numériques",
    EacDomain.ARTS_VISUELS: "Arts visuels, arts plastiques, arts appliqués",
    EacDomain.CINEMA_AUDIOVISUEL: "Cinéma, audiovisuel",
    EacDomain.CULTURE_SCIENTIFIQUE: "Culture scientifique, technique et industrielle",
    EacDomain.DANSE: "Danse",
    EacDomain.DESIGN: "Design",
    EacDomain.DEVELOPPEMENT_DURABLE: "Développement durable",
    EacDomain.LIVRE_LECTURE_ECRITURES: "Univers du livre, de la lecture et des écritures",
    EacDomain.MUSIQUE: "Musique",
    EacDomain.PATRIMOINE_MEMOIRE_ARCHEOLOGIE: "Patrimoine, mémoire, archéologie",
    EacDomain.PHOTOGRAPHIE: "Photographie",
    EacDomain.THEATRE_MARIONNETTES: "Théâtre, expression dramatique, marionnettes",
    EacDomain.BANDE_DESSINEE: "Bande dessinée",
    EacDomain.MEDIA_INFORMATION: "Média et information",
}


# --------------------------------------------------------------------------------------------
# Programme vocabularies
# --------------------------------------------------------------------------------------------


class Dispositif(StrEnum):
    """The programme a campaign, offer or partnership belongs to."""

    culture = "culture"
    entreprise = "entreprise"
    mercredi = "mercredi"
    centre_social = "centre_social"
    concertation = "concertation"


# How many school years a partnership may run, per dispositif (absent: no limit). Seed 000: a
# culture partnership runs three years, the third being the jumelage itself.
MAX_PARTNERSHIP_YEARS: dict[Dispositif, int] = {Dispositif.culture: 3}


def is_last_allowed_year(dispositif: Dispositif | str, year_index: int) -> bool:
    """True when year ``year_index`` of a partnership of ``dispositif`` cannot be renewed."""
    limit = MAX_PARTNERSHIP_YEARS.get(Dispositif(dispositif))
    return limit is not None and year_index >= limit


class CultureTier(StrEnum):
    """The two levels of the culture dispositif: a first year to deepen, then the jumelage."""

    approfondir = "approfondir"
    jumelage = "jumelage"


class ActionKind(StrEnum):
    """What an action of a programme is."""

    visit = "visit"
    workshop = "workshop"
    meeting_professional = "meeting_professional"
    professional_in_class = "professional_in_class"
    observation_internship = "observation_internship"
    company_visit = "company_visit"
    careers_forum = "careers_forum"
    autonomous_activity = "autonomous_activity"
    performance = "performance"
    event = "event"
    rencontre = "rencontre"
    other = "other"


class ResourceKind(StrEnum):
    """What a partner offers in its catalogue (a resource an offer is made of)."""

    visit = "visit"
    meeting_professional = "meeting_professional"
    workshop = "workshop"
    autonomous_activity = "autonomous_activity"
    observation_internship = "observation_internship"
    company_visit = "company_visit"
    professional_in_class = "professional_in_class"
    careers_forum = "careers_forum"
    other = "other"


class Audience(StrEnum):
    pupils = "pupils"
    staff = "staff"
    families = "families"


class TimeSlot(StrEnum):
    """Whether an action happens in school time or outside it (périscolaire)."""

    scolaire = "scolaire"
    periscolaire = "periscolaire"


class PartnerKind(StrEnum):
    cultural_structure = "cultural_structure"
    company = "company"
    association = "association"
    social_centre = "social_centre"
    acm = "acm"  # accueil collectif de mineurs
    collectivity = "collectivity"
    other = "other"


class Avis(StrEnum):
    """A reviewer's opinion on a candidature."""

    favourable = "favourable"
    reserve = "reserve"
    defavorable = "defavorable"


# --------------------------------------------------------------------------------------------
# School years
# --------------------------------------------------------------------------------------------

SCHOOL_YEAR_PATTERN = r"^[0-9]{4}-[0-9]{4}$"
# Default bounds of a school year: the rentrée and the start of the summer holidays.
SCHOOL_YEAR_START = (9, 1)
SCHOOL_YEAR_END = (7, 7)


def parse_school_year(value: str) -> str:
    """``"2025-2026"``; ``ValueError`` unless the two years are consecutive."""
    if not isinstance(value, str) or not re.match(SCHOOL_YEAR_PATTERN, value.strip()):
        raise ValueError(f"{value!r} is not a school year like 2025-2026")
    start, end = (int(part) for part in value.strip().split("-"))
    if end != start + 1:
        raise ValueError(f"{value!r}: a school year spans two consecutive years")
    return f"{start}-{end}"


SchoolYear = Annotated[
    str,
    Field(max_length=9, pattern=SCHOOL_YEAR_PATTERN, description="School year, e.g. 2025-2026", examples=["2025-2026"]),
    AfterValidator(parse_school_year),
]
"""A school year as a pydantic field type: ``"2025-2026"``, years consecutive."""


def school_year(start_year: int) -> str:
    return f"{start_year}-{start_year + 1}"


def school_year_start_year(year: str) -> int:
    return int(parse_school_year(year)[:4])


def school_year_start(year: str, month: int = SCHOOL_YEAR_START[0], day: int = SCHOOL_YEAR_START[1]) -> date:
    """First day of the school year (1 September unless told otherwise)."""
    return date(school_year_start_year(year), month, day)


def school_year_end(year: str, month: int = SCHOOL_YEAR_END[0], day: int = SCHOOL_YEAR_END[1]) -> date:
    """Last day of the school year (7 July unless told otherwise)."""
    return date(school_year_start_year(year) + 1, month, day)


def school_year_of(day: date) -> str:
    """The school year a date belongs to. The summer (from 8 July) already counts as the coming
    year: that is when attributions for the rentrée are made."""
    if (day.month, day.day) > SCHOOL_YEAR_END:
        return school_year(day.year)
    return school_year(day.year - 1)


def next_school_year(year: str) -> str:
    return school_year(school_year_start_year(year) + 1)


def previous_school_year(year: str) -> str:
    return school_year(school_year_start_year(year) - 1)


# --------------------------------------------------------------------------------------------
# School fixture (invented schools with valid UAIs; shipped with the package, never downloaded)
# --------------------------------------------------------------------------------------------


class SchoolKind(StrEnum):
    ecole = "ecole"
    college = "college"
    lycee = "lycee"
    lycee_pro = "lycee_pro"


@dataclass(frozen=True)
class School:
    uai: str
    name: str
    kind: SchoolKind
    commune: str
    departement: str
    academie: Academie
    education_prioritaire: EducationPrioritaire
    ruralite: Ruralite


@lru_cache(maxsize=1)
def schools() -> tuple[School, ...]:
    """The fixture schools (``data/schools.csv``), in file order."""
    text = resources.files("jumelage_contracts").joinpath("data/schools.csv").read_text("utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple(
        School(
            uai=parse_uai(row["uai"]),
            name=row["name"],
            kind=SchoolKind(row["kind"]),
            commune=row["commune"],
            departement=departement_of_uai(row["uai"]),
            academie=academie_of_uai(row["uai"]),
            education_prioritaire=EducationPrioritaire(row["education_prioritaire"]),
            ruralite=Ruralite(row["ruralite"]),
        )
        for row in rows
    )


@lru_cache(maxsize=1)
def _schools_by_uai() -> dict[str, School]:
    return {s.uai: s for s in schools()}


def school(uai: str) -> School:
    """A fixture school by UAI; ``KeyError`` when the fixture has no such school."""
    try:
        return _schools_by_uai()[parse_uai(uai)]
    except (KeyError, ValueError):
        raise KeyError(f"no fixture school with UAI {uai!r}") from None


def schools_in(academie: Academie | str) -> tuple[School, ...]:
    wanted = Academie(academie)
    return tuple(s for s in schools() if s.academie is wanted)


# Calendar dates and times are the académie's local ones (overseas académies live in their own zone).
_OVERSEAS_TZ = {"guadeloupe": "America/Guadeloupe", "martinique": "America/Martinique", "guyane": "America/Cayenne",
                "la-reunion": "Indian/Reunion", "mayotte": "Indian/Mayotte"}


def timezone_of(academie: str) -> ZoneInfo:
    """The time zone an académie's dates and times are read in (Europe/Paris but overseas)."""
    return ZoneInfo(_OVERSEAS_TZ.get(str(getattr(academie, "value", academie)), "Europe/Paris"))
