"""Clinical scenarios: what brings a citizen to hospital, and how it is written up.

Each scenario is data: diagnoses (ICD-10), the department, Danish phrases for the notes and the
discharge summary, imaging and pathology conclusions, procedures, drains and lines, lab
effects, a care plan and what the municipality is told. ``{side}`` / ``{Side}`` in a phrase is
filled with the side of the body drawn for the course.
"""

# ruff: noqa: RUF001 - Danish clinical text writes the en dash and the multiplication sign

from __future__ import annotations

from dataclasses import dataclass, field

from indblik.records.synth.labs import Acute


@dataclass(frozen=True)
class Dx:
    """An ICD-10 diagnosis with its Danish text."""

    icd: str
    text: str


@dataclass(frozen=True)
class ImagingSpec:
    """A report in the results review: imaging (RAD, CUS, OUS) or pathology (PAT)."""

    service: str  # v2-0074 diagnostic service section
    title: str
    conclusions: tuple[str, ...]
    modality: str | None = None  # DICOM modality when an ImagingStudy goes with it
    loinc: tuple[str, str] | None = None


@dataclass(frozen=True)
class ProcedureSpec:
    """A procedure of the course; ``status`` completed, in-progress or not-done."""

    text: str
    snomed: tuple[str, str] | None = None
    status: str = "completed"
    day: int = 0  # day of the admission (negative: at an outpatient visit before it)
    probability: float = 1.0
    reason_not_done: str = ""


@dataclass(frozen=True)
class DeviceSpec:
    """A drain, catheter or line: placed on ``day`` and either removed or kept at discharge."""

    name: str
    body_site: str
    snomed: tuple[str, str] | None = None
    site_snomed: tuple[str, str] | None = None
    day: int = 0
    kept: float = 0.0  # probability that it is still in place when the citizen goes home
    probability: float = 1.0


@dataclass(frozen=True)
class CarePlanSpec:
    """The care plan a course ends with: title, activities and goals."""

    title: str
    activities: tuple[str, ...]
    goals: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    """One kind of hospital course."""

    key: str
    specialty: str
    diagnosis: Dx
    episode: str
    ages: tuple[int, int]
    weight: float
    complaints: tuple[str, ...]
    objective: tuple[str, ...]
    assessment: str
    plan: str
    course: str
    follow_up: str
    nursing: tuple[str, ...]
    imaging: tuple[ImagingSpec, ...]
    procedures: tuple[ProcedureSpec, ...]
    devices: tuple[DeviceSpec, ...]
    acute: Acute
    care_plan: CarePlanSpec
    municipal_referral: str
    municipal_message: str
    questionnaire: str = "livskvalitet"
    extra_diagnoses: tuple[Dx, ...] = ()
    los: tuple[int, int] = (3, 9)  # length of stay in days; (0, 0) = outpatient only
    emergency: bool = True  # arrives through the emergency department
    female_only: bool = False
    outpatient_specialty: str | None = None
    wound_photos: bool = False
    hospice: float = 0.0  # share referred to hospice
    flags: tuple[str, ...] = field(default=())


