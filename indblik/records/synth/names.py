"""Danish names, CPR numbers and phone numbers for synthetic citizens and staff.

Names are the common ones in Danmarks Statistik's name statistics, grouped by the generation
that carries them (a citizen born in 1935 is a Kirsten or a Poul, one born in 1995 a Julie or
a Mads). Weights fall off with rank, roughly as the real frequencies do.
"""

from __future__ import annotations

import datetime as dt
import random
from itertools import accumulate

FAMILY_NAMES = (
    "Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen",
    "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen",
    "Christiansen", "Poulsen", "Johansen", "Møller", "Mortensen", "Knudsen", "Jakobsen",
    "Jacobsen", "Mikkelsen", "Olesen", "Frederiksen", "Laursen", "Henriksen", "Lund", "Schmidt",
    "Eriksen", "Holm", "Kristiansen", "Clausen", "Simonsen", "Svendsen", "Andreasen", "Iversen",
    "Jeppesen", "Mogensen", "Jespersen", "Nissen", "Lauridsen", "Frandsen", "Østergaard",
    "Jepsen", "Kjær", "Carlsen", "Vestergaard", "Jessen", "Nørgaard", "Dahl", "Christoffersen",
    "Skov", "Søndergaard", "Bertelsen", "Bruun", "Lassen", "Bach", "Gregersen", "Friis",
    "Johnsen", "Steffensen", "Kjeldsen", "Bech", "Krogh", "Lauritsen", "Danielsen", "Winther",
    "Toft", "Ravn", "Brandt", "Dam", "Holst", "Berg",
)  # fmt: skip
# Names of families that came to Denmark in the last generations: Copenhagen is not all Jensen.
NEWER_FAMILY_NAMES = (
    "Ahmed", "Ali", "Hussein", "Khan", "Yilmaz", "Nowak", "Nguyen", "Hassan", "Mohamed", "Kaya",
)  # fmt: skip
MIDDLE_NAMES = (
    "Marie", "Margrethe", "Louise", "Kristine", "Elisabeth", "Maria", "Birgitte",  # female
    "Erik", "Christian", "Kristian", "Johannes", "Valdemar", "Peter", "Henrik",  # male
)  # fmt: skip
SURNAME_MIDDLES = ("Østergaard", "Kjær", "Holm", "Skov", "Lund", "Bach", "Dahl", "Vestergaard")

# Given names by generation: (born before 1955, 1955-1984, 1985 and later).
FEMALE_NAMES = (
    ("Kirsten", "Inge", "Karen", "Else", "Grethe", "Ruth", "Birthe", "Ingrid", "Jytte", "Bente",
     "Hanne", "Lis", "Tove", "Anna", "Ellen", "Gerda", "Edith", "Lilly", "Aase", "Ebba"),
    ("Anne", "Mette", "Hanne", "Susanne", "Lene", "Marianne", "Lone", "Pia", "Gitte", "Tina",
     "Helle", "Charlotte", "Dorthe", "Bettina", "Jeanette", "Camilla", "Louise", "Maria"),
    ("Julie", "Sofie", "Emma", "Ida", "Laura", "Freja", "Caroline", "Cecilie", "Mathilde",
     "Sara", "Amalie", "Josefine", "Nanna", "Line", "Fatima", "Aisha"),
)  # fmt: skip
MALE_NAMES = (
    ("Poul", "Jørgen", "Hans", "Niels", "Erik", "Bent", "Knud", "Finn", "Kurt", "Preben",
     "Arne", "Ove", "Svend", "Aage", "Leif", "Jens", "Ole", "Børge", "Villy", "Henning"),
    ("Peter", "Jens", "Lars", "Michael", "Henrik", "Søren", "Thomas", "Jan", "Niels",
     "Christian", "Martin", "Per", "Anders", "Morten", "Jesper", "Torben", "Claus", "Brian"),
    ("Mads", "Rasmus", "Mikkel", "Frederik", "Emil", "Oliver", "William", "Lucas", "Magnus",
     "Jonas", "Tobias", "Mathias", "Kasper", "Nikolaj", "Mohammad", "Ali"),
)  # fmt: skip


def _rank_weights(count: int) -> tuple[float, ...]:
    """Cumulative weights falling off with rank (a gentle Zipf curve)."""
    return tuple(accumulate(1 / (rank + 3) for rank in range(count)))


