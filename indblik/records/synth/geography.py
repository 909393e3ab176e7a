"""Where synthetic citizens live: the 98 Danish municipalities, postcodes and streets.

Municipality codes and names are the real ones (CPR's kommunekoder). Each municipality has
one real postcode of its main town; Copenhagen and Frederiksberg have real streets with their
postcodes so that the demo municipalities look like home. Populations are rounded, in
thousands, and only weight where citizens live outside the two demo municipalities.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True)
class Municipality:
    """A Danish municipality (kommune)."""

    code: str  # four digits, e.g. "0101"
    name: str  # e.g. "København"
    official_name: str  # e.g. "Københavns Kommune"
    region: str
    postcode: str
    city: str
    population: float  # thousands, rounded

    @property
    def organisation_id(self) -> str:
        """Return the FHIR id of this municipality's shared Organization."""
        return f"kommune-{self.code}"


HOVEDSTADEN, SJAELLAND, SYDDANMARK, MIDTJYLLAND, NORDJYLLAND = (
    "Region Hovedstaden",
    "Region Sjælland",
    "Region Syddanmark",
    "Region Midtjylland",
    "Region Nordjylland",
)

# code, name, region, postcode, city, population (thousands)
_MUNICIPALITIES: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("0101", "København", HOVEDSTADEN, "1550", "København V", 660),
    ("0147", "Frederiksberg", HOVEDSTADEN, "2000", "Frederiksberg", 104),
    ("0151", "Ballerup", HOVEDSTADEN, "2750", "Ballerup", 49),
    ("0153", "Brøndby", HOVEDSTADEN, "2605", "Brøndby", 39),
    ("0155", "Dragør", HOVEDSTADEN, "2791", "Dragør", 14),
    ("0157", "Gentofte", HOVEDSTADEN, "2820", "Gentofte", 75),
    ("0159", "Gladsaxe", HOVEDSTADEN, "2860", "Søborg", 70),
    ("0161", "Glostrup", HOVEDSTADEN, "2600", "Glostrup", 24),
    ("0163", "Herlev", HOVEDSTADEN, "2730", "Herlev", 30),
    ("0165", "Albertslund", HOVEDSTADEN, "2620", "Albertslund", 28),
    ("0167", "Hvidovre", HOVEDSTADEN, "2650", "Hvidovre", 55),
    ("0169", "Høje-Taastrup", HOVEDSTADEN, "2630", "Taastrup", 57),
    ("0173", "Lyngby-Taarbæk", HOVEDSTADEN, "2800", "Kongens Lyngby", 57),
    ("0175", "Rødovre", HOVEDSTADEN, "2610", "Rødovre", 41),
    ("0183", "Ishøj", HOVEDSTADEN, "2635", "Ishøj", 23),
    ("0185", "Tårnby", HOVEDSTADEN, "2770", "Kastrup", 44),
    ("0187", "Vallensbæk", HOVEDSTADEN, "2625", "Vallensbæk", 17),
    ("0190", "Furesø", HOVEDSTADEN, "3520", "Farum", 41),
    ("0201", "Allerød", HOVEDSTADEN, "3450", "Allerød", 26),
    ("0210", "Fredensborg", HOVEDSTADEN, "3480", "Fredensborg", 41),
    ("0217", "Helsingør", HOVEDSTADEN, "3000", "Helsingør", 64),
    ("0219", "Hillerød", HOVEDSTADEN, "3400", "Hillerød", 53),
    ("0223", "Hørsholm", HOVEDSTADEN, "2970", "Hørsholm", 26),
    ("0230", "Rudersdal", HOVEDSTADEN, "2840", "Holte", 58),
    ("0240", "Egedal", HOVEDSTADEN, "3660", "Stenløse", 44),
    ("0250", "Frederikssund", HOVEDSTADEN, "3600", "Frederikssund", 46),
    ("0260", "Halsnæs", HOVEDSTADEN, "3300", "Frederiksværk", 31),
    ("0270", "Gribskov", HOVEDSTADEN, "3200", "Helsinge", 41),
    ("0400", "Bornholm", HOVEDSTADEN, "3700", "Rønne", 39),
    ("0253", "Greve", SJAELLAND, "2670", "Greve", 51),
    ("0259", "Køge", SJAELLAND, "4600", "Køge", 62),
    ("0265", "Roskilde", SJAELLAND, "4000", "Roskilde", 90),
    ("0269", "Solrød", SJAELLAND, "2680", "Solrød Strand", 24),
    ("0306", "Odsherred", SJAELLAND, "4500", "Nykøbing Sj", 33),
    ("0316", "Holbæk", SJAELLAND, "4300", "Holbæk", 73),
    ("0320", "Faxe", SJAELLAND, "4640", "Faxe", 37),
    ("0326", "Kalundborg", SJAELLAND, "4400", "Kalundborg", 49),
    ("0329", "Ringsted", SJAELLAND, "4100", "Ringsted", 36),
    ("0330", "Slagelse", SJAELLAND, "4200", "Slagelse", 80),
    ("0336", "Stevns", SJAELLAND, "4660", "Store Heddinge", 23),
    ("0340", "Sorø", SJAELLAND, "4180", "Sorø", 30),
    ("0350", "Lejre", SJAELLAND, "4320", "Lejre", 29),
    ("0360", "Lolland", SJAELLAND, "4900", "Nakskov", 40),
    ("0370", "Næstved", SJAELLAND, "4700", "Næstved", 84),
    ("0376", "Guldborgsund", SJAELLAND, "4800", "Nykøbing F", 60),
    ("0390", "Vordingborg", SJAELLAND, "4760", "Vordingborg", 46),
    ("0410", "Middelfart", SYDDANMARK, "5500", "Middelfart", 39),
    ("0420", "Assens", SYDDANMARK, "5610", "Assens", 41),
    ("0430", "Faaborg-Midtfyn", SYDDANMARK, "5600", "Faaborg", 51),
    ("0440", "Kerteminde", SYDDANMARK, "5300", "Kerteminde", 24),
    ("0450", "Nyborg", SYDDANMARK, "5800", "Nyborg", 32),
    ("0461", "Odense", SYDDANMARK, "5000", "Odense C", 210),
    ("0479", "Svendborg", SYDDANMARK, "5700", "Svendborg", 59),
    ("0480", "Nordfyns", SYDDANMARK, "5400", "Bogense", 29),
    ("0482", "Langeland", SYDDANMARK, "5900", "Rudkøbing", 12),
    ("0492", "Ærø", SYDDANMARK, "5970", "Ærøskøbing", 6),
    ("0510", "Haderslev", SYDDANMARK, "6100", "Haderslev", 55),
    ("0530", "Billund", SYDDANMARK, "7190", "Billund", 27),
    ("0540", "Sønderborg", SYDDANMARK, "6400", "Sønderborg", 73),
    ("0550", "Tønder", SYDDANMARK, "6270", "Tønder", 37),
    ("0561", "Esbjerg", SYDDANMARK, "6700", "Esbjerg", 116),
    ("0563", "Fanø", SYDDANMARK, "6720", "Fanø", 3.5),
    ("0573", "Varde", SYDDANMARK, "6800", "Varde", 50),
    ("0575", "Vejen", SYDDANMARK, "6600", "Vejen", 43),
    ("0580", "Aabenraa", SYDDANMARK, "6200", "Aabenraa", 58),
    ("0607", "Fredericia", SYDDANMARK, "7000", "Fredericia", 52),
    ("0621", "Kolding", SYDDANMARK, "6000", "Kolding", 95),
    ("0630", "Vejle", SYDDANMARK, "7100", "Vejle", 121),
    ("0615", "Horsens", MIDTJYLLAND, "8700", "Horsens", 98),
    ("0657", "Herning", MIDTJYLLAND, "7400", "Herning", 90),
    ("0661", "Holstebro", MIDTJYLLAND, "7500", "Holstebro", 59),
    ("0665", "Lemvig", MIDTJYLLAND, "7620", "Lemvig", 19),
    ("0671", "Struer", MIDTJYLLAND, "7600", "Struer", 21),
    ("0706", "Syddjurs", MIDTJYLLAND, "8400", "Ebeltoft", 44),
    ("0707", "Norddjurs", MIDTJYLLAND, "8500", "Grenaa", 37),
    ("0710", "Favrskov", MIDTJYLLAND, "8370", "Hadsten", 50),
    ("0727", "Odder", MIDTJYLLAND, "8300", "Odder", 24),
    ("0730", "Randers", MIDTJYLLAND, "8900", "Randers C", 99),
    ("0740", "Silkeborg", MIDTJYLLAND, "8600", "Silkeborg", 100),
    ("0741", "Samsø", MIDTJYLLAND, "8305", "Samsø", 3.7),
    ("0746", "Skanderborg", MIDTJYLLAND, "8660", "Skanderborg", 64),
    ("0751", "Aarhus", MIDTJYLLAND, "8000", "Aarhus C", 370),
    ("0756", "Ikast-Brande", MIDTJYLLAND, "7430", "Ikast", 42),
    ("0760", "Ringkøbing-Skjern", MIDTJYLLAND, "6950", "Ringkøbing", 56),
    ("0766", "Hedensted", MIDTJYLLAND, "8722", "Hedensted", 47),
    ("0779", "Skive", MIDTJYLLAND, "7800", "Skive", 46),
    ("0791", "Viborg", MIDTJYLLAND, "8800", "Viborg", 98),
    ("0773", "Morsø", NORDJYLLAND, "7900", "Nykøbing M", 20),
    ("0787", "Thisted", NORDJYLLAND, "7700", "Thisted", 43),
    ("0810", "Brønderslev", NORDJYLLAND, "9700", "Brønderslev", 36),
    ("0813", "Frederikshavn", NORDJYLLAND, "9900", "Frederikshavn", 58),
    ("0820", "Vesthimmerlands", NORDJYLLAND, "9600", "Aars", 36),
    ("0825", "Læsø", NORDJYLLAND, "9940", "Læsø", 1.8),
    ("0840", "Rebild", NORDJYLLAND, "9520", "Skørping", 30),
    ("0846", "Mariagerfjord", NORDJYLLAND, "9500", "Hobro", 42),
    ("0849", "Jammerbugt", NORDJYLLAND, "9440", "Aabybro", 38),
    ("0851", "Aalborg", NORDJYLLAND, "9000", "Aalborg", 222),
    ("0860", "Hjørring", NORDJYLLAND, "9800", "Hjørring", 64),
)