PVK = DeviceSpec(
    "PVK (perifert venekateter)",
    "Venstre albuebøjning",
    site_snomed=("368208006", "Left upper arm structure"),
)
KAD = DeviceSpec(
    "KAD (kateter à demeure), Ch 14",
    "Urinblære",
    snomed=("20568009", "Urinary catheter, device"),
    site_snomed=("89837001", "Urinary bladder structure"),
)
CHEST_XRAY = ImagingSpec(
    "RAD",
    "Røntgen af thorax",
    (
        "Røntgen af thorax: Hyperinflaterede lunger med affladede diafragmakupler. Ingen "
        "infiltrater eller pleuraekssudat. Normal hjertestørrelse.\nKonklusion: Forenelig med "
        "KOL, ingen tegn på pneumoni.",
        "Røntgen af thorax: Lungeemfysem. Let fortætning basalt i højre side, kan være begyndende "
        "infiltrat. Intet pleuraekssudat.\nKonklusion: Obs. pneumoni højre basalt.",
    ),
    "CR",
    ("36643-5", "XR Chest 2 Views"),
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        key="kol",
        specialty="lunge",
        diagnosis=Dx("J44.1", "KOL med akut exacerbation"),
        extra_diagnoses=(Dx("J44.9", "Kronisk obstruktiv lungesygdom (KOL)"),),
        episode="KOL-forløb",
        ages=(45, 95),
        weight=1.4,
        complaints=(
            "tiltagende åndenød gennem 4 dage, øget mængde grønligt ekspektorat og feber op til "
            "38,6",
            "forværring af kendt KOL med åndenød i hvile og hoste med misfarvet opspyt gennem en "
            "uge",
        ),
        objective=(
            "Let takypnøisk, taler i korte sætninger. St.p.: Udbredte sibilerende ronchi bilat. og "
            "forlænget eksspirium. St.c.: Regelmæssig aktion, ingen mislyde.",
            "Anvender accessoriske respirationsmuskler. St.p.: Svag respirationslyd basalt bilat., "
            "spredte ronchi. Ingen perifere ødemer.",
        ),
        assessment="Akut exacerbation i KOL, formentlig udløst af nedre luftvejsinfektion.",
        plan="Prednisolon 37,5 mg dagligt i 5 dage. Inhalation med ipratropium/salbutamol x 4 "
        "dagligt. Amoxicillin med clavulansyre p.o. Ilt efter SAT-mål 88–92 %. Røntgen af thorax "
        "og A-gas. Fysioterapi og mobilisering.",
        course="Pt. behandlet med prednisolon, forstøverbehandling og antibiotika med god effekt. "
        "Ilttilskud kunne seponeres på 3.-dagen. Mobiliseret med rollator på gangen ved "
        "udskrivelsen.",
        follow_up="Egen læge bedes vurdere inhalationsbehandlingen og tilbyde rygestopforløb. Pt. "
        "er "
        "henvist til KOL-rehabilitering i kommunalt regi.",
        nursing=(
            "Pt. dyspnøisk ved mindste anstrengelse, hvilepauser under personlig pleje. "
            "Forstøverbehandling givet kl. 08 og 12 med god effekt.",
            "SAT 90–92 % på 1 L ilt på næsebrille. Hoster gult opspyt op.",
        ),
        imaging=(CHEST_XRAY,),
        procedures=(
            ProcedureSpec(
                "Non-invasiv ventilation (NIV)",
                ("428311008", "Noninvasive ventilation"),
                probability=0.35,
            ),
            ProcedureSpec("Spirometri", ("127783003", "Spirometry"), day=-20),
            ProcedureSpec("Arteriepunktur med A-gas", day=0),
        ),
        devices=(PVK,),
        acute=Acute(crp=90, leuk=6, aki=0.1),
        care_plan=CarePlanSpec(
            "KOL – plan efter udskrivelse",
            (
                "Inhalationsteknik gennemgået og øvet med pt.",
                "Prednisolon – sidste dosis på 5.-dagen",
                "KOL-rehabilitering på kommunalt sundhedscenter 2 gange ugentligt i 8 uger",
                "Tilbud om rygestopforløb",
            ),
            (
                "Kunne gå 200 meter uden hvilepause inden 3 måneder",
                "Ingen genindlæggelse for KOL inden for 90 dage",
            ),
        ),
        municipal_referral="Genoptræningsplan (almen genoptræning): KOL-rehabilitering med fysisk "
        "træning, vejrtrækningsteknik og energibesparende arbejdsstillinger.",
        municipal_message="Hjemmesygeplejen bedes observere respiration og SAT ved besøg og "
        "kontakte "
        "egen læge ved forværring. Prednisolon gives til og med 5.-dagen.",
        questionnaire="kol-symptomer",
        los=(3, 8),
    ),
    Scenario(
        key="hjertesvigt",
        specialty="kardiologi",
        diagnosis=Dx("I50.9", "Hjertesvigt"),
        extra_diagnoses=(Dx("I48.9", "Atrieflimren og atrieflagren"),),
        episode="Hjertesvigtforløb",
        ages=(45, 98),
        weight=1.3,
        complaints=(
            "tiltagende åndenød og ortopnø gennem 2 uger samt hævede ben; vægtøgning ca. 4 kg",
            "akut åndenød om natten; har måttet sove siddende i lænestolen",
        ),
        objective=(
            "BT 148/86, puls 112 uregelmæssig. St.p.: Krepitation basalt bilat. til "
            "skulderbladsvinklen. Udtalte pitting-ødemer op til knæhøjde.",
            "Halsvenestase. St.c.: Uregelmæssig aktion, systolisk mislyd over apex. Ødemer på "
            "underben og over os sacrum.",
        ),
        assessment="Akut dekompenseret hjertesvigt, formentlig udløst af atrieflimren med hurtig "
        "ventrikelfrekvens.",
        plan="Furosemid 40 mg i.v. x 2 dagligt, væskerestriktion 1,5 liter, daglig vægt og "
        "væskeskema. Frekvenskontrol med metoprolol. Ekkokardiografi og telemetri.",
        course="Pt. diureseret med i.v. furosemid med vægttab på 5 kg og god klinisk effekt. "
        "Frekvenskontrol opnået med metoprolol. Ekkokardiografi viste nedsat venstre "
        "ventrikelfunktion. Overgået til peroral diuretika.",
        follow_up="Egen læge bedes kontrollere væsketal og vægt om 1 uge. Pt. følges i "
        "hjertesvigtsklinikken med optitrering af behandlingen.",
        nursing=(
            "Pt. vejet i morges: fald på 1,2 kg siden i går. Diurese 2.400 ml. Ødemerne aftager.",
            "Sover med hævet hovedgærde, ingen natlig åndenød. Væskeskema udfyldt, indtag 1.400 "
            "ml.",
        ),
        imaging=(
            ImagingSpec(
                "CUS",
                "Ekkokardiografi",
                (
                    "Ekkokardiografi: Dilateret venstre ventrikel med globalt nedsat systolisk "
                    "funktion, LVEF skønnet 30 %. Moderat mitralinsufficiens. Ingen "
                    "perikardieekssudat.",
                    "Ekkokardiografi: Let dilateret venstre ventrikel, LVEF 40 %. Dilateret "
                    "venstre "
                    "atrium. Let trikuspidalinsufficiens.",
                ),
                "US",
            ),
            ImagingSpec(
                "RAD",
                "Røntgen af thorax",
                (
                    "Røntgen af thorax: Kardiomegali med stasetegn og små pleuraekssudater "
                    "bilateralt. "
                    "Intet infiltrat.\nKonklusion: Forenelig med hjertesvigt.",
                ),
                "CR",
                ("36643-5", "XR Chest 2 Views"),
            ),
        ),
        procedures=(
            ProcedureSpec("Ekkokardiografi", ("40701008", "Echocardiography"), day=1),
            ProcedureSpec(
                "Elektrokardiografi (EKG)", ("29303009", "Electrocardiographic procedure")
            ),
            ProcedureSpec(
                "Elektrisk konvertering",
                status="not-done",
                day=2,
                probability=0.4,
                reason_not_done="Spontan konvertering til sinusrytme",
            ),
        ),
        devices=(
            PVK,
            DeviceSpec(KAD.name, KAD.body_site, KAD.snomed, KAD.site_snomed, probability=0.4),
        ),
        acute=Acute(crp=15, leuk=1, aki=0.35, na_drop=4, k_shift=-0.4),
        care_plan=CarePlanSpec(
            "Hjertesvigt – egenomsorg",
            (
                "Daglig vejning om morgenen – kontakt ved vægtøgning over 2 kg på 3 dage",
                "Væskerestriktion 1,5 liter i døgnet",
                "Kontrol i hjertesvigtsklinik med optitrering af medicin",
                "Hjerterehabilitering i kommunen",
            ),
            ("Stabil vægt (± 1 kg) i 4 uger", "Kunne gå op ad én etage uden at stoppe"),
        ),
        municipal_referral="Henvisning til kommunal hjerterehabilitering: fysisk træning og "
        "undervisning i egenomsorg ved hjertesvigt.",
        municipal_message="Hjemmesygeplejen bedes veje pt. dagligt og kontakte egen læge ved "
        "vægtøgning over 2 kg på 3 dage. Væskerestriktion 1,5 liter.",
        hospice=0.05,
    ),
    Scenario(
        key="hoftefraktur",
        specialty="ortopaedi",
        diagnosis=Dx("S72.0", "Collum femoris-fraktur"),
        extra_diagnoses=(Dx("W19", "Fald"),),
        episode="Forløb for hoftenær fraktur",
        ages=(70, 100),
        weight=1.2,
        complaints=(
            "fald i eget hjem; fundet på gulvet af hjemmeplejen om morgenen. Smerter i {side} "
            "hofte "
            "og kan ikke støtte på benet",
            "fald på badeværelset med smerter i {side} lyske og manglende evne til at gå",
        ),
        objective=(
            "{Side} ben forkortet og udadroteret. Distalt god kapillærrespons og normal "
            "sensibilitet. Ingen tegn på hovedtraume.",
        ),
        assessment="Medial collum femoris-fraktur i {side} side.",
        plan="Faste fra midnat og operation i morgen. Smertebehandling med femoralisblokade og "
        "paracetamol. Blodprøver og EKG før operation. Tryksårsforebyggelse.",
        course="Opereret dagen efter indlæggelsen med hemialloplastik. Postoperativt let anæmi, "
        "behandlet med 2 portioner blod. Mobiliseret til fuld belastning med gangredskab fra "
        "1. postoperative dag.",
        follow_up="Pt. er henvist til genoptræning i kommunen. Agrafferne fjernes 14 dage "
        "postoperativt. Osteoporoseudredning ved egen læge anbefales.",
        nursing=(
            "Mobiliseret til stol med 2 personer og prækestol. Smerter VAS 4 ved bevægelse, 1 i "
            "hvile. "
            "Forbindingen tør og ren.",
            "KAD seponeret i dag, har ladet vandet spontant 250 ml. Vendt hver 3. time, huden hel "
            "over "
            "hæle og os sacrum.",
        ),
        imaging=(
            ImagingSpec(
                "RAD",
                "Røntgen af {side} hofte",
                (
                    "Røntgen af {side} hofte: Dislokeret medial collum femoris-fraktur (Garden "
                    "IV). "
                    "Ingen andre frakturer.",
                    "Røntgen af {side} hofte: Ikke-dislokeret medial collum femoris-fraktur. Let "
                    "artrose i hofteleddet.",
                ),
                "CR",
            ),
        ),
        procedures=(
            ProcedureSpec("Hemialloplastik i hofteled", day=1),
            ProcedureSpec(
                "Transfusion af erytrocytkoncentrat",
                ("116859006", "Transfusion of blood product"),
                day=2,
                probability=0.5,
            ),
        ),
        devices=(PVK, DeviceSpec(KAD.name, KAD.body_site, KAD.snomed, KAD.site_snomed, day=1)),
        acute=Acute(crp=110, leuk=4, hb_drop=1.4, aki=0.1),
        care_plan=CarePlanSpec(
            "Mobilisering efter hoftenær fraktur",
            (
                "Fuld vægtbæring tilladt",
                "Gangtræning med rollator dagligt",
                "Hofteregler i 3 måneder: undgå at bøje hoften over 90 grader og at krydse benene",
                "Faldforebyggelse i hjemmet – hjælpemidler vurderes af kommunens terapeuter",
            ),
            ("Gå selvstændigt med rollator indendørs", "Vende tilbage til eget hjem"),
        ),
        municipal_referral="Genoptræningsplan (almen genoptræning) efter hemialloplastik: "
        "gangtræning, styrketræning og faldforebyggelse. Opstart inden for 7 dage.",
        municipal_message="Pt. må belaste fuldt. Agraffer fjernes 14 dage postoperativt. Behov for "
        "hjælp til personlig pleje morgen og aften samt hjælpemidler (toiletforhøjer, badebænk).",
        questionnaire="smerte-og-funktion",
        los=(4, 10),
        flags=("faldrisiko",),
    ),
    Scenario(
        key="urosepsis",
        specialty="geriatri",
        diagnosis=Dx("N39.0", "Urinvejsinfektion"),
        extra_diagnoses=(Dx("A41.9", "Sepsis"), Dx("F05.9", "Delirium")),
        episode="Geriatrisk forløb",
        ages=(75, 100),
        weight=1.2,
        complaints=(
            "akut opstået konfusion, feber til 39,1 og faldende væske- og fødeindtag. Hjemmeplejen "
            "har bemærket ildelugtende urin",
            "svie ved vandladning, hyppig vandladning og feber gennem 3 dage; i dag svimmel og "
            "faldet",
        ),
        objective=(
            "Alment påvirket, tør tunge. Abdomen blødt med let ømhed suprapubisk. Ikke orienteret "
            "i "
            "tid.",
        ),
        assessment="Urosepsis med delirium hos ældre patient. Urinretention.",
        plan="Urindyrkning, derefter i.v. piperacillin/tazobactam. I.v. væske. Blærescanning med "
        "650 ml residualurin – KAD anlægges. Delirforebyggende tiltag.",
        course="Pt. behandlet med i.v. antibiotika, skiftet til peroral behandling efter "
        "dyrkningssvar (E. coli, følsom for mecillinam). Deliriet aftog i løbet af 3 døgn. KAD "
        "bibeholdes pga. residualurin.",
        follow_up="KAD bibeholdes; seponeringsforsøg hos egen læge om 14 dage. Egen læge bedes "
        "kontrollere væsketal om 1 uge.",
        nursing=(
            "Pt. urolig i nat, fjernede PVK én gang; ny PVK anlagt. Reorienteret flere gange. "
            "Sovet "
            "ca. 4 timer.",
            "KAD fungerer, urinen klar og gul, diurese 1.600 ml. Pt. mere klar i dag og genkender "
            "sin datter.",
        ),
        imaging=(
            ImagingSpec(
                "RAD",
                "Ultralyd af nyrer og urinveje",
                (
                    "Ultralyd af nyrer og urinveje: Normale nyrer uden hydronefrose eller "
                    "konkrementer. Blæren med KAD in situ.",
                    "Ultralyd af nyrer og urinveje: Let atrofiske nyrer bilateralt uden "
                    "hydronefrose. "
                    "Blæren med KAD in situ.",
                ),
                "US",
            ),
        ),
        procedures=(
            ProcedureSpec("Blærescanning (residualurinmåling)"),
            ProcedureSpec("Anlæggelse af kateter à demeure (KAD)"),
        ),
        devices=(PVK, DeviceSpec(KAD.name, KAD.body_site, KAD.snomed, KAD.site_snomed, kept=0.7)),
        acute=Acute(crp=160, leuk=9, aki=0.6, na_drop=3),
        care_plan=CarePlanSpec(
            "Plan for KAD og forebyggelse af delirium",
            (
                "KAD-pleje morgen og aften",
                "Væskeindtag mindst 1,5 liter dagligt – drikkeskema",
                "Seponeringsforsøg af KAD hos egen læge om 14 dage",
                "Faste rammer og genkendelige personer i hjemmet",
            ),
            ("Spontan vandladning uden residualurin", "Habituel kognitiv tilstand"),
        ),
        municipal_referral="Henvisning til kommunal sygepleje: KAD-pleje og observation for "
        "infektionstegn.",
        municipal_message="Pt. udskrives med KAD (Ch 14). Hjemmesygeplejen bedes varetage "
        "KAD-pleje, "
        "sikre væskeindtag og observere for feber og konfusion.",
        los=(3, 9),
    ),
    Scenario(
        key="lungekraeft",
        specialty="onkologi",
        diagnosis=Dx("C34.9", "Lungekræft"),
        extra_diagnoses=(Dx("J91", "Pleuraekssudat ved sygdom klassificeret andetsteds"),),
        episode="Kræftpakkeforløb for lungekræft",
        ages=(45, 90),
        weight=0.8,
        complaints=(
            "tiltagende åndenød gennem en uge under kemoterapi for lungekræft; røntgen viser "
            "pleuraekssudat",
            "vægttab på 8 kg over 3 måneder, langvarig hoste og nu åndenød; kendt lungekræft",
        ),
        objective=(
            "Afmagret. St.p.: Dæmpning og ophævet respirationslyd basalt på højre side. Ingen "
            "palpable lymfeknuder på halsen.",
        ),
        assessment="Ikke-småcellet lungekræft med malignt pleuraekssudat.",
        plan="Pleuradræn anlægges under ultralydsvejledning. Cytologi af pleuravæske. Vurdering af "
        "pleurodese. Smertebehandling.",
        course="Der blev anlagt pleuradræn med aflastning af 1,8 liter serøs væske og god "
        "lindring. "
        "Cytologien viste adenokarcinomceller. Drænet fjernet efter talkum-pleurodese. Pt. "
        "fortsætter kemoterapi ambulant via PICC-line.",
        follow_up="Pt. fortsætter i onkologisk ambulatorium. PICC-line skylles ugentligt af "
        "hjemmesygeplejen. Egen læge er orienteret om palliative behov.",
        nursing=(
            "Pleuradrænet har drænet 650 ml serøs væske det sidste døgn. Indstiksstedet uden tegn "
            "på "
            "infektion. Pt. mindre forpustet.",
            "PICC-line skyllet med 10 ml NaCl, forbinding skiftet. Pt. træt og spiser lidt; "
            "næringsdrik tilbudt.",
        ),
        imaging=(
            ImagingSpec(
                "RAD",
                "CT af thorax og øvre abdomen",
                (
                    "CT af thorax og øvre abdomen: 4,5 cm tumor i højre overlap med indvækst i "
                    "hilus og "
                    "forstørrede mediastinale lymfeknuder. Moderat pleuraekssudat i højre side. "
                    "Ingen "
                    "levermetastaser.\nKonklusion: Fund forenelige med lungekræft.",
                ),
                "CT",
            ),
            ImagingSpec(
                "PAT",
                "Histologi, bronkiebiopsi",
                (
                    "Bronkiebiopsi: Adenokarcinom, forenelig med primær lungekræft (TTF-1 "
                    "positiv). "
                    "PD-L1 50 %.",
                ),
            ),
        ),
        procedures=(
            ProcedureSpec("Bronkoskopi med biopsi", ("10847001", "Bronchoscopy"), day=-30),
            ProcedureSpec("Anlæggelse af pleuradræn"),
            ProcedureSpec("Talkum-pleurodese", day=3, probability=0.7),
            ProcedureSpec(
                "Kemoterapi, serie 3 af 4",
                ("367336001", "Chemotherapy"),
                status="in-progress",
                day=-21,
            ),
        ),
        devices=(
            PVK,
            DeviceSpec(
                "Pleuradræn", "Højre pleurahule", site_snomed=("51185008", "Thoracic structure")
            ),
            DeviceSpec(
                "PICC-line",
                "Højre overarm",
                site_snomed=("368209003", "Right upper arm structure"),
                day=-25,
                kept=1.0,
            ),
        ),
        acute=Acute(crp=45, leuk=1),
        care_plan=CarePlanSpec(
            "Behandlingsplan og lindring",
            (
                "Kemoterapi hver 3. uge i onkologisk ambulatorium",
                "PICC-line skylles og forbindingen skiftes ugentligt",
                "Smertebehandling efter plan – ekstra morfin ved behov",
                "Kontakt til palliativt team ved behov",
            ),
            ("Smerter VAS under 3", "Kunne være hjemme med hjælp fra hjemmeplejen"),
        ),
        municipal_referral="Henvisning til kommunal sygepleje: pleje af PICC-line og "
        "symptomlindring.",
        municipal_message="Pt. har PICC-line i højre overarm, som skylles ugentligt. "
        "Hjemmesygeplejen "
        "bedes observere for feber under kemoterapi og kontakte onkologisk afdeling ved temp. over "
        "38,0.",
        los=(3, 8),
        emergency=False,
        outpatient_specialty="lunge",
        hospice=0.4,
    ),
    Scenario(
        key="tyktarmskraeft",
        specialty="gastro",
        diagnosis=Dx("C18.9", "Tyktarmskræft"),
        episode="Kræftpakkeforløb for tyktarmskræft",
        ages=(40, 90),
        weight=0.7,
        complaints=(
            "planlagt indlæggelse til operation for kræft i tyktarmen efter blod i afføringen og "
            "ændret afføringsmønster gennem 2 måneder",
        ),
        objective=("Upåvirket. Abdomen blødt, uømt. Ingen palpable udfyldninger.",),
        assessment="Adenokarcinom i colon ascendens; planlagt højresidig hemikolektomi.",
        plan="Laparoskopisk højresidig hemikolektomi. Accelereret patientforløb med tidlig "
        "mobilisering og ernæring. CVK anlægges til parenteral ernæring.",
        course="Laparoskopisk højresidig hemikolektomi uden komplikationer. Ernæring via CVK i 3 "
        "døgn, derefter normal kost. Såret heler pænt. Patologisvaret viste radikal operation uden "
        "lymfeknudemetastaser.",
        follow_up="Agrafferne fjernes om 10–12 dage af hjemmesygeplejen. Patologisvaret gennemgås "
        "ved ambulant kontrol.",
        nursing=(
            "Mobiliseret 3 gange på gangen. Har haft første afføring. Operationssåret tørt, ingen "
            "rødme.",
            "CVK skyllet, indstiksstedet pænt. Spiser halvdelen af portionerne og drikker 2 "
            "proteindrikke.",
        ),
        imaging=(
            ImagingSpec(
                "RAD",
                "CT af thorax og abdomen",
                (
                    "CT af thorax og abdomen: Tumor i colon ascendens med fortykkelse af "
                    "tarmvæggen. "
                    "Ingen metastaser i lever eller lunger.",
                ),
                "CT",
            ),
            ImagingSpec(
                "PAT",
                "Histologi, hemikolektomipræparat",
                (
                    "Hemikolektomipræparat: Moderat differentieret adenokarcinom i colon "
                    "ascendens, "
                    "pT3N0 (0/24 lymfeknuder). Frie resektionsrande.",
                ),
            ),
        ),
        procedures=(
            ProcedureSpec("Koloskopi", ("73761001", "Colonoscopy"), day=-35),
            ProcedureSpec("Laparoskopisk højresidig hemikolektomi"),
        ),
        devices=(
            PVK,
            DeviceSpec(
                "CVK (centralt venekateter)",
                "Højre v. jugularis interna",
                snomed=("52124006", "Central venous catheter, device"),
            ),
            DeviceSpec(KAD.name, KAD.body_site, KAD.snomed, KAD.site_snomed),
        ),
        acute=Acute(crp=120, leuk=5, hb_drop=0.8),
        care_plan=CarePlanSpec(
            "Efter tarmoperation",
            (
                "Sårkontrol og fjernelse af agraffer 10–12 dage postoperativt",
                "Gradvis øget fysisk aktivitet – undgå tunge løft i 4 uger",
                "Proteinrig kost og næringsdrikke",
                "Ambulant kontrol med patologisvar",
            ),
            ("Normal afføring og kost", "Tilbage til vanligt aktivitetsniveau inden 6 uger"),
        ),
        municipal_referral="Henvisning til kommunal sygepleje: sårpleje og fjernelse af agraffer.",
        municipal_message="Pt. er opereret med højresidig hemikolektomi. Agraffer fjernes 10–12 "
        "dage "
        "postoperativt. Hjemmesygeplejen bedes observere såret.",
        los=(3, 7),
        emergency=False,
        wound_photos=True,
    ),
    Scenario(
        key="apopleksi",
        specialty="neurologi",
        diagnosis=Dx("I63.9", "Hjerneinfarkt"),
        extra_diagnoses=(Dx("R13", "Synkebesvær"),),
        episode="Apopleksiforløb",
        ages=(40, 95),
        weight=0.9,
        complaints=(
            "pludseligt opståede lammelser i {side} arm og ben samt talebesvær; symptomdebut kl. "
            "06.30",
            "akut opstået skæv mund og kraftnedsættelse i {side} arm",
        ),
        objective=(
            "Vågen. Facialisparese og kraftnedsættelse i {side} arm og ben. Synkefunktionen "
            "påvirket ved vandtest.",
        ),
        assessment="Akut iskæmisk apopleksi.",
        plan="Trombolysebehandling efter CT. Synkescreening før peroral indtagelse. Telemetri og "
        "blodtryksmåling hver 2. time. Fysio- og ergoterapeutisk vurdering.",
        course="Pt. trombolysebehandlet med delvis bedring. Vedvarende dysfagi; der er anlagt "
        "PEG-sonde til ernæring. Vurderet af fysio- og ergoterapeut med behov for specialiseret "
        "genoptræning.",
        follow_up="Pt. henvises til specialiseret genoptræning i kommunen. PEG-sonden passes af "
        "hjemmesygeplejen. Egen læge bedes følge blodtrykket.",
        nursing=(
            "Ernæres via PEG-sonde, 1.500 ml sondemad i døgnet. Indstiksstedet rent. Mundpleje "
            "udført.",
            "Forflyttet med lift til kørestol. Lejret efter skema. Øver synkning med ergoterapeut.",
        ),
        imaging=(
            ImagingSpec(
                "RAD",
                "CT af cerebrum",
                (
                    "CT af cerebrum: Akut infarkt i a. cerebri media-forsyningsområdet. Ingen "
                    "blødning. "
                    "Ældre lakunære infarkter.",
                    "CT af cerebrum: Ingen blødning. Ingen sikre tegn på akut infarkt; MR "
                    "anbefales.",
                ),
                "CT",
            ),
        ),
        procedures=(
            ProcedureSpec("Trombolysebehandling"),
            ProcedureSpec("Synkevurdering", day=1),
            ProcedureSpec("Anlæggelse af PEG-sonde", day=4, probability=0.6),
        ),
        devices=(
            PVK,
            DeviceSpec(
                "PEG-sonde",
                "Mavesæk",
                site_snomed=("69695003", "Stomach structure"),
                day=4,
                kept=1.0,
                probability=0.6,
            ),
        ),
        acute=Acute(crp=12),
        care_plan=CarePlanSpec(
            "Rehabilitering efter apopleksi",
            (
                "Specialiseret genoptræning i kommunen",
                "Sondeernæring via PEG efter plan fra diætist",
                "Synketræning med ergoterapeut",
                "Lejring og tryksårsforebyggelse",
            ),
            ("Kunne forflytte sig med hjælp af én person", "Spise blød kost gennem munden"),
        ),
        municipal_referral="Genoptræningsplan (specialiseret genoptræning) efter apopleksi: fysio- "
        "og ergoterapi, synketræning og hjælpemidler.",
        municipal_message="Pt. har PEG-sonde og får sondemad 1.500 ml i døgnet. Behov for hjælp af "
        "2 til forflytning med lift.",
        questionnaire="smerte-og-funktion",
        los=(5, 14),
        flags=("faldrisiko",),
    ),
    Scenario(
        key="pneumoni-demens",
        specialty="geriatri",
        diagnosis=Dx("J18.9", "Lungebetændelse"),
        extra_diagnoses=(Dx("F03", "Demens"), Dx("F05.9", "Delirium")),
        episode="Demensforløb",
        ages=(75, 100),
        weight=1.0,
        complaints=(
            "feber, hoste og tiltagende forvirring gennem 2 dage hos pt. med kendt demens",
            "fald i hjemmet; hjemmeplejen fandt pt. varm og forvirret",
        ),
        objective=("Alment påvirket, desorienteret. St.p.: Krepitation basalt til højre.",),
        assessment="Pneumoni i højre underlap og delirium hos pt. med demens.",
        plan="I.v. penicillin. Ilt efter behov. Væske og ernæring. Delirforebyggelse: faste "
        "kontaktpersoner, reorientering og mobilisering.",
        course="Pt. behandlet med i.v. penicillin med hurtigt faldende infektionstal. Deliriet "
        "aftog, "
        "men pt. er fortsat mere kognitivt svækket end før indlæggelsen.",
        follow_up="Egen læge bedes vurdere behovet for demensudredning og revision af medicinen. "
        "Kommunen er orienteret om øget plejebehov.",
        nursing=(
            "Urolig og råbende om aftenen, beroliget ved tilstedeværelse. Spiser med hjælp, "
            "drukket "
            "800 ml.",
            "Mere rolig, genkender sin søn. Mobiliseret med rollator og 1 person.",
        ),
        imaging=(
            ImagingSpec(
                "RAD",
                "Røntgen af thorax",
                (
                    "Røntgen af thorax: Infiltrat i højre underlap forenelig med pneumoni. Intet "
                    "pleuraekssudat.",
                ),
                "CR",
                ("36643-5", "XR Chest 2 Views"),
            ),
        ),
        procedures=(
            ProcedureSpec(
                "Fysioterapeutisk vurdering", ("91251008", "Physical therapy procedure"), day=1
            ),
        ),
        devices=(PVK,),
        acute=Acute(crp=140, leuk=8, aki=0.3, na_drop=2),
        care_plan=CarePlanSpec(
            "Pleje ved demens",
            (
                "Faste rutiner og genkendelige personer",
                "Hjælp til måltider og drikkeskema",
                "Daglig mobilisering med rollator",
                "Opfølgning ved kommunens demenskoordinator",
            ),
            ("Ingen fald", "Tilstrækkeligt væske- og fødeindtag"),
        ),
        municipal_referral="Henvisning til kommunens demenskoordinator: øget plejebehov efter "
        "delirium.",
        municipal_message="Pt. er fortsat mere forvirret end vanligt og har brug for hjælp til "
        "måltider og medicin. Penicillin p.o. til og med 7.-dagen.",
        flags=("demens", "faldrisiko"),
    ),
    Scenario(
        key="pneumoni",
        specialty="lunge",
        diagnosis=Dx("J18.9", "Lungebetændelse"),
        episode="Forløb for lungebetændelse",
        ages=(18, 100),
        weight=0.6,
        complaints=(
            "feber op til 39,5, hoste og stikkende smerter i højre side af brystet ved dyb "
            "vejrtrækning "
            "gennem 3 dage",
            "tiltagende åndenød, hoste med rustfarvet opspyt og kulderystelser siden i går",
        ),
        objective=(
            "Alment let påvirket. St.p.: Krepitation og bronkial respiration basalt til højre. "
            "St.c.: Regelmæssig aktion, ingen mislyde.",
            "Varm og tør hud. St.p.: Nedsat respirationslyd basalt til venstre med spredte "
            "krepitationer.",
        ),
        assessment="Samfundserhvervet pneumoni, CURB-65 score 1.",
        plan="I.v. benzylpenicillin 2 mio. IE x 4. Ilt efter SAT-mål 92–96 %. Røntgen af thorax, "
        "bloddyrkning og ekspektoratdyrkning. Mobilisering og væske.",
        course="Pt. behandlet med i.v. penicillin med hurtig klinisk bedring og faldende CRP. "
        "Overgået "
        "til peroral behandling på 3.-dagen. Ekspektoratdyrkning viste pneumokokker.",
        follow_up="Penicillin p.o. til og med 7.-dagen. Kontrolrøntgen af thorax hos egen læge om "
        "6 "
        "uger, hvis pt. har ryget.",
        nursing=(
            "Feber 38,4 i aftes, paracetamol givet. Hoster sejt opspyt op. Drukket 1.500 ml.",
            "Afebril i dag. Mobiliseret selvstændigt på gangen. SAT 95 % uden ilt.",
        ),
        imaging=(
            ImagingSpec(
                "RAD",
                "Røntgen af thorax",
                (
                    "Røntgen af thorax: Konsolidering i højre underlap med luftbronkogram. Intet "
                    "pleuraekssudat.\nKonklusion: Forenelig med pneumoni.",
                    "Røntgen af thorax: Infiltrat i venstre underlap. Normal hjertestørrelse.\n"
                    "Konklusion: Pneumoni venstre basalt.",
                ),
                "CR",
                ("36643-5", "XR Chest 2 Views"),
            ),
        ),
        procedures=(
            ProcedureSpec("Bloddyrkning"),
            ProcedureSpec(
                "Fysioterapeutisk vurdering",
                ("91251008", "Physical therapy procedure"),
                day=1,
                probability=0.5,
            ),
        ),
        devices=(PVK,),
        acute=Acute(crp=180, leuk=9, aki=0.15, na_drop=2),
        care_plan=CarePlanSpec(
            "Efter lungebetændelse",
            (
                "Penicillin p.o. til og med 7.-dagen",
                "Gradvis øget aktivitet",
                "Kontrolrøntgen af thorax om 6 uger",
            ),
            ("Feberfri og tilbage til vanligt aktivitetsniveau inden 4 uger",),
        ),
        municipal_referral="Henvisning til kommunal sygepleje: observation af almentilstand og "
        "hjælp til medicin efter lungebetændelse.",
        municipal_message="Pt. udskrives efter lungebetændelse. Penicillin p.o. til og med "
        "7.-dagen. "
        "Hjemmeplejen bedes observere for feber og åndenød.",
        los=(2, 6),
    ),
    Scenario(
        key="fodsaar",
        specialty="endokrinologi",
        diagnosis=Dx("E11.5", "Type 2-diabetes med kredsløbskomplikationer (diabetisk fodsår)"),
        extra_diagnoses=(Dx("L97", "Sår på underekstremitet"),),
        episode="Forløb for diabetisk fodsår",
        ages=(35, 92),
        weight=0.9,
        complaints=(
            "sår på {side} storetå gennem 6 uger med tiltagende rødme og hævelse; kendt type "
            "2-diabetes",
            "ikke-helende sår på {side} forfod trods behandling hos egen læge",
        ),
        objective=(
            "3 x 2 cm sår på {side} forfod med fibrinbelægning. Rødme 2 cm omkring såret. "
            "Fodpulse svagt følelige. Nedsat sensibilitet for monofilament.",
        ),
        assessment="Inficeret diabetisk fodsår.",
        plan="Sårrevision, sårpodning og røntgen af foden mhp. osteomyelitis. Antibiotika efter "
        "podning. Aflastning af foden. Optimering af blodsukkeret.",
        course="Såret revideret og behandlet med antibiotika. Røntgen uden tegn på osteomyelitis. "
        "Insulinbehandlingen er justeret. Sårbehandlingsplan udarbejdet til hjemmesygeplejen.",
        follow_up="Pt. følges i sårambulatoriet hver 2. uge. Hjemmesygeplejen skifter forbinding "
        "efter sårbehandlingsplanen.",
        nursing=(
            "Forbinding skiftet. Såret 3 x 2 cm, fibrinbelagt og let sivende. Foto taget til "
            "journalen.",
            "Blodsukker målt 4 gange: 7,8–12,4 mmol/L. Pt. undervist i fodpleje.",
        ),
        imaging=(
            ImagingSpec(
                "RAD",
                "Røntgen af {side} fod",
                (
                    "Røntgen af {side} fod: Bløddelshævelse ved 1. tå. Ingen knogledestruktion "
                    "eller "
                    "periostreaktion. Ingen tegn på osteomyelitis.",
                ),
                "CR",
            ),
        ),
        procedures=(
            ProcedureSpec("Sårrevision"),
            ProcedureSpec("Sårbehandling", ("225358003", "Wound care"), day=-14),
        ),
        devices=(PVK,),
        acute=Acute(crp=55, leuk=3),
        care_plan=CarePlanSpec(
            "Sårbehandlingsplan",
            (
                "Forbindingsskift 3 gange ugentligt: rens med saltvand, skumbandage med sølv",
                "Aflastning med aflastningssko",
                "Blodsukkermåling morgen og aften",
                "Kontrol i sårambulatoriet hver 2. uge",
            ),
            ("Sårarealet halveret inden 4 uger", "Helet sår inden 12 uger"),
        ),
        municipal_referral="Henvisning til kommunal sygepleje: sårpleje efter vedlagte "
        "sårbehandlingsplan.",
        municipal_message="Sårbehandlingsplan vedlagt. Forbindingsskift 3 gange ugentligt. "
        "Hjemmesygeplejen bedes tage foto af såret ugentligt.",
        questionnaire="smerte-og-funktion",
        los=(2, 6),
        outpatient_specialty="saar",
        wound_photos=True,
    ),
    Scenario(
        key="graviditet",
        specialty="obstetrik",
        diagnosis=Dx("O24.4", "Graviditetsdiabetes"),
        extra_diagnoses=(Dx("Z34.9", "Graviditet, normal"),),
        episode="Graviditet",
        ages=(20, 44),
        weight=0.5,
        complaints=(
            "forhøjet blodsukker ved glukosebelastning i uge 27",
            "graviditetsdiabetes; til kontrol i svangreambulatoriet",
        ),
        objective=(
            "BT 118/72. Symfyse-fundus-mål svarende til gestationsalder. Fosterlyd 140 slag/min. "
            "Ingen ødemer.",
        ),
        assessment="Graviditet med graviditetsdiabetes, velreguleret på kost.",
        plan="Kostvejledning ved diætist, blodsukkermåling 4 gange dagligt, kontrol i "
        "svangreambulatoriet hver 2. uge, tilvækstscanning i uge 32 og 36.",
        course="",
        follow_up="",
        nursing=("Undervist i blodsukkermåling. Medgivet måleskema.",),
        imaging=(
            ImagingSpec(
                "OUS",
                "Ultralydsscanning af foster",
                (
                    "Ultralydsscanning: Enkeltfoster i hovedstilling. Normal anatomi. Fostervægt "
                    "svarer "
                    "til gestationsalderen (+3 %). Normal fostervandsmængde.",
                ),
                "US",
            ),
        ),
        procedures=(
            ProcedureSpec("Oral glukosebelastning", day=-14),
            ProcedureSpec("Ultralydsscanning af foster", ("16310003", "Ultrasonography")),
        ),
        devices=(),
        acute=Acute(),
        care_plan=CarePlanSpec(
            "Graviditet og graviditetsdiabetes",
            (
                "Blodsukkermåling 4 gange dagligt",
                "Kostplan fra diætist",
                "Tilvækstscanning i uge 32 og 36",
            ),
            ("Fasteblodsukker under 5,3 mmol/L", "Normal fostertilvækst"),
        ),
        municipal_referral="Meddelelse til sundhedsplejen: gravid med graviditetsdiabetes; tilbud "
        "om "
        "graviditetsbesøg.",
        municipal_message="Gravid med graviditetsdiabetes, følges i svangreambulatoriet.",
        los=(0, 0),
        emergency=False,
        female_only=True,
    ),
)

