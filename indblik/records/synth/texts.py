"""Danish clinical prose: notes, discharge summaries, letters and messages.

Written the way Danish hospital staff write: short sentences, the usual abbreviations (pt.,
obj., St.p., BT, SAT, KAD, PVK), decimal commas, dates as 12.03.2025.
"""

# ruff: noqa: RUF001 - Danish clinical text writes the en dash and the multiplication sign

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from indblik.records.synth.organisations import Department, Staff
from indblik.records.synth.people import Person


def date_da(moment: dt.date | dt.datetime) -> str:
    """Return a date as Danes write it: 12.03.2025."""
    return moment.strftime("%d.%m.%Y")


def time_da(moment: dt.datetime) -> str:
    """Return a time of day as Danes write it: 08.15."""
    return moment.strftime("%H.%M")


def lower_first(text: str) -> str:
    """Lower-case the first letter unless the word is an abbreviation (KOL stays KOL)."""
    if len(text) > 1 and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def comma(value: float, decimals: int = 1) -> str:
    """Return a number with a decimal comma."""
    return f"{value:.{decimals}f}".replace(".", ",")


@dataclass(frozen=True)
class Vitals:
    """One set of vital signs (what a TOKS score is computed from)."""

    systolic: int
    diastolic: int
    pulse: int
    respiration: int
    saturation: int
    temperature: float
    alert: bool = True

    def line(self) -> str:
        """Return the vital signs as a note writes them."""
        return (
            f"BT {self.systolic}/{self.diastolic}, puls {self.pulse}, RF {self.respiration}, "
            f"SAT {self.saturation} %, temp. {comma(self.temperature)}"
        )

    def toks(self) -> int:
        """Return the early-warning score (TOKS, a NEWS-like sum of points per parameter)."""
        score = 0
        rf, sat, hr, bt, temp = (
            self.respiration,
            self.saturation,
            self.pulse,
            self.systolic,
            self.temperature,
        )
        score += 3 if rf <= 8 else 1 if rf <= 11 else 0 if rf <= 20 else 2 if rf <= 24 else 3
        score += 3 if sat <= 91 else 2 if sat <= 93 else 1 if sat <= 95 else 0
        score += (
            3
            if hr <= 40
            else 1
            if hr <= 50
            else 0
            if hr <= 90
            else 1
            if hr <= 110
            else (2 if hr <= 130 else 3)
        )
        score += 3 if bt <= 90 else 2 if bt <= 100 else 1 if bt <= 110 else 0 if bt < 220 else 3
        score += (
            3
            if temp <= 35.0
            else 1
            if temp <= 36.0
            else 0
            if temp <= 38.0
            else 1
            if temp <= 39.0
            else 2
        )
        return score + (0 if self.alert else 3)


GENERIC_NURSING = (
    "Har sovet godt i nat.",
    "Har sovet uroligt og været vågen flere gange i nat.",
    "Mobiliseret til stol til alle måltider.",
    "Hjælp til personlig hygiejne ved sengebad.",
    "Spist ca. halvdelen af maden, suppleret med proteindrik.",
    "Drukket ca. 1.200 ml i dag.",
    "Huden hel, let rødme over os sacrum – vendeskema fortsættes.",
    "Pårørende orienteret telefonisk med pt.'s accept.",
    "Smertedækket på fast paracetamol.",
    "Lader vandet spontant, kontinent.",
    "PVK fungerer, indstiksstedet uden tegn på infektion.",
    "Pt. giver udtryk for at være bekymret for at komme hjem; samtale om hjælp fra hjemmeplejen.",
)


def nursing_note(
    rng: random.Random, specific: tuple[str, ...], vitals: Vitals, nurse: Staff
) -> str:
    """Return a ward nurse's note: scenario observations, everyday care, vital signs."""
    lines = [rng.choice(specific)] if specific else []
    lines += rng.sample(GENERIC_NURSING, 2)
    lines.append(f"Vitale værdier: {vitals.line()}. TOKS {vitals.toks()}.")
    return "Sygeplejenotat\n\n" + " ".join(lines) + f"\n\n{nurse.signature}"


def admission_note(
    *,
    person: Person,
    dept: Department,
    complaint: str,
    history: str,
    medicines: list[str],
    allergy: str,
    objective: str,
    vitals: Vitals,
    labs: str,
    assessment: str,
    plan: str,
    resuscitation: str,
    doctor: Staff,
) -> str:
    """Return the admitting doctor's note (indlæggelsesnotat)."""
    living = "bor alene med hjemmepleje" if person.home_care else "bor i eget hjem, selvhjulpen"
    return (
        f"Indlæggelsesnotat – {dept.name}\n\n"
        f"Anamnese: {person.age}-årig {person.sex_word}, {living}. Tidligere: {history}. "
        f"Indlægges med {complaint}.\n"
        f"Medicin: {', '.join(medicines) if medicines else 'Ingen fast medicin'}.\n"
        f"Allergi: {allergy}.\n"
        f"Obj.: {vitals.line()}. {objective}\n"
        f"Parakliniske fund: {labs}.\n"
        f"Vurdering: {assessment}\n"
        f"Plan: {plan}\n"
        f"Genoplivningsstatus: {resuscitation}.\n\n"
        f"{doctor.signature}"
    )