def _official_name(name: str) -> str:
    if name == "København":
        return "Københavns Kommune"
    if name == "Bornholm":
        return "Bornholms Regionskommune"
    return f"{name} Kommune"


MUNICIPALITIES: tuple[Municipality, ...] = tuple(
    Municipality(code, name, _official_name(name), region, postcode, city, population)
    for code, name, region, postcode, city, population in _MUNICIPALITIES
)
BY_CODE: dict[str, Municipality] = {m.code: m for m in MUNICIPALITIES}
COPENHAGEN = BY_CODE["0101"]
FREDERIKSBERG = BY_CODE["0147"]

# Share of citizens in the two demo municipalities; the rest is spread by population, with
# the hospital's own regions (Capital, Zealand) weighted up as its catchment.
COPENHAGEN_SHARE = 0.40
FREDERIKSBERG_SHARE = 0.15
_REGION_WEIGHT = {HOVEDSTADEN: 3.0, SJAELLAND: 2.0}
_OTHERS = tuple(m for m in MUNICIPALITIES if m not in (COPENHAGEN, FREDERIKSBERG))
_OTHER_WEIGHTS = tuple(
    accumulate(m.population * _REGION_WEIGHT.get(m.region, 1.0) for m in _OTHERS)
)


def pick_municipality(rng: random.Random) -> Municipality:
    """Draw a municipality of residence: ~40 % Copenhagen, ~15 % Frederiksberg, rest by size."""
    draw = rng.random()
    if draw < COPENHAGEN_SHARE:
        return COPENHAGEN
    if draw < COPENHAGEN_SHARE + FREDERIKSBERG_SHARE:
        return FREDERIKSBERG
    return rng.choices(_OTHERS, cum_weights=_OTHER_WEIGHTS)[0]