BY_KEY = {scenario.key: scenario for scenario in SCENARIOS}

# Chronic conditions for the problem list (ICD-10, Danish text, probability from age 65).
COMORBIDITIES: tuple[tuple[str, Dx, float], ...] = (
    ("hypertension", Dx("I10", "Essentiel hypertension"), 0.45),
    ("af", Dx("I48.9", "Atrieflimren og atrieflagren"), 0.18),
    ("diabetes", Dx("E11.9", "Type 2-diabetes uden komplikationer"), 0.2),
    ("ckd", Dx("N18.3", "Kronisk nyresygdom, stadium 3"), 0.12),
    ("osteoporosis", Dx("M81.9", "Osteoporose"), 0.15),
    ("depression", Dx("F32.9", "Depression"), 0.1),
    ("arthrosis", Dx("M17.1", "Knæartrose"), 0.15),
    ("parkinson", Dx("G20", "Parkinsons sygdom"), 0.03),
    ("alcohol", Dx("F10.2", "Alkoholafhængighed"), 0.04),
    ("dementia", Dx("F03", "Demens"), 0.07),
)

# What each chronic condition adds to the medicine list in the notes.
MEDICINES = {
    "hypertension": "Amlodipin 5 mg x 1",
    "af": "Apixaban 5 mg x 2",
    "warfarin": "Marevan efter INR-skema",
    "diabetes": "Metformin 1 g x 2",
    "ckd": "Furix 20 mg x 1",
    "osteoporosis": "Alendronat 70 mg ugentligt, Calcium + D-vitamin x 1",
    "depression": "Sertralin 50 mg x 1",
    "arthrosis": "Paracetamol 1 g x 3",
    "parkinson": "Madopar 125 mg x 4",
    "dementia": "Donepezil 10 mg x 1",
    "kol": "Spiolto Respimat 2 pust x 1, Ventoline ved behov",
    "hjertesvigt": "Furosemid 40 mg x 1, Metoprolol 50 mg x 1, Entresto 49/51 mg x 2",
}