def ward_round_note(
    rng: random.Random, *, day_number: int, labs: str, trend: str, days_left: int, doctor: Staff
) -> str:
    """Return a ward-round note (stuegang)."""
    feeling = rng.choice(
        (
            "Pt. har det bedre i dag.",
            "Pt. føler sig fortsat træt, men bedre.",
            "Pt. har haft en rolig nat og er mere frisk.",
        )
    )
    leave = "i morgen" if days_left <= 1 else f"om ca. {days_left} dage"
    return (
        f"Stuegang, {day_number}. indlæggelsesdag\n\n{feeling} Obj.: Upåvirket i hvile. "
        f"Paraklinik: {labs} ({trend}).\nPlan: Behandlingen fortsætter uændret. Forventet "
        f"udskrivelse {leave}. Udskrivningskonference med kommunen ved behov.\n\n{doctor.signature}"
    )


def therapist_note(rng: random.Random, therapist: Staff) -> str:
    """Return a physiotherapist's or occupational therapist's first assessment."""
    if therapist.title == "Ergoterapeut":
        body = rng.choice(
            (
                "ADL-vurdering: Pt. har behov for hjælp til nedre påklædning og bad. Anbefaler "
                "badebænk og toiletforhøjer samt hjemmebesøg ved kommunens terapeut.",
                "Vurderet i forflytning og påklædning. Klarer overkrop selv, hjælp til strømper og "
                "sko. Kognitivt let påvirket; anbefaler faste rutiner.",
            )
        )
        title = "Ergoterapi – første vurdering"
    else:
        body = rng.choice(
            (
                "Mobiliseret fra seng til stol med støtte af én. Går 20 meter med rollator og let "
                "støtte. Nedsat balance. Anbefaler genoptræning efter udskrivelse.",
                "Går selvstændigt med rollator på gangen, 2 x 40 meter. Trappegang ikke mulig "
                "endnu. "
                "Instrueret i øvelser og vejrtrækningsteknik.",
            )
        )
        title = "Fysioterapi – første vurdering"
    return f"{title}\n\n{body}\n\n{therapist.signature}"


def emergency_note(
    *,
    person: Person,
    arrived_by: str,
    complaint: str,
    vitals: Vitals,
    suspicion: str,
    ward: Department,
    doctor: Staff,
) -> str:
    """Return the emergency department's note."""
    return (
        f"Akutmodtagelse – journalnotat\n\nVisiteret af {arrived_by}. {person.age}-årig "
        f"{person.sex_word} med {complaint}.\nObj.: {vitals.line()}. TOKS {vitals.toks()}.\n"
        f"Vurdering: Obs. {lower_first(suspicion.rstrip('.'))}.\nPlan: Indlægges på "
        f"{ward.name}.\n\n"
        f"{doctor.signature}"
    )


OUTPATIENT_PLANS = (
    "Uændret behandling. Pt. informeret om at kontakte egen læge ved forværring.",
    "Stabil tilstand. Medicinen fortsætter uændret; blodprøver før næste kontrol.",
    "Let forværring; behandlingen justeres, og pt. ses igen lidt tidligere end planlagt.",
    "Pt. har spørgsmål til forløbet, som er besvaret. Pårørende deltog i samtalen.",
)


def outpatient_note(
    rng: random.Random, *, reason: str, vitals: Vitals, labs: str, weeks: int, doctor: Staff
) -> str:
    """Return an outpatient clinic note (ambulant notat)."""
    state = rng.choice(
        ("har det godt", "har det nogenlunde", "er fortsat træt", "har haft det svingende")
    )
    return (
        f"Ambulant notat\n\nPt. kommer til kontrol ({reason}). Pt. {state}.\n"
        f"Obj.: {vitals.line()}.\nParaklinik: {labs}.\nVurdering og plan: "
        f"{rng.choice(OUTPATIENT_PLANS)} Ny kontrol om {weeks} uger.\n\n{doctor.signature}"
    )


def discharge_nursing_note(*, when: dt.datetime, municipality: str, nurse: Staff) -> str:
    """Return the nurse's discharge note."""
    return (
        f"Udskrivningsnotat – sygepleje\n\nPt. udskrives til eget hjem kl. {time_da(when)}. "
        f"Udskrivningsrapport sendt til hjemmeplejen i {municipality}. Medicin dispenseret til "
        f"2 døgn. Transport: siddende taxa.\n\n{nurse.signature}"
    )


PSYCHIATRIC_REASONS = (
    "nedtrykthed, søvnbesvær og tanker om ikke at ville leve",
    "udtalt angst og uro under indlæggelsen",
    "mistanke om depression efter tab af ægtefælle",
)