_FAMILY_WEIGHTS = _rank_weights(len(FAMILY_NAMES))
_GIVEN_WEIGHTS = {len(names): _rank_weights(len(names)) for names in (*FEMALE_NAMES, *MALE_NAMES)}


def _generation(birth_year: int) -> int:
    return 0 if birth_year < 1955 else 1 if birth_year < 1985 else 2


def given_names(rng: random.Random, *, female: bool, birth_year: int) -> list[str]:
    """Draw one or two given names (a middle name in about a third of cases)."""
    pool = (FEMALE_NAMES if female else MALE_NAMES)[_generation(birth_year)]
    names = [rng.choices(pool, cum_weights=_GIVEN_WEIGHTS[len(pool)])[0]]
    if rng.random() < 0.33:
        middles = MIDDLE_NAMES[:7] if female else MIDDLE_NAMES[7:]
        middle = rng.choice(middles)
        if middle != names[0]:
            names.append(middle)
    return names


def family_name(rng: random.Random, *, city: bool = False) -> str:
    """Draw a family name; sometimes with a second (Danish double surnames like Kjær Nielsen)."""
    if city and rng.random() < 0.08:
        return rng.choice(NEWER_FAMILY_NAMES)
    name = rng.choices(FAMILY_NAMES, cum_weights=_FAMILY_WEIGHTS)[0]
    if rng.random() < 0.12:
        first = rng.choice(SURNAME_MIDDLES)
        if first != name:
            return f"{first} {name}"
    return name


def full_name(rng: random.Random, *, female: bool, birth_year: int = 1970) -> tuple[str, str]:
    """Return (given names, family name) as display strings."""
    return " ".join(given_names(rng, female=female, birth_year=birth_year)), family_name(rng)


# --- CPR ---------------------------------------------------------------------------------------
# The 7th digit of a CPR number tells the century together with the two-digit year
# (CPR-kontoret's table). The digits each era uses here are all valid for it.
_CENTURY_DIGITS_1900 = (0, 1, 2, 3)  # 1900-1999 for any year
_CENTURY_DIGITS_2000 = (4, 5, 6, 9)  # 2000-2036 (4 and 9), 2000-2057 (5-8)

# Numbers are handed out so that two citizens of one generated set never share one: a
# citizen's index picks a slot among the 2,000 numbers of each birth date and sex, and the birth
# date is moved by up to DATE_BLOCKS-1 days so that its ordinal tells the rest of the index.
SLOTS_PER_DATE = 2000
DATE_BLOCKS = 100
UNIQUE_CITIZENS = SLOTS_PER_DATE * DATE_BLOCKS


def cpr_birth_date(drawn: dt.date, index: int, *, latest: dt.date) -> dt.date:
    """Move a drawn birth date by less than DATE_BLOCKS days to the block of ``index``."""
    block = (index // SLOTS_PER_DATE) % DATE_BLOCKS
    moved = drawn + dt.timedelta(days=(block - drawn.toordinal()) % DATE_BLOCKS)
    if moved > latest:
        moved -= dt.timedelta(days=DATE_BLOCKS)
    return moved


def cpr_number(birth: dt.date, *, male: bool, index: int) -> str:
    """Return a valid-format CPR number: birth date, century digit, sex by the last digit's parity.

    Odd last digit = male, even = female. Modulus 11 is not required (CPR dropped it in 2007).
    """
    slot = index % SLOTS_PER_DATE
    digits = _CENTURY_DIGITS_1900 if birth.year < 2000 else _CENTURY_DIGITS_2000
    century = digits[slot // 500]
    rest = slot % 500
    last = 2 * (rest % 5) + (1 if male else 0)
    return f"{birth:%d%m%y}{century}{rest // 5:02d}{last}"


def birth_year_from_cpr(cpr: str) -> int:
    """Return the full birth year of a CPR number (CPR-kontoret's century table)."""
    yy, digit = int(cpr[4:6]), int(cpr[6])
    if digit <= 3:
        return 1900 + yy
    if digit in (4, 9):
        return 2000 + yy if yy <= 36 else 1900 + yy
    return 2000 + yy if yy <= 57 else 1800 + yy


def phone_number(rng: random.Random) -> str:
    """Return a Danish mobile number (+45, 8 digits, grouped as Danes write them)."""
    first = rng.choice(("20", "22", "26", "28", "30", "31", "40", "42", "50", "51", "60", "61"))
    rest = rng.randrange(1_000_000)
    return f"+45 {first} {rest // 10000:02d} {rest // 100 % 100:02d} {rest % 100:02d}"