@dataclass(frozen=True)
class Street:
    """A real street with its postcode, and the hospital whose emergency department serves it."""

    name: str
    postcode: str
    city: str
    hospital: str  # key of a hospital in organisations.HOSPITALS
    flats: bool = True  # an apartment block street: the address gets floor and door


# Real streets of Copenhagen and Frederiksberg. Catchment as the capital region draws it:
# Amager, Valby, Vesterbro and Sydhavnen go to Hvidovre; the rest of the city to Bispebjerg.
CITY_STREETS: dict[str, tuple[Street, ...]] = {
    "0101": (
        Street("Nansensgade", "1366", "København K", "bfh"),
        Street("Gothersgade", "1123", "København K", "bfh"),
        Street("Borgergade", "1300", "København K", "bfh"),
        Street("Vesterbrogade", "1620", "København V", "hvh"),
        Street("Istedgade", "1650", "København V", "hvh"),
        Street("Enghavevej", "2450", "København SV", "hvh"),
        Street("Valdemarsgade", "1665", "København V", "hvh"),
        Street("Østerbrogade", "2100", "København Ø", "bfh"),
        Street("Nordre Frihavnsgade", "2100", "København Ø", "bfh"),
        Street("Strandboulevarden", "2100", "København Ø", "bfh"),
        Street("Nørrebrogade", "2200", "København N", "bfh"),
        Street("Jagtvej", "2200", "København N", "bfh"),
        Street("Griffenfeldsgade", "2200", "København N", "bfh"),
        Street("Tagensvej", "2200", "København N", "bfh"),
        Street("Frederikssundsvej", "2400", "København NV", "bfh"),
        Street("Tomsgårdsvej", "2400", "København NV", "bfh"),
        Street("Bispebjerg Parkallé", "2400", "København NV", "bfh"),
        Street("Amagerbrogade", "2300", "København S", "hvh"),
        Street("Holmbladsgade", "2300", "København S", "hvh"),
        Street("Englandsvej", "2300", "København S", "hvh"),
        Street("Øresundsvej", "2300", "København S", "hvh"),
        Street("Sundholmsvej", "2300", "København S", "hvh"),
        Street("Sydhavnsgade", "2450", "København SV", "hvh"),
        Street("Mozartsvej", "2450", "København SV", "hvh"),
        Street("Valby Langgade", "2500", "Valby", "hvh"),
        Street("Toftegårds Allé", "2500", "Valby", "hvh"),
        Street("Vigerslev Allé", "2500", "Valby", "hvh"),
        Street("Brønshøjvej", "2700", "Brønshøj", "bfh", flats=False),
        Street("Jernbane Allé", "2720", "Vanløse", "bfh"),
        Street("Ålekistevej", "2720", "Vanløse", "bfh", flats=False),
    ),
    "0147": (
        Street("Gammel Kongevej", "1850", "Frederiksberg C", "bfh"),
        Street("Rolighedsvej", "1958", "Frederiksberg C", "bfh"),
        Street("Falkoner Allé", "2000", "Frederiksberg", "bfh"),
        Street("Godthåbsvej", "2000", "Frederiksberg", "bfh"),
        Street("Nyelandsvej", "2000", "Frederiksberg", "bfh"),
        Street("Peter Bangs Vej", "2000", "Frederiksberg", "bfh"),
        Street("Howitzvej", "2000", "Frederiksberg", "bfh"),
        Street("Smallegade", "2000", "Frederiksberg", "bfh"),
        Street("Dalgas Boulevard", "2000", "Frederiksberg", "bfh"),
        Street("Finsensvej", "2000", "Frederiksberg", "bfh"),
    ),
}