def psychiatric_note(rng: random.Random, psychiatrist: Staff) -> str:
    """Return a psychiatric liaison note (restricted: never shown outside the hospital)."""
    return (
        "Psykiatrisk tilsyn\n\nTilset på foranledning af stamafdelingen pga. "
        f"{rng.choice(PSYCHIATRIC_REASONS)}. Pt. er vågen og orienteret, affekten let "
        "nedtrykt. Ingen psykotiske symptomer. Ingen aktuelle selvmordstanker eller -planer.\n"
        "Vurdering: Depressiv enkeltepisode, moderat.\nPlan: Opstart af sertralin 50 mg x 1. "
        f"Opfølgning i distriktspsykiatrien.\n\n{psychiatrist.signature}"
    )


def discharge_summary(
    *,
    person: Person,
    dept: Department,
    start: dt.datetime,
    end: dt.datetime,
    diagnoses: list[str],
    complaint: str,
    course: str,
    labs: str,
    medicine_changes: str,
    follow_up: str,
    gp_name: str,
    doctor: Staff,
) -> str:
    """Return the discharge summary (epikrise) sent to the GP."""
    return (
        f"Epikrise\n\nTil: {gp_name}\nVedr.: {person.name}, født {date_da(person.birth)}\n"
        f"Indlagt {date_da(start)} – udskrevet {date_da(end)} på {dept.name}.\n\n"
        f"Diagnoser: {'; '.join(diagnoses)}.\n"
        f"Indlæggelsesårsag: {person.age}-årig {person.sex_word} indlagt med {complaint}.\n"
        f"Forløb: {course}\n"
        f"Parakliniske fund ved udskrivelse: {labs}.\n"
        f"Medicinændringer: {medicine_changes}\n"
        f"Opfølgning: {follow_up}\n"
        "Information: Pt. er informeret om forløbet og planen og er indforstået.\n"
        f"Kopi sendt til: {person.municipality.name} (hjemmeplejen).\n\n"
        f"Med venlig hilsen\n{doctor.name}, {doctor.title.lower()}\n{dept.name}"
    )


def appointment_letter(*, person: Person, where: str, when: dt.datetime, reason: str) -> str:
    """Return a letter to the citizen calling them in for an appointment."""
    return (
        f"Kære {person.given[0]} {person.family}\n\n"
        f"Du er indkaldt til {reason.lower()} den {date_da(when)} kl. {time_da(when)}.\n"
        f"Sted: {where}.\n\n"
        "Husk at medbringe din medicinliste. Hvis tiden ikke passer, bedes du ringe til "
        "ambulatoriet hverdage kl. 8–15.\n\nMed venlig hilsen\nAmbulatoriet"
    )


def admission_message(
    *, person: Person, dept: Department, when: dt.datetime, complaint: str
) -> str:
    """Return the admission report to the municipality (MedCom indlæggelsesrapport)."""
    return (
        f"Indlæggelsesrapport\n{person.name} er indlagt {date_da(when)} kl. {time_da(when)} på "
        f"{dept.name} med {complaint}. Hjemmeplejen bedes sende oplysninger om funktionsniveau, "
        "hjælpemidler og medicin."
    )


def discharge_message(
    *, person: Person, dept: Department, when: dt.datetime, message: str, nurse: Staff
) -> str:
    """Return the discharge report to the municipality (MedCom udskrivningsrapport)."""
    return (
        f"Udskrivningsrapport\n{person.name} udskrives {date_da(when)} kl. {time_da(when)} fra "
        f"{dept.name} til eget hjem. {message} Medicin medgivet til 2 døgn. Kontaktperson: "
        f"{nurse.name}, {nurse.title.lower()}."
    )


def uploaded_document(rng: random.Random, person: Person) -> tuple[str, list[str]]:
    """Return (title, lines) of a scanned document that did not start in the hospital record."""
    title, body = rng.choice(
        (
            (
                "Henvisning fra egen læge (scannet)",
                [
                    f"Vedr. {person.name}, født {date_da(person.birth)}.",
                    "Henvises til vurdering i ambulatoriet. Tiltagende symptomer gennem de "
                    "seneste uger "
                    "trods behandling i almen praksis.",
                    "Aktuel medicin og allergier fremgår af FMK.",
                    f"Med venlig hilsen {person.gp.name}",
                ],
            ),
            (
                "Medicinliste fra hjemmeplejen",
                [
                    f"Medicinliste for {person.name}, udskrevet af hjemmesygeplejen.",
                    "Doseret medicin i æske hver 14. dag. Pt. tager selv sin inhalationsmedicin.",
                    "Kontakt hjemmesygeplejen ved ændringer.",
                ],
            ),
            (
                "Samtykkeerklæring – behandling",
                [
                    f"Undertegnede {person.name} giver samtykke til den planlagte behandling.",
                    "Jeg er informeret mundtligt og skriftligt om formål, risici og alternativer.",
                    "Underskrevet i ambulatoriet.",
                ],
            ),
            (
                "Livstestamente og behandlingsønsker",
                [
                    f"{person.name} har ønsket, at følgende noteres:",
                    "Ønsker ikke livsforlængende behandling ved uafvendelig, dødelig sygdom.",
                    "Pårørende er orienteret om ønsket.",
                ],
            ),
        )
    )
    return title, body