# The discharge summary's medicine changes, per scenario.
MEDICINE_CHANGES = {
    "kol": "Prednisolon 37,5 mg x 1 til og med 5.-dagen. Amoxicillin/clavulansyre 500/125 mg x 3 "
    "til og med 7.-dagen.",
    "hjertesvigt": "Furosemid øget til 40 mg x 2. Metoprolol depot øget til 100 mg x 1. Apixaban "
    "5 mg x 2 er startet.",
    "hoftefraktur": "Paracetamol 1 g x 4 og oxycodon 5 mg ved behov i 14 dage. Dalteparin 5.000 IE "
    "x 1 i 4 uger.",
    "urosepsis": "Pivmecillinam 400 mg x 3 til og med 7.-dagen. Furix er pauseret.",
    "lungekraeft": "Morfin depot 10 mg x 2 og morfin 5 mg ved behov. Ondansetron ved kvalme.",
    "tyktarmskraeft": "Paracetamol 1 g x 4 og tramadol 50 mg ved behov i 1 uge. "
    "Dalteparin i 4 uger.",
    "apopleksi": "Clopidogrel 75 mg x 1 og atorvastatin 80 mg x 1 er startet. Al medicin gives "
    "knust i PEG-sonden.",
    "pneumoni-demens": "Penicillin 1 mio. IE x 4 p.o. til og med 7.-dagen. Quetiapin er seponeret.",
    "pneumoni": "Penicillin 1 mio. IE x 4 p.o. til og med 7.-dagen.",
    "fodsaar": "Dicloxacillin 1 g x 3 i 14 dage. Insulin glargin 16 IE aften er startet.",
}
