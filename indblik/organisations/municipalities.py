"""The 98 Danish municipalities (kommuner) and their official four-digit codes.

The codes are Danmarks Statistik's / CPR's municipality codes (kommunekoder) as used since
the 2007 reform; the names are the official ones (``Københavns Kommune``,
``Bornholms Regionskommune``). A municipality organisation must carry one of these codes:
the access policy uses it to match a citizen's address to the municipality that cares for
them, so a typo would quietly grant or deny access to a whole municipality's citizens.
"""

from __future__ import annotations

from dataclasses import dataclass

HOVEDSTADEN = "Region Hovedstaden"
SJAELLAND = "Region Sjælland"
SYDDANMARK = "Region Syddanmark"
MIDTJYLLAND = "Region Midtjylland"
NORDJYLLAND = "Region Nordjylland"


@dataclass(frozen=True, slots=True)
class Municipality:
    """A Danish municipality: its code, short name, official name and region."""

    code: str
    name: str
    official_name: str
    region: str


# (code, short name, official name, region): the order of Danmarks Statistik's list.
_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("0101", "København", "Københavns Kommune", HOVEDSTADEN),
    ("0147", "Frederiksberg", "Frederiksberg Kommune", HOVEDSTADEN),
    ("0151", "Ballerup", "Ballerup Kommune", HOVEDSTADEN),
    ("0153", "Brøndby", "Brøndby Kommune", HOVEDSTADEN),
    ("0155", "Dragør", "Dragør Kommune", HOVEDSTADEN),
    ("0157", "Gentofte", "Gentofte Kommune", HOVEDSTADEN),
    ("0159", "Gladsaxe", "Gladsaxe Kommune", HOVEDSTADEN),
    ("0161", "Glostrup", "Glostrup Kommune", HOVEDSTADEN),
    ("0163", "Herlev", "Herlev Kommune", HOVEDSTADEN),
    ("0165", "Albertslund", "Albertslund Kommune", HOVEDSTADEN),
    ("0167", "Hvidovre", "Hvidovre Kommune", HOVEDSTADEN),
    ("0169", "Høje-Taastrup", "Høje-Taastrup Kommune", HOVEDSTADEN),
    ("0173", "Lyngby-Taarbæk", "Lyngby-Taarbæk Kommune", HOVEDSTADEN),
    ("0175", "Rødovre", "Rødovre Kommune", HOVEDSTADEN),
    ("0183", "Ishøj", "Ishøj Kommune", HOVEDSTADEN),
    ("0185", "Tårnby", "Tårnby Kommune", HOVEDSTADEN),
    ("0187", "Vallensbæk", "Vallensbæk Kommune", HOVEDSTADEN),
    ("0190", "Furesø", "Furesø Kommune", HOVEDSTADEN),
    ("0201", "Allerød", "Allerød Kommune", HOVEDSTADEN),
    ("0210", "Fredensborg", "Fredensborg Kommune", HOVEDSTADEN),
    ("0217", "Helsingør", "Helsingør Kommune", HOVEDSTADEN),
    ("0219", "Hillerød", "Hillerød Kommune", HOVEDSTADEN),
    ("0223", "Hørsholm", "Hørsholm Kommune", HOVEDSTADEN),
    ("0230", "Rudersdal", "Rudersdal Kommune", HOVEDSTADEN),
    ("0240", "Egedal", "Egedal Kommune", HOVEDSTADEN),
    ("0250", "Frederikssund", "Frederikssund Kommune", HOVEDSTADEN),
    ("0253", "Greve", "Greve Kommune", SJAELLAND),
    ("0259", "Køge", "Køge Kommune", SJAELLAND),
    ("0260", "Halsnæs", "Halsnæs Kommune", HOVEDSTADEN),
    ("0265", "Roskilde", "Roskilde Kommune", SJAELLAND),
    ("0269", "Solrød", "Solrød Kommune", SJAELLAND),
    ("0270", "Gribskov", "Gribskov Kommune", HOVEDSTADEN),
    ("0306", "Odsherred", "Odsherred Kommune", SJAELLAND),
    ("0316", "Holbæk", "Holbæk Kommune", SJAELLAND),
    ("0320", "Faxe", "Faxe Kommune", SJAELLAND),
    ("0326", "Kalundborg", "Kalundborg Kommune", SJAELLAND),
    ("0329", "Ringsted", "Ringsted Kommune", SJAELLAND),
    ("0330", "Slagelse", "Slagelse Kommune", SJAELLAND),
    ("0336", "Stevns", "Stevns Kommune", SJAELLAND),
    ("0340", "Sorø", "Sorø Kommune", SJAELLAND),
    ("0350", "Lejre", "Lejre Kommune", SJAELLAND),
    ("0360", "Lolland", "Lolland Kommune", SJAELLAND),
    ("0370", "Næstved", "Næstved Kommune", SJAELLAND),
    ("0376", "Guldborgsund", "Guldborgsund Kommune", SJAELLAND),
    ("0390", "Vordingborg", "Vordingborg Kommune", SJAELLAND),
    ("0400", "Bornholm", "Bornholms Regionskommune", HOVEDSTADEN),
    ("0410", "Middelfart", "Middelfart Kommune", SYDDANMARK),
    ("0420", "Assens", "Assens Kommune", SYDDANMARK),
    ("0430", "Faaborg-Midtfyn", "Faaborg-Midtfyn Kommune", SYDDANMARK),
    ("0440", "Kerteminde", "Kerteminde Kommune", SYDDANMARK),
    ("0450", "Nyborg", "Nyborg Kommune", SYDDANMARK),
    ("0461", "Odense", "Odense Kommune", SYDDANMARK),
    ("0479", "Svendborg", "Svendborg Kommune", SYDDANMARK),
    ("0480", "Nordfyns", "Nordfyns Kommune", SYDDANMARK),
    ("0482", "Langeland", "Langeland Kommune", SYDDANMARK),
    ("0492", "Ærø", "Ærø Kommune", SYDDANMARK),
    ("0510", "Haderslev", "Haderslev Kommune", SYDDANMARK),
    ("0530", "Billund", "Billund Kommune", SYDDANMARK),
    ("0540", "Sønderborg", "Sønderborg Kommune", SYDDANMARK),
    ("0550", "Tønder", "Tønder Kommune", SYDDANMARK),
    ("0561", "Esbjerg", "Esbjerg Kommune", SYDDANMARK),
    ("0563", "Fanø", "Fanø Kommune", SYDDANMARK),
    ("0573", "Varde", "Varde Kommune", SYDDANMARK),
    ("0575", "Vejen", "Vejen Kommune", SYDDANMARK),
    ("0580", "Aabenraa", "Aabenraa Kommune", SYDDANMARK),
    ("0607", "Fredericia", "Fredericia Kommune", SYDDANMARK),
    ("0615", "Horsens", "Horsens Kommune", MIDTJYLLAND),
    ("0621", "Kolding", "Kolding Kommune", SYDDANMARK),
    ("0630", "Vejle", "Vejle Kommune", SYDDANMARK),
    ("0657", "Herning", "Herning Kommune", MIDTJYLLAND),
    ("0661", "Holstebro", "Holstebro Kommune", MIDTJYLLAND),
    ("0665", "Lemvig", "Lemvig Kommune", MIDTJYLLAND),
    ("0671", "Struer", "Struer Kommune", MIDTJYLLAND),
    ("0706", "Syddjurs", "Syddjurs Kommune", MIDTJYLLAND),
    ("0707", "Norddjurs", "Norddjurs Kommune", MIDTJYLLAND),
    ("0710", "Favrskov", "Favrskov Kommune", MIDTJYLLAND),
    ("0727", "Odder", "Odder Kommune", MIDTJYLLAND),
    ("0730", "Randers", "Randers Kommune", MIDTJYLLAND),
    ("0740", "Silkeborg", "Silkeborg Kommune", MIDTJYLLAND),
    ("0741", "Samsø", "Samsø Kommune", MIDTJYLLAND),
    ("0746", "Skanderborg", "Skanderborg Kommune", MIDTJYLLAND),
    ("0751", "Aarhus", "Aarhus Kommune", MIDTJYLLAND),
    ("0756", "Ikast-Brande", "Ikast-Brande Kommune", MIDTJYLLAND),
    ("0760", "Ringkøbing-Skjern", "Ringkøbing-Skjern Kommune", MIDTJYLLAND),
    ("0766", "Hedensted", "Hedensted Kommune", MIDTJYLLAND),
    ("0773", "Morsø", "Morsø Kommune", NORDJYLLAND),
    ("0779", "Skive", "Skive Kommune", MIDTJYLLAND),
    ("0787", "Thisted", "Thisted Kommune", NORDJYLLAND),
    ("0791", "Viborg", "Viborg Kommune", MIDTJYLLAND),
    ("0810", "Brønderslev", "Brønderslev Kommune", NORDJYLLAND),
    ("0813", "Frederikshavn", "Frederikshavn Kommune", NORDJYLLAND),
    ("0820", "Vesthimmerlands", "Vesthimmerlands Kommune", NORDJYLLAND),
    ("0825", "Læsø", "Læsø Kommune", NORDJYLLAND),
    ("0840", "Rebild", "Rebild Kommune", NORDJYLLAND),
    ("0846", "Mariagerfjord", "Mariagerfjord Kommune", NORDJYLLAND),
    ("0849", "Jammerbugt", "Jammerbugt Kommune", NORDJYLLAND),
    ("0851", "Aalborg", "Aalborg Kommune", NORDJYLLAND),
    ("0860", "Hjørring", "Hjørring Kommune", NORDJYLLAND),
)

MUNICIPALITIES: tuple[Municipality, ...] = tuple(Municipality(*row) for row in _ROWS)
BY_CODE: dict[str, Municipality] = {m.code: m for m in MUNICIPALITIES}


def is_municipality_code(code: str) -> bool:
    """Tell whether ``code`` is one of the 98 four-digit municipality codes."""
    return code in BY_CODE


def choices() -> list[tuple[str, str]]:
    """Return ``(code, "0101 Københavns Kommune")`` pairs for a form's select list."""
    return [(m.code, f"{m.code} {m.official_name}") for m in MUNICIPALITIES]