# The most common Danish street names: they exist in nearly every town.
TOWN_STREETS = (
    "Skolevej", "Kirkevej", "Stationsvej", "Møllevej", "Søndergade", "Nørregade", "Vestergade",
    "Østergade", "Bakkevej", "Engvej", "Skovvej", "Birkevej", "Rosenvej", "Lindevej", "Parkvej",
    "Strandvej", "Ahornvej", "Bøgevej", "Egevej", "Granvej", "Tværvej", "Vænget", "Toften",
    "Kløvervænget", "Syrenvej", "Hybenvej",
)  # fmt: skip

# Emergency catchment of the hospitals for the capital region's other municipalities.
_SOUTH_WEST = {"0153", "0155", "0161", "0165", "0167", "0169", "0175", "0183", "0185", "0187"}


def hospital_for(municipality: Municipality, street: Street | None) -> str:
    """Return the key of the hospital whose emergency department serves this address."""
    if street is not None:
        return street.hospital
    if municipality.code in _SOUTH_WEST:
        return "hvh"
    if municipality.region == HOVEDSTADEN and municipality.code != "0400":
        return "hgh"
    return "rh"  # the national specialist hospital for everyone else


@dataclass(frozen=True)
class Address:
    """A drawn address of a citizen."""

    line: str
    postcode: str
    city: str
    municipality: Municipality
    hospital: str
    flat: bool


_FLOORS = ("st.", "1.", "1.", "2.", "2.", "3.", "3.", "4.", "5.")
_DOORS = ("th.", "tv.", "th.", "tv.", "mf.")


def pick_address(rng: random.Random, municipality: Municipality) -> Address:
    """Draw a street address in ``municipality`` (flats in the cities, houses in towns)."""
    streets = CITY_STREETS.get(municipality.code)
    if streets:
        street: Street | None = rng.choice(streets)
        assert street is not None
        name, postcode, city, flat = street.name, street.postcode, street.city, street.flats
    else:
        street = None
        name, postcode, city = rng.choice(TOWN_STREETS), municipality.postcode, municipality.city
        flat = rng.random() < 0.3
    number = rng.randint(1, 140 if flat else 60)
    line = f"{name} {number}"
    if flat:
        line += f", {rng.choice(_FLOORS)} {rng.choice(_DOORS)}"
    return Address(line, postcode, city, municipality, hospital_for(municipality, street), flat)
