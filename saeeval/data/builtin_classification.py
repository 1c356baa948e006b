"""Built-in offline stand-ins for the hub datasets of SAEBench's probing evals.

Sparse probing, SCR and TPP read five Hugging Face hub datasets that cannot be downloaded here.
`builtin_frame(hub_name, split)` returns a pandas DataFrame with the same columns and label values
as the real dataset's split, so the loading code that filters, balances and samples the hub
frames handles these unchanged. Every text is generated from templates, word lists and small
grammars written for this module: no copied text, no network, no data files.

- "LabHC/bias_in_bios" (`hard_text`, `profession`, `gender`): short third-person biographies.
  A first name from a gender-typed list and the pronouns carry the gender; the profession is
  carried by varied descriptions of the work (tasks, workplaces, specialties, clients,
  credentials, achievements), usually without the job title, as in the real `hard_text` column
  whose title sentence was removed. Neutral sentences about hobbies, places and family are
  shared by all professions. All 28 professions, each with both genders in equal numbers.
- "canrager/amazon_reviews_mcauley_1and5" (`text`, `category`, `rating`): product reviews. Each
  of the 34 categories has its own products, aspects and details; the rating (1.0 or 5.0) comes
  from shared positive or negative phrasings, so category and rating vary independently.
- "fancyzhx/ag_news" (`text`, `label`): news snippets in AG News' "Title (Source) Source -
  description" shape for World, Sports, Business and Sci/Tech.
- "Helsinki-NLP/europarl" (`text`, `language`): parliamentary sentences written from the same
  sentence frames in English, French, German, Spanish and Dutch (the real dataset is parallel
  text, of which SAEBench keeps one side per language).
- "codeparrot/github-code" (`code`, `language`): C, Python, HTML, Java and PHP files built from
  per-language blocks (headers, functions, classes, loops, markup) with varied identifiers,
  each longer than 600 characters (SAEBench keeps snippets over 534 characters and drops the
  first 150).

Generation is deterministic: every (label cell, split) draws from its own `random.Random` seeded
with a string (seeded through SHA-512, so the same in every process), rows are shuffled with
their own seeded generator, and nothing depends on `hash()`. Train and test never share a text:
a text belongs to the split its BLAKE2 digest picks (one fifth of digests go to "test"), and each
split keeps only its own texts.
"""

from __future__ import annotations

import hashlib
import numbers
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TypeVar

import pandas as pd

from saeeval.errors import SaeevalError

BIAS_IN_BIOS = "LabHC/bias_in_bios"
AMAZON_REVIEWS = "canrager/amazon_reviews_mcauley_1and5"
AG_NEWS = "fancyzhx/ag_news"
EUROPARL = "Helsinki-NLP/europarl"
GITHUB_CODE = "codeparrot/github-code"
BUILTIN_HUB_NAMES: tuple[str, ...] = (BIAS_IN_BIOS, AMAZON_REVIEWS, AG_NEWS, EUROPARL, GITHUB_CODE)
SPLITS = ("train", "test")

_T = TypeVar("_T")
_TEST_BUCKETS = 5  # one digest bucket in five belongs to the test split
_GENERATOR_VERSION = 1  # part of every seed: bump it when a change should alter the output

# ---------------------------------------------------------------------------------------------
# Shared machinery: word lists, a small template grammar, seeded and split-disjoint generation
# ---------------------------------------------------------------------------------------------

_BRACE_SLOT = re.compile(r"\{(\w+)\}")  # slots in prose templates: {name}
_CODE_SLOT = re.compile(r"«(\w+)»")  # slots in code templates, where braces are code
_SLOT_MARKERS = {_BRACE_SLOT: "{", _CODE_SLOT: "«"}  # a text without its marker has no slot


def _alts(text: str) -> tuple[str, ...]:
    """Alternatives written as `a | b | c`, or one per line, as a tuple.

    A long alternative continues on the next line after a backslash (inside the string);
    runs of spaces within an alternative collapse to one.
    """
    items = (item for line in text.strip().splitlines() for item in line.split("|"))
    return tuple(" ".join(item.split()) for item in items if item.strip())


@cache
def _template_parts(template: str, slot: re.Pattern[str]) -> tuple[str, ...]:
    """A template split once into literal text (even indices) and slot names (odd indices)."""
    return tuple(slot.split(template))


def _expand(
    template: str,
    rng: random.Random,
    rules: Mapping[str, tuple[str, ...]],
    bound: Mapping[str, str],
    used: set[tuple[str, str]],
    slot: re.Pattern[str] = _BRACE_SLOT,
) -> str:
    """Fill every slot of `template`: a bound value, else a random alternative of its rule.

    Alternatives may contain slots themselves (a small context-free grammar). `used` records
    the alternatives already drawn for this text, so one text rarely repeats a phrase.
    """
    parts = _template_parts(template, slot)
    marker = _SLOT_MARKERS[slot]
    pieces = [parts[0]]
    for index in range(1, len(parts), 2):
        key = parts[index]
        if key in bound:
            pieces.append(bound[key])
        else:
            options = rules[key]
            choice = _pick(rng, options)
            for _ in range(3):
                if (key, choice) not in used:
                    break
                choice = _pick(rng, options)
            used.add((key, choice))
            if marker in choice:
                choice = _expand(choice, rng, rules, bound, used, slot)
            pieces.append(choice)
        pieces.append(parts[index + 1])
    return "".join(pieces)


def _pick(rng: random.Random, options: Sequence[_T]) -> _T:
    """One random option (faster than `rng.choice`, which matters for 50,000 texts a frame)."""
    return options[int(rng.random() * len(options))]


def _pick_distinct(rng: random.Random, options: tuple[str, ...], count: int) -> list[str]:
    """`count` different options in random order (`options` must hold distinct items)."""
    picked: list[str] = []
    while len(picked) < count:
        choice = _pick(rng, options)
        if choice not in picked:
            picked.append(choice)
    return picked


def _numbers(low: int, high: int) -> str:
    """The integers from `low` to `high` as alternatives for `_alts`."""
    return " | ".join(str(n) for n in range(low, high + 1))


def _cap(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


# "u" is left out ("a user", "a unit"); "8" reads "eight" ("an 8-stroke lead").
_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeioAEIO8])")


def _fix_articles(text: str) -> str:
    """English only: "a" before a vowel sound becomes "an" (templates write "a {noun}")."""
    return _A_BEFORE_VOWEL.sub(lambda m: m.group(1) + "n ", text)


def _split_of(text: str) -> str:
    """The split a text belongs to, from its digest: this keeps train and test disjoint."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return "test" if int.from_bytes(digest, "big") % _TEST_BUCKETS == 0 else "train"


def _seeded(*parts: object) -> random.Random:
    """A generator seeded from a string: `random` hashes str seeds with SHA-512, not hash()."""
    return random.Random("|".join(str(part) for part in (_GENERATOR_VERSION, *parts)))


@dataclass(frozen=True)
class _Spec:
    """How to build one dataset: its columns, label cells, text maker and default sizes."""

    text_column: str
    label_columns: tuple[str, ...]
    label_dtypes: tuple[str, ...]
    cells: tuple[tuple, ...]  # every combination of label values, one row group each
    make_text: Callable[[random.Random, tuple], str]
    default_train_rows: int  # rows per cell; the test split gets a quarter


def _generate_rows(hub_name: str, spec: _Spec, split: str, rows_per_cell: int) -> list[tuple]:
    """`rows_per_cell` distinct texts of `split` for every cell, in a seeded shuffled order."""
    seen: set[str] = set()
    rows: list[tuple] = []
    max_attempts = 40 * rows_per_cell + 400
    for cell in spec.cells:
        rng = _seeded(hub_name, split, *cell)  # one stream per cell: cells do not interact
        kept = attempts = 0
        while kept < rows_per_cell:
            attempts += 1
            if attempts > max_attempts:
                raise SaeevalError(
                    f"rows_per_cell={rows_per_cell}: the built-in {hub_name} generator could not "
                    f"make that many distinct {split} texts for labels {cell}; ask for fewer"
                )
            text = spec.make_text(rng, cell)
            if text in seen or _split_of(text) != split:
                continue
            seen.add(text)
            rows.append((text, *cell))
            kept += 1
    _seeded(hub_name, split, "shuffle").shuffle(rows)
    return rows


# ---------------------------------------------------------------------------------------------
# LabHC/bias_in_bios: biographies with a profession and a gender
# ---------------------------------------------------------------------------------------------

PROFESSION_IDS: dict[str, int] = {
    "accountant": 0,
    "architect": 1,
    "attorney": 2,
    "chiropractor": 3,
    "comedian": 4,
    "composer": 5,
    "dentist": 6,
    "dietitian": 7,
    "dj": 8,
    "filmmaker": 9,
    "interior_designer": 10,
    "journalist": 11,
    "model": 12,
    "nurse": 13,
    "painter": 14,
    "paralegal": 15,
    "pastor": 16,
    "personal_trainer": 17,
    "photographer": 18,
    "physician": 19,
    "poet": 20,
    "professor": 21,
    "psychologist": 22,
    "rapper": 23,
    "software_engineer": 24,
    "surgeon": 25,
    "teacher": 26,
    "yoga_teacher": 27,
}
GENDER_IDS: dict[str, int] = {"male": 0, "female": 1}

_MALE_NAMES = _alts("""
    James | John | Robert | Michael | William | David | Richard | Joseph | Thomas | Charles
    Christopher | Daniel | Matthew | Anthony | Mark | Donald | Steven | Paul | Andrew | Joshua
    Kenneth | Kevin | Brian | George | Timothy | Ronald | Edward | Jason | Jeffrey | Ryan
    Jacob | Gary | Nicholas | Eric | Jonathan | Stephen | Larry | Justin | Scott | Brandon
    Benjamin | Samuel | Gregory | Frank | Raymond | Patrick | Peter | Henry | Carlos | Ahmed
    Rajesh | Hiroshi | Luis | Omar | Marco | Tyler | Adam | Nathan
""")
_FEMALE_NAMES = _alts("""
    Mary | Patricia | Jennifer | Linda | Elizabeth | Barbara | Susan | Jessica | Sarah | Karen
    Nancy | Lisa | Margaret | Sandra | Ashley | Emily | Donna | Michelle | Carol | Amanda
    Melissa | Deborah | Stephanie | Rebecca | Laura | Sharon | Cynthia | Kathleen | Amy | Angela
    Anna | Rachel | Catherine | Emma | Olivia | Sophia | Hannah | Julia | Maria | Priya
    Aisha | Mei | Fatima | Elena | Claire | Megan | Natalie | Victoria | Grace | Lauren
""")
_LAST_NAMES = _alts("""
    Smith | Johnson | Williams | Brown | Jones | Garcia | Miller | Davis | Rodriguez | Martinez
    Hernandez | Lopez | Wilson | Anderson | Taylor | Morales | Moore | Jackson | Martin | Lee
    Thompson | White | Harris | Clark | Lewis | Robinson | Walker | Young | Allen | King
    Wright | Reyes | Torres | Nguyen | Hill | Flores | Green | Adams | Nelson | Baker
    Hall | Rivera | Campbell | Mitchell | Carter | Roberts | Patel | Kim | Chen | Okafor
    Schmidt | Rossi | Kowalski | Novak | Murphy | O'Brien | Cohen | Singh | Tanaka | Silva
""")
_PRONOUNS = {
    0: {"Sub": "He", "sub": "he", "obj": "him", "pos": "his", "Pos": "His", "parent": "father"},
    1: {"Sub": "She", "sub": "she", "obj": "her", "pos": "her", "Pos": "Her", "parent": "mother"},
}
# Professions whose bios may call the person "Dr. <last name>".
_DOCTORS = {"chiropractor", "dentist", "physician", "professor", "psychologist", "surgeon"}
# The job title as bios write it, for the few bios that name it.
_TITLES = {
    "dj": "a DJ",
    "interior_designer": "an interior designer",
    "personal_trainer": "a personal trainer",
    "software_engineer": "a software engineer",
    "yoga_teacher": "a yoga teacher",
}

# Per profession: what the person does (third-person verb phrases), where (after "at"), in
# what (after "in"/"on"), with whom, with which degrees or certificates, and what they achieved
# (third-person verb phrases). None of these phrases names the job title itself.
_PROFESSION_WORDS: dict[str, dict[str, str]] = {
    "accountant": {
        "task": """prepares tax returns for individuals and small businesses
            | reconciles ledgers and manages the month-end close
            | audits financial statements for mid-sized companies
            | advises clients on payroll, bookkeeping and cash flow
            | helps families get ready for tax season | reviews corporate expenses for fraud
            | prepares quarterly financial reports for management
            | guides startups through their first audits
            | keeps the books for several nonprofit organizations
            | manages accounts payable and receivable for a chain of restaurants""",
        "place": """a regional CPA firm | one of the Big Four firms | a boutique tax practice
            | the finance department of a hospital network | a family-owned bookkeeping office
            | a credit union | a public accounting firm in Milwaukee
            | the controller's office of a manufacturing company""",
        "spec": """tax planning | auditing | forensic accounting | estate and trust taxation
            | nonprofit financial reporting | payroll compliance | corporate tax
            | financial statement preparation | internal controls | cost analysis""",
        "client": """small business owners | nonprofit organizations | high-net-worth families
            | independent contractors | restaurants and retail shops | real estate investors""",
        "cred": """a bachelor's degree in accounting | a master's degree in taxation
            | a CPA license | a certificate in fraud examination
            | an MBA with a concentration in finance""",
        "achieve": """has guided hundreds of clients through IRS audits
            | was named a partner at the firm after eight years
            | has prepared more than a thousand tax returns
            | teaches a continuing education course on tax law
            | writes a monthly newsletter on personal finance""",
    },
    "architect": {
        "task": """designs energy-efficient homes and mixed-use buildings
            | draws up construction documents and site plans
            | leads the design of public libraries and schools
            | restores historic facades in the old downtown district
            | works with engineers and contractors from the first sketch to completion
            | produces 3D renderings and physical scale models for clients
            | plans affordable housing developments | oversees permits and zoning reviews
            | designs sustainable office towers and research labs""",
        "place": """a small design studio | an award-winning firm in Chicago
            | a large urban planning practice | a historic preservation office
            | a firm known for green buildings | the city's department of public works""",
        "spec": """sustainable design | historic preservation | residential renovation
            | urban planning | healthcare facilities | passive house construction
            | the adaptive reuse of industrial buildings | campus master planning""",
        "client": """developers | school districts | homeowners | municipal governments
            | hospital systems | museums""",
        "cred": """a Master of Architecture degree | LEED accreditation
            | a degree in environmental design | NCARB certification""",
        "achieve": """has completed more than forty buildings across the region
            | won a design award for a lakeside pavilion
            | had a museum expansion featured in a national design magazine
            | has lectured on sustainable building materials
            | designed a community center that earned LEED Platinum status""",
    },
    "attorney": {
        "task": """represents clients in civil litigation and contract disputes
            | drafts wills, trusts and estate plans
            | negotiates settlements on behalf of injured workers
            | defends individuals accused of criminal offenses
            | advises companies on mergers and regulatory compliance
            | handles divorce and child custody cases
            | argues appeals before the state supreme court
            | guides immigrants through visa and asylum proceedings
            | reviews commercial leases and real estate closings""",
        "place": """a litigation firm in Boston | a small family law practice
            | the public defender's office | a large corporate law firm | a legal aid clinic
            | the county prosecutor's office | an immigration law practice""",
        "spec": """personal injury law | estate planning | criminal defense | employment law
            | intellectual property | family law | bankruptcy | real estate law
            | environmental law""",
        "client": """injured workers | small businesses | immigrant families
            | technology startups | landlords and tenants | people facing criminal charges""",
        "cred": """a Juris Doctor | a law degree with honors | an LL.M. in taxation
            | a certificate in mediation and dispute resolution""",
        "achieve": """has tried more than fifty cases to verdict
            | has recovered millions of dollars for clients
            | was named a Super Lawyer five years in a row
            | has argued before the federal court of appeals
            | volunteers with the local legal aid society""",
    },
    "chiropractor": {
        "task": """treats patients with chronic back and neck pain
            | performs spinal adjustments and soft tissue therapy
            | helps athletes recover from sports injuries
            | uses gentle techniques to realign the spine
            | designs corrective exercise programs for posture problems
            | treats headaches, sciatica and joint pain without medication
            | cares for pregnant women with lower back pain
            | combines adjustments with massage and stretching""",
        "place": """a family wellness clinic | a sports injury center
            | a busy spine and posture practice | an integrative health center
            | a private practice in Denver""",
        "spec": """spinal manipulation | sports injuries | prenatal care | posture correction
            | whiplash recovery | pediatric adjustments | rehabilitation after car accidents""",
        "client": """weekend athletes | office workers with neck pain | expectant mothers
            | car accident victims | older adults with arthritis""",
        "cred": """a Doctor of Chiropractic degree | a certificate in sports rehabilitation
            | a degree in kinesiology | a certificate in the Activator Method""",
        "achieve": """has helped thousands of patients avoid surgery
            | serves as the team doctor for a local hockey club
            | teaches workshops on back health | has been in practice for over a decade""",
    },
    "comedian": {
        "task": """performs stand-up at clubs and colleges across the country
            | writes jokes about family life, dating and growing up
            | hosts a weekly comedy podcast | tours with an hour-long solo show
            | performs improv with a local troupe | writes sketches for late-night television
            | opens for headliners at theaters and festivals
            | makes audiences laugh about the absurdities of office life""",
        "place": """a comedy club in New York | a popular improv theater
            | a late-night talk show | a touring sketch company | a comedy festival in Montreal""",
        "spec": """observational humor | improv | sketch writing | crowd work | political satire
            | storytelling | one-liners""",
        "client": """club owners | television producers | festival organizers | comedy writers""",
        "cred": """a degree in theater | a certificate in improvisation
            | a diploma in performing arts""",
        "achieve": """released a stand-up special on a major streaming service
            | was a finalist in a national stand-up competition
            | has appeared on late-night television several times
            | sold out a run of shows at the Edinburgh Fringe
            | hosts a podcast with more than a million downloads""",
    },
    "composer": {
        "task": """writes music for films, television and video games
            | composes chamber works and orchestral pieces
            | scores documentaries and independent films
            | arranges music for choirs and string quartets
            | writes contemporary concert music performed around the world
            | creates soundtracks that blend orchestra and electronics
            | collaborates with choreographers on new dance scores""",
        "place": """a recording studio in Los Angeles | a university music department
            | the symphony's commissioning program | a game development studio
            | a film scoring stage in London""",
        "spec": """film scoring | orchestral music | choral writing | electronic music | opera
            | chamber music | music for video games""",
        "client": """orchestras | film directors | dance companies | choirs | game studios""",
        "cred": """a doctorate in music composition | a master's degree in film scoring
            | a degree in music theory | a diploma in orchestration""",
        "achieve": """has had works premiered by major orchestras | received a Guggenheim Fellowship
            | has scored more than twenty feature films | won an award for best original score
            | had a string quartet performed at Carnegie Hall""",
    },
    "dentist": {
        "task": """provides cleanings, fillings and root canals
            | places dental implants and crowns
            | helps anxious patients feel comfortable in the chair
            | performs cosmetic procedures such as veneers and whitening
            | treats gum disease and oral infections
            | cares for children's teeth from their very first visit
            | fits patients with clear aligners | restores smiles after sports injuries""",
        "place": """a family dental practice | a pediatric dental office | a community health clinic
            | a cosmetic dentistry studio | a group practice in Houston""",
        "spec": """cosmetic dentistry | pediatric dentistry | implant dentistry | periodontics
            | orthodontics | oral surgery | sedation dentistry""",
        "client": """children | families | patients with dental anxiety | seniors with dentures""",
        "cred": """a DDS degree | a Doctor of Dental Medicine degree
            | a residency in general dentistry | a certificate in implant surgery""",
        "achieve": """has placed hundreds of implants | volunteers at free dental clinics abroad
            | was voted the area's best family practice | lectures on preventive oral care""",
    },
    "dietitian": {
        "task": """creates personalized meal plans for people with diabetes
            | counsels patients on heart-healthy eating
            | helps clients manage food allergies and intolerances
            | designs menus for hospital and school cafeterias
            | supports athletes with sports nutrition plans
            | teaches cooking classes focused on whole foods
            | works with patients recovering from eating disorders
            | advises families on healthy eating for kids""",
        "place": """a hospital's clinical nutrition department
            | a private nutrition counseling practice | a dialysis center
            | a university athletics program | a community wellness center""",
        "spec": """clinical nutrition | sports nutrition | weight management | diabetes education
            | pediatric nutrition | plant-based diets | gut health""",
        "client": """patients with chronic kidney disease | athletes | families
            | people living with diabetes | older adults""",
        "cred": """a bachelor's degree in nutrition science
            | a master's degree in clinical nutrition
            | certification as a diabetes educator | a dietetic internship""",
        "achieve": """has written a cookbook of simple, healthy recipes
            | speaks regularly on nutrition at community events
            | runs a popular blog about mindful eating
            | has helped hundreds of clients improve their blood sugar""",
    },
    "dj": {
        "task": """spins house and techno at clubs and festivals
            | mixes hip-hop and R&B at weddings and private events
            | hosts a late-night radio show | produces remixes for independent labels
            | plays open-format sets that blend funk, disco and pop
            | curates live mixes for fashion brands and store openings
            | holds a weekly residency at a downtown nightclub""",
        "place": """a downtown nightclub | a local radio station | a rooftop bar in Brooklyn
            | a beach club in Ibiza | a wedding venue outside the city""",
        "spec": """house music | techno | hip-hop | turntablism | open-format mixing
            | drum and bass | Afrobeat""",
        "client": """event planners | nightclubs | radio stations | wedding couples""",
        "cred": """a certificate in audio engineering | a certificate in music production""",
        "achieve": """has played at festivals on three continents
            | won a regional turntablism battle
            | released several remixes that topped the dance charts
            | has a monthly mix show with listeners worldwide""",
    },
    "filmmaker": {
        "task": """directs documentaries about social justice and the environment
            | writes and directs independent feature films
            | edits short films that screen at international festivals
            | produces branded video content and commercials
            | shoots music videos for emerging artists
            | develops scripts and shoots on location around the world
            | makes experimental films about memory and place""",
        "place": """an independent production company | a documentary collective
            | a post-production studio in Toronto | a public television station""",
        "spec": """documentary storytelling | narrative features | short films | cinematography
            | editing | animation | experimental cinema""",
        "client": """broadcasters | nonprofits | streaming platforms | music labels""",
        "cred": """an MFA in film production | a degree in cinema studies
            | a certificate in documentary editing""",
        "achieve": """premiered a feature documentary at the Sundance Film Festival
            | won an Emmy for a short documentary | has had films screened at Cannes and Berlin
            | received a grant from the National Endowment for the Arts""",
    },
    "interior_designer": {
        "task": """transforms homes and offices into functional, beautiful spaces
            | selects furniture, fabrics and lighting for residential projects
            | designs boutique hotel lobbies and restaurants
            | plans kitchen and bathroom renovations
            | creates mood boards and floor plans for clients
            | sources vintage pieces and custom furnishings
            | blends modern and traditional styles in every room""",
        "place": """a boutique design studio | a luxury home furnishings showroom
            | a hospitality design firm | a kitchen and bath showroom
            | a residential design business in Atlanta""",
        "spec": """residential interiors | hospitality spaces | color and lighting | space planning
            | kitchen design | sustainable materials | historic homes""",
        "client": """homeowners | restaurant owners | hotels | real estate developers""",
        "cred": """a degree in interior architecture | NCIDQ certification
            | a diploma in decorative arts""",
        "achieve": """has had projects featured in Architectural Digest
            | won a regional award for a restaurant redesign
            | appears regularly on a home renovation show""",
    },
    "journalist": {
        "task": """covers politics and local government for a daily newspaper
            | reports on climate change and environmental policy
            | writes investigative stories about public corruption
            | interviews sources and breaks news on the education beat
            | produces radio features about immigration
            | reports from conflict zones in the Middle East
            | writes about technology, business and the economy
            | fact-checks statements by public officials""",
        "place": """a metropolitan daily newspaper | a public radio station
            | an international news agency | an online news site | a weekly magazine
            | a cable news network""",
        "spec": """investigative reporting | political coverage | health reporting
            | data journalism | foreign affairs | business news | courts and criminal justice""",
        "client": """editors | photographers | news organizations""",
        "cred": """a master's degree in journalism | a bachelor's degree in political science
            | a certificate in data reporting""",
        "achieve": """was part of a team that won a Pulitzer Prize
            | has published stories in The Atlantic and The Guardian
            | has reported from more than thirty countries
            | won a national award for investigative reporting""",
    },
    "model": {
        "task": """walks the runway at fashion weeks in Paris and Milan
            | poses for magazine covers and advertising campaigns
            | shoots editorials for international fashion brands
            | appears in commercials for beauty and fitness brands
            | works with top photographers on campaigns for luxury labels
            | travels between New York, London and Tokyo for castings
            | represents sportswear and swimwear lines""",
        "place": """a major modeling agency | an agency in London | a fashion house in Milan
            | a talent management company in Los Angeles""",
        "spec": """runway | commercial print | editorial work | fitness campaigns | swimwear
            | high fashion""",
        "client": """luxury fashion brands | cosmetics companies | department stores
            | sportswear labels""",
        "cred": """a degree in fashion merchandising | a diploma in communications""",
        "achieve": """has appeared on the cover of Vogue | walked for Chanel and Versace
            | starred in a global campaign for a cosmetics brand
            | was signed by an agency at the age of sixteen""",
    },
    "nurse": {
        "task": """cares for patients in a busy emergency department
            | monitors critically ill patients in the intensive care unit
            | administers medications and coordinates patient care
            | educates patients and families about managing chronic illness
            | works night shifts on a pediatric oncology floor
            | assists surgeons in the operating room
            | provides home health visits to elderly patients
            | supports new mothers on a labor and delivery unit""",
        "place": """a large teaching hospital | a rural community hospital | a children's hospital
            | a hospice care organization | a school health office
            | an outpatient cancer center""",
        "spec": """critical care | emergency care | pediatrics | oncology | labor and delivery
            | geriatric care | wound care""",
        "client": """critically ill patients | children and their families | elderly patients
            | new mothers | veterans""",
        "cred": """a Bachelor of Science in Nursing | an RN license
            | certification in critical care | a master's degree in nursing""",
        "achieve": """received the hospital's award for excellence in patient care
            | precepts new graduates on the unit
            | volunteered with a medical mission in Haiti
            | has worked on the front lines for over fifteen years""",
    },
    "painter": {
        "task": """creates large abstract canvases in oil and acrylic
            | paints landscapes inspired by the coastline
            | works in watercolor and ink on paper | explores color and light in still lifes
            | makes portraits that explore identity and memory
            | exhibits work in galleries across the country
            | paints murals for public spaces and schools""",
        "place": """a studio in Santa Fe | a gallery in Chelsea | an artist residency in Vermont
            | a shared studio building in Brooklyn""",
        "spec": """abstract painting | portraiture | landscape | watercolor | murals
            | figurative work | color field""",
        "client": """collectors | galleries | curators | public art programs""",
        "cred": """an MFA in painting | a BFA in studio art | a degree in art history""",
        "achieve": """has had solo exhibitions in Chicago and Berlin
            | has work in several museum collections
            | received a Pollock-Krasner Foundation grant
            | painted a mural that covers a six-story building""",
    },
    "paralegal": {
        "task": """drafts pleadings, motions and discovery requests
            | organizes case files and exhibits for trial
            | conducts legal research and summarizes depositions
            | manages filing deadlines and court calendars
            | prepares closing documents for real estate transactions
            | assists lawyers with litigation support | interviews clients and gathers evidence""",
        "place": """a personal injury law firm | a corporate legal department
            | a real estate law office | a busy litigation practice
            | a nonprofit legal aid organization""",
        "spec": """litigation support | real estate closings | corporate compliance
            | e-discovery | immigration cases | bankruptcy filings""",
        "client": """lawyers | clients of the firm | partners""",
        "cred": """a certificate in legal studies | a bachelor's degree in criminal justice
            | an associate degree in legal studies""",
        "achieve": """has supported dozens of cases through trial
            | trains new staff on the firm's case management software
            | was recognized by the firm for outstanding support""",
    },
    "pastor": {
        "task": """preaches every Sunday and leads weekly Bible study
            | provides spiritual care to families in times of grief
            | leads a growing congregation | officiates weddings, baptisms and funerals
            | oversees the church's youth and outreach ministries
            | counsels couples preparing for marriage
            | organizes mission trips and community service projects""",
        "place": """a small church in rural Ohio | a large congregation in Dallas
            | a Lutheran church | a community church | a Baptist church in Georgia""",
        "spec": """youth ministry | biblical preaching | community outreach | spiritual counseling
            | church planting | worship leadership""",
        "client": """members of the congregation | families in the community | young people""",
        "cred": """a Master of Divinity degree | a doctorate in ministry | a degree in theology""",
        "achieve": """has led the congregation for over twelve years
            | founded a food pantry that serves hundreds of families
            | has written several devotional books | led mission trips to Kenya and Guatemala""",
    },
    "personal_trainer": {
        "task": """designs strength and conditioning programs for clients of all ages
            | helps clients lose weight and build muscle | coaches small group fitness classes
            | works one-on-one with clients recovering from injuries
            | creates workout plans that combine cardio and weight training
            | prepares athletes for marathons and triathlons
            | teaches proper form for lifting and functional movement""",
        "place": """a neighborhood gym | a private fitness studio | a corporate wellness center
            | a boutique training facility""",
        "spec": """strength training | weight loss | functional fitness | injury prevention
            | sports performance | senior fitness | kettlebell training""",
        "client": """busy professionals | older adults | high school athletes | new mothers
            | beginners""",
        "cred": """a NASM certification | a degree in exercise science
            | a certificate in corrective exercise""",
        "achieve": """has helped hundreds of clients reach their fitness goals
            | has competed in bodybuilding competitions
            | writes a fitness column for a local magazine""",
    },
    "photographer": {
        "task": """shoots weddings, engagements and family portraits
            | captures food, products and interiors for commercial clients
            | documents social issues through long-term photo essays
            | photographs wildlife in remote parts of the world
            | shoots fashion editorials and advertising campaigns
            | covers sports and news events for a wire service
            | takes headshots for actors and professionals""",
        "place": """a portrait studio | a wire service | a commercial photo studio
            | a travel magazine""",
        "spec": """wedding photography | portraiture | photojournalism | landscape | fashion
            | wildlife | architectural photography""",
        "client": """couples | magazines | brands | families | newspapers""",
        "cred": """a BFA in photography | a degree in visual communications
            | a certificate in photojournalism""",
        "achieve": """has had work published in National Geographic | won a World Press Photo award
            | has exhibited prints in galleries in London and New York
            | has photographed more than three hundred weddings""",
    },
    "physician": {
        "task": """provides primary care to adults and children
            | diagnoses and treats chronic conditions such as diabetes and hypertension
            | sees patients in a busy internal medicine clinic
            | manages hospitalized patients as part of the inpatient team
            | focuses on preventive care and healthy aging | treats patients with heart disease
            | leads clinical research on infectious diseases""",
        "place": """a community health center | a university medical center
            | a family medicine practice | a large hospital system | a rural clinic""",
        "spec": """internal medicine | family medicine | cardiology | endocrinology
            | infectious disease | geriatrics | pulmonology""",
        "client": """underserved communities | elderly patients | families | veterans""",
        "cred": """an MD degree | a residency in internal medicine
            | board certification in family medicine | a fellowship in cardiology""",
        "achieve": """has published research in leading medical journals
            | was named one of the region's top doctors
            | serves as medical director of a free clinic
            | teaches medical students and residents""",
    },
    "poet": {
        "task": """writes poems about memory, grief and the natural world
            | gives readings at libraries, festivals and universities
            | teaches creative writing workshops | translates verse from Spanish and Portuguese
            | edits a small literary journal | writes lyric essays and prose poems""",
        "place": """a small independent press | a literary journal | a writing residency
            | a university creative writing program""",
        "spec": """lyric poetry | free verse | translation | spoken word | the sonnet
            | nature writing""",
        "client": """editors | translators | small presses | students""",
        "cred": """an MFA in creative writing | a degree in English literature
            | a master's degree in comparative literature""",
        "achieve": """has published three collections | won a national book prize
            | has work in The New Yorker and Poetry magazine | was named the city's laureate""",
    },
    "professor": {
        "task": """teaches undergraduate and graduate courses in economics
            | conducts research on climate and energy policy
            | supervises doctoral students and postdoctoral researchers
            | teaches courses on medieval history
            | leads a research lab studying machine learning
            | publishes research on comparative politics
            | teaches organic chemistry and mentors students""",
        "place": """the University of Michigan | a liberal arts college
            | the sociology department of a state university
            | a research university in California | a business school""",
        "spec": """economics | molecular biology | comparative literature | political science
            | applied mathematics | medieval history | social psychology""",
        "client": """graduate students | research teams | undergraduates""",
        "cred": """a PhD in economics | a doctorate in history | a doctorate in molecular biology
            | a postdoctoral fellowship""",
        "achieve": """has published more than fifty peer-reviewed articles
            | received the university's teaching award
            | is the author of two books on economic history
            | has been awarded grants from the National Science Foundation""",
    },
    "psychologist": {
        "task": """provides therapy for adults struggling with anxiety and depression
            | conducts psychological assessments for children and adolescents
            | uses cognitive behavioral therapy to treat trauma
            | counsels couples and families
            | evaluates patients with attention and learning difficulties
            | helps clients cope with stress, grief and life transitions
            | researches the science of memory and emotion""",
        "place": """a private practice | a university counseling center | a veterans' hospital
            | a children's mental health clinic | a community mental health agency""",
        "spec": """cognitive behavioral therapy | child and adolescent development
            | trauma recovery | neuropsychology | couples therapy | health behavior
            | anxiety disorders""",
        "client": """adults | children and adolescents | couples | veterans | college students""",
        "cred": """a PhD in clinical psychology | a PsyD
            | a postdoctoral fellowship in neuropsychology""",
        "achieve": """has published research on resilience after trauma
            | supervises trainees in therapy | gives workshops on managing stress at work""",
    },
    "rapper": {
        "task": """writes and performs verses over hard-hitting beats
            | releases mixtapes and albums independently
            | tours with a live band across the country
            | collaborates with producers on new tracks
            | performs at hip-hop festivals and clubs
            | writes lyrics about growing up in the city
            | freestyles at open mics and cyphers""",
        "place": """an independent record label | a recording studio in Atlanta
            | a music collective in Chicago""",
        "spec": """lyricism | freestyle | trap | conscious hip-hop | storytelling | battle rap""",
        "client": """producers | independent labels | other artists""",
        "cred": """a degree in music business | a diploma in audio production""",
        "achieve": """has a debut album that entered the Billboard charts
            | has amassed millions of streams
            | was featured on a track with a Grammy-winning artist
            | won a national battle competition""",
    },
    "software_engineer": {
        "task": """builds scalable back-end services in Go and Java
            | writes and reviews code for a large e-commerce platform
            | designs distributed systems for real-time data processing
            | develops mobile apps for iOS and Android
            | works on machine learning infrastructure
            | maintains open-source libraries used by thousands of developers
            | builds web applications with React and Python""",
        "place": """a fast-growing startup | a large technology company in Seattle
            | a fintech company | a cloud computing firm | an open-source foundation""",
        "spec": """distributed systems | web development | mobile apps | machine learning
            | security | databases | developer tools""",
        "client": """product teams | developers | customers""",
        "cred": """a computer science degree | a master's degree in computer science
            | an AWS certification""",
        "achieve": """has contributed to several popular open-source projects
            | holds two patents on data compression | speaks at developer conferences
            | led the migration of a large system to the cloud""",
    },
    "surgeon": {
        "task": """performs minimally invasive procedures on the abdomen
            | operates on patients with heart and lung disease
            | repairs knee and shoulder injuries | performs complex spine operations
            | treats patients with traumatic injuries in the operating room
            | rebuilds breasts and faces after cancer
            | performs robotic surgery for prostate and kidney cancer""",
        "place": """a level I trauma center | a university hospital | a children's hospital
            | a cancer center | an orthopedic specialty hospital""",
        "spec": """general surgery | orthopedic surgery | cardiothoracic surgery | neurosurgery
            | plastic and reconstructive surgery | trauma surgery | pediatric surgery""",
        "client": """trauma patients | children | cancer patients | athletes""",
        "cred": """an MD degree | a residency in general surgery | a fellowship in trauma surgery
            | board certification in orthopedic surgery""",
        "achieve": """has performed more than two thousand operations
            | pioneered a new technique for hip replacement | trains surgical residents
            | has published research on surgical outcomes""",
    },
    "teacher": {
        "task": """teaches third grade at an elementary school
            | teaches high school English and coaches the debate team
            | helps middle school students fall in love with science
            | teaches math to ninth and tenth graders
            | works with students with special needs
            | teaches Spanish and leads exchange trips abroad
            | creates hands-on lessons that make history come alive""",
        "place": """a public elementary school | a charter school | a rural high school
            | a middle school in Phoenix | an international school in Singapore""",
        "spec": """early literacy | special education | STEM education | bilingual education
            | classroom technology | reading intervention""",
        "client": """students | families | young learners | teenagers""",
        "cred": """a bachelor's degree in elementary education
            | a master's degree in curriculum and instruction | a teaching credential
            | National Board certification""",
        "achieve": """was named the district's educator of the year
            | has spent more than twenty years in the classroom
            | started an after-school robotics club | mentors student teachers""",
    },
    "yoga_teacher": {
        "task": """leads vinyasa and hatha classes for all levels
            | teaches mindful movement and breathwork | offers prenatal and restorative classes
            | guides meditation and yoga retreats in Bali and Costa Rica
            | helps students build strength and flexibility on the mat
            | trains new instructors in a 200-hour program | teaches chair yoga to seniors""",
        "place": """a neighborhood studio | a community center | a corporate wellness program
            | a studio in Portland | a retreat center in Costa Rica""",
        "spec": """vinyasa flow | restorative yoga | prenatal yoga | meditation | yin yoga
            | ashtanga | breathwork""",
        "client": """students | beginners | pregnant women | seniors | athletes""",
        "cred": """a 500-hour certification | a certificate in Ayurveda
            | a certificate in trauma-informed practice""",
        "achieve": """has taught thousands of classes | leads an annual retreat
            | runs an online program with students around the world""",
    },
}

# Sentences about the work. {S} is the subject (a name or a pronoun); the other slots come from
# the profession's words above, the shared words below, or the person's pronouns.
_BIO_WORK_FRAMES = _alts("""
    {S} {task}.
    {S} {task}, and {sub} also {task}.
    {S} currently works at {place}, where {sub} {task}.
    At {place}, {sub} {task}.
    {S} has {years} years of experience in {spec} and is known for {pos} work with {client}.
    {S} specializes in {spec} and {spec}, working mostly with {client}.
    {Pos} work focuses on {spec}, and {sub} {task}.
    {S} has worked with {client} and {client} throughout {pos} career.
    {S} holds {cred} and has spent the last {years} years at {place}.
    {S} holds {cred}.
    {S} earned {cred} from {univ} before joining {place}.
    After earning {cred} from {univ}, {sub} joined {place}, where {sub} {task}.
    {S} {achieve}.
    {S} {achieve} and {achieve}.
    {S} {achieve}, and {sub} {task}.
    Before joining {place}, {sub} spent {years} years at {place}.
    {S} is known for {pos} expertise in {spec} and {pos} commitment to {client}.
    {S} is especially interested in {spec} and regularly works with {client}.
    {S} {task}, with a particular focus on {spec}.
    {S} divides {pos} time between {place} and {place}.
    Since {year}, {sub} has worked with {client} at {place}.
""")
# Sentences any bio may carry, whatever the profession.
_BIO_FILLER_FRAMES = _alts("""
    {S} lives in {city} with {pos} {family}.
    In {pos} free time, {sub} enjoys {hobby} and {hobby}.
    {S} grew up in {city} and now lives in {city}.
    Outside of work, {sub} {pastime}.
    {S} speaks {language} and {language}.
    {S} is the proud {parent} of {kids}.
    When {sub} is not working, {sub} enjoys {hobby}.
    {S} and {pos} family live in {city}, where {sub} {pastime}.
    {S} believes that {belief}.
    {S} splits {pos} time between {city} and {city}.
""")
_BIO_SHARED_WORDS = {
    "years": _numbers(3, 30),
    "year": _numbers(1988, 2019),
    "univ": """the University of Michigan | Stanford University | New York University
        | the University of Texas | Ohio State University | the University of Toronto
        | Boston University | the University of California, Berkeley | Columbia University
        | the University of Washington | Georgetown University | Duke University""",
    "city": """Chicago | Seattle | Austin | Denver | Boston | Portland | Atlanta | Minneapolis
        | San Diego | Toronto | Vancouver | London | Dublin | Melbourne | Nashville | Pittsburgh
        | Philadelphia | Miami | Baltimore | Sacramento | Cleveland | Phoenix | Brooklyn
        | New Orleans | Madison | Raleigh | Salt Lake City | Kansas City""",
    "family": """two children | partner and their dog | spouse and three kids | two cats
        | family | young son | daughter | rescue dog | husband | wife""",
    "hobby": """hiking | cooking for friends | reading mystery novels | gardening | cycling
        | running marathons | playing the piano | traveling | painting watercolors | photography
        | camping with family | baking bread | playing tennis | birdwatching | practicing yoga
        | writing short stories | fishing | skiing | playing chess | woodworking | sailing
        | volunteering | watching baseball | knitting | rock climbing""",
    "pastime": """volunteers at a local animal shelter | coaches a youth soccer team
        | is an avid cyclist | sings in a community choir | plays guitar in a weekend band
        | runs half marathons | serves on the board of a local food bank
        | mentors students from low-income families | restores old furniture
        | tends a large vegetable garden | travels as often as possible""",
    "language": """English | Spanish | French | Mandarin | German | Portuguese | Arabic | Hindi
        | Italian | Korean | Japanese | Russian""",
    "kids": """two daughters | three young children | a teenage son | twin boys | a baby girl
        | four grown children""",
    "belief": """every day is a chance to learn something new | good work starts with listening
        | kindness matters more than credentials | people do their best work when they feel heard
        | curiosity is the best teacher | small changes add up over time""",
}


@cache
def _bio_rules(profession: str) -> dict[str, tuple[str, ...]]:
    """The grammar of one profession's bios: its own words plus the shared ones."""
    words = {**_BIO_SHARED_WORDS, **_PROFESSION_WORDS[profession]}
    return {key: _alts(text) for key, text in words.items()}


def _bio_title_sentence(profession: str) -> str:
    """The rare sentence that names the job, as some real bios still do."""
    title = _TITLES.get(profession) or "a " + profession
    return "{S} has worked as " + _fix_articles(title) + " for {years} years."


def _bio_subject(rng: random.Random, profession: str, first: str, last: str, gender: int) -> str:
    """How the first sentence refers to the person: mostly by name, sometimes by pronoun."""
    draw = rng.random()
    if profession in _DOCTORS and draw < 0.12:
        return f"Dr. {last}"
    if draw < 0.5:
        return first
    if draw < 0.78:
        return f"{first} {last}"
    return _PRONOUNS[gender]["Sub"]


def _make_bio(rng: random.Random, cell: tuple) -> str:
    """One biography for a (profession, gender) cell: work sentences, maybe a personal one."""
    profession_id, gender = cell
    profession = _PROFESSION_BY_ID[profession_id]
    first = _pick(rng, _MALE_NAMES if gender == 0 else _FEMALE_NAMES)
    last = _pick(rng, _LAST_NAMES)
    n_sentences = _pick(rng, (2, 3, 3, 4, 4, 4))
    n_filler = _pick(rng, (0, 1, 1)) if n_sentences > 2 else _pick(rng, (0, 0, 1))
    frames = _pick_distinct(rng, _BIO_WORK_FRAMES, n_sentences - n_filler)
    if rng.random() < 0.08:
        frames[rng.randrange(len(frames))] = _bio_title_sentence(profession)
    fillers = _pick_distinct(rng, _BIO_FILLER_FRAMES, n_filler)
    if fillers and rng.random() < 0.2:  # personal details usually close a bio, not always
        frames.insert(rng.randrange(1, len(frames) + 1), fillers[0])
    else:
        frames.extend(fillers)

    rules = _bio_rules(profession)
    used: set[tuple[str, str]] = set()
    bound = dict(_PRONOUNS[gender])
    sentences = []
    for index, frame in enumerate(frames):
        if index == 0:
            bound["S"] = _bio_subject(rng, profession, first, last, gender)
        else:
            bound["S"] = first if rng.random() < 0.15 else _PRONOUNS[gender]["Sub"]
        sentences.append(_cap(_expand(frame, rng, rules, bound, used)))
    return _fix_articles(" ".join(sentences))


_PROFESSION_BY_ID = {index: name for name, index in PROFESSION_IDS.items()}


# ---------------------------------------------------------------------------------------------
# canrager/amazon_reviews_mcauley_1and5: product reviews with a category and a 1 or 5 rating
# ---------------------------------------------------------------------------------------------

AMAZON_CATEGORY_IDS: dict[str, int] = {
    "All_Beauty": 0,
    "Toys_and_Games": 1,
    "Cell_Phones_and_Accessories": 2,
    "Industrial_and_Scientific": 3,
    "Gift_Cards": 4,
    "Musical_Instruments": 5,
    "Electronics": 6,
    "Handmade_Products": 7,
    "Arts_Crafts_and_Sewing": 8,
    "Baby_Products": 9,
    "Health_and_Household": 10,
    "Office_Products": 11,
    "Digital_Music": 12,
    "Grocery_and_Gourmet_Food": 13,
    "Sports_and_Outdoors": 14,
    "Home_and_Kitchen": 15,
    "Subscription_Boxes": 16,
    "Tools_and_Home_Improvement": 17,
    "Pet_Supplies": 18,
    "Video_Games": 19,
    "Kindle_Store": 20,
    "Clothing_Shoes_and_Jewelry": 21,
    "Patio_Lawn_and_Garden": 22,
    "Unknown": 23,
    "Books": 24,
    "Automotive": 25,
    "CDs_and_Vinyl": 26,
    "Beauty_and_Personal_Care": 27,
    "Amazon_Fashion": 28,
    "Magazine_Subscriptions": 29,
    "Software": 30,
    "Health_and_Personal_Care": 31,
    "Appliances": 32,
    "Movies_and_TV": 33,
}
AMAZON_RATINGS = (1.0, 5.0)

# Per category: products (each reads after "this"), aspects (each reads after "the" with "is"),
# and whole sentences of praise ("good") and of complaint ("bad") that only fit the category.
_CATEGORY_WORDS: dict[str, dict[str, str]] = {
    "All_Beauty": {
        "product": """face serum | hair mask | nail polish | lip gloss | eyeliner
            | makeup brush set | dry shampoo | setting spray | eyeshadow palette""",
        "aspect": "scent | texture | color | consistency | staying power | applicator",
        "good": """It blends in easily and lasts all day. | My skin feels so soft after using it.
            | The shade is exactly like the picture. | My lashes have never looked longer.""",
        "bad": """It made my skin break out. | The color looks nothing like the photo.
            | It smudged within an hour. | The brushes shed all over my face.""",
    },
    "Toys_and_Games": {
        "product": """board game | jigsaw puzzle | building set | stuffed animal
            | remote control car | card game | dollhouse | action figure | play kitchen""",
        "aspect": "box | paint job | instruction booklet | rule book | quality of the pieces",
        "good": """My kids play with it every day. | The pieces fit together perfectly.
            | We have had so many family game nights with it.
            | It kept my nephew busy for hours.""",
        "bad": """Several pieces were missing from the box. | It broke on the first day of play.
            | The rules are confusing and badly written.
            | My daughter lost interest after ten minutes.""",
    },
    "Cell_Phones_and_Accessories": {
        "product": """phone case | screen protector | charging cable | wireless charger
            | car phone mount | power bank | phone stand | pair of Bluetooth earbuds""",
        "aspect": "fit | grip | charging speed | adhesive | button cover | camera cutout",
        "good": """It fits my phone perfectly and all the buttons still work.
            | It charges my phone in about an hour.
            | My phone survived several drops without a scratch.
            | The magnets hold my phone firmly on bumpy roads.""",
        "bad": """The screen protector was full of bubbles.
            | The cable stopped charging after a week.
            | The cutouts do not line up with the camera. | It makes my phone overheat.""",
    },
    "Industrial_and_Scientific": {
        "product": """box of nitrile gloves | digital caliper | set of glass beakers
            | bottle of pH test strips | pair of safety glasses | spool of 3D printer filament
            | thermocouple probe | box of pipette tips | lab thermometer""",
        "aspect": "accuracy | calibration | thickness | tolerance | build quality",
        "good": """Readings are accurate to a hundredth of a millimeter.
            | The filament prints smoothly with no clogs.
            | It works perfectly for our lab. | The gloves hold up through a full shift.""",
        "bad": """The gloves tear as soon as you put them on.
            | Measurements drift after a few minutes.
            | The filament diameter is inconsistent and jammed my extruder.
            | Two of the beakers arrived cracked.""",
    },
    "Gift_Cards": {
        "product": """gift card | e-gift card | birthday gift card | holiday gift card tin
            | restaurant gift card | gift certificate | digital gift voucher | gift code
            | store credit voucher""",
        "aspect": "design | delivery | redemption process | card design | gift box",
        "good": """The code arrived instantly by email.
            | My friend redeemed it without any problems.
            | It came in a cute little box, perfect for a stocking stuffer.
            | It was the easiest present I have ever given.""",
        "bad": """The code did not work when my friend tried to redeem it.
            | The balance showed zero when it arrived.
            | Customer service could not help me activate the card. | The email never arrived.""",
    },
    "Musical_Instruments": {
        "product": """set of guitar strings | digital tuner | ukulele | keyboard stand
            | pair of drumsticks | guitar pedal | microphone stand | violin bow | capo
            | instrument cable""",
        "aspect": "tone | intonation | tuning stability | action | fretwork",
        "good": """The tone is warm and it stays in tune for weeks.
            | My guitar has never sounded better. | It is great for practicing at home.
            | The pedal adds a lovely shimmer without any noise.""",
        "bad": """The strings went out of tune every few minutes. | The pedal adds a horrible buzz.
            | The tuning pegs slip constantly. | The stand wobbles when I play.""",
    },
    "Electronics": {
        "product": """bluetooth speaker | HDMI cable | pair of noise cancelling headphones
            | USB hub | wireless mouse | external hard drive | TV wall mount | portable monitor
            | webcam""",
        "aspect": "sound quality | battery life | picture quality | connection | range | setup",
        "good": """Setup took less than five minutes.
            | The bass is deep and the battery lasts all day.
            | The picture is crisp and bright. | File transfers are fast and reliable.""",
        "bad": """The connection keeps dropping. | It stopped turning on after a month.
            | The remote barely works from across the room.
            | My laptop does not even recognize the drive.""",
    },
    "Handmade_Products": {
        "product": """handmade necklace | knitted scarf | wooden cutting board | ceramic mug
            | hand-poured candle | leather journal | macrame plant hanger | custom name sign""",
        "aspect": "craftsmanship | stitching | finish | glaze | engraving",
        "good": """You can tell the seller put real care into it.
            | The personalization was done beautifully. | Every detail is handmade and unique.
            | The seller even included a handwritten note.""",
        "bad": """The engraving had a spelling mistake. | The stitching came apart within days.
            | The glaze is chipped and uneven. | The wood cracked after the first wash.""",
    },
    "Arts_Crafts_and_Sewing": {
        "product": """acrylic paint set | sketchbook | skein of yarn
            | pack of sewing machine needles
            | embroidery kit | set of colored pencils | glue gun | pair of fabric scissors
            | pad of watercolor paper | bundle of quilting fabric""",
        "aspect": "pigment | color range | thread | paper weight | blade",
        "good": """The colors are vibrant and blend nicely.
            | The yarn is soft and easy to work with.
            | It is perfect for my quilting projects. | The scissors glide through thick fabric.""",
        "bad": """The paint dries out in the tube. | The thread keeps breaking in my machine.
            | The paper buckles as soon as it gets wet. | The pencils snap when I sharpen them.""",
    },
    "Baby_Products": {
        "product": """baby monitor | stroller | diaper bag | bottle warmer | crib sheet
            | teething toy
            | baby carrier | swaddle blanket | high chair""",
        "aspect": "strap | fabric | assembly | buckle | folding mechanism",
        "good": """Our newborn sleeps so much better. | It folds up easily with one hand.
            | It washes well and stays soft. | Our son loves chewing on it.""",
        "bad": """The straps dig into my shoulders. | Our baby screams every time we use it.
            | The monitor loses signal at night. | The tray is impossible to clean.""",
    },
    "Health_and_Household": {
        "product": """pack of paper towels | laundry detergent | bottle of vitamin D supplements
            | dish soap | box of trash bags | hand sanitizer | allergy medicine
            | tub of disinfecting wipes | pack of toilet paper""",
        "aspect": "scent | strength | absorbency | value | dosage",
        "good": """It gets our clothes really clean. | It is a great value compared to the store.
            | The bags never rip. | My allergies have calmed down completely.""",
        "bad": """The bags split as soon as you lift them.
            | The pills are huge and hard to swallow. | It leaves a film on the dishes.
            | The towels fall apart when they get wet.""",
    },
    "Office_Products": {
        "product": """stapler | pack of gel pens | desk organizer | ream of printer paper
            | label maker | pack of sticky notes | weekly planner | ink cartridge
            | box of binder clips | whiteboard""",
        "aspect": "ink flow | grip | paper quality | print quality | binding",
        "good": """The pens write smoothly without skipping. | It keeps my desk neat and organized.
            | It prints crisp labels every time. | The planner lies flat on my desk.""",
        "bad": """The ink smears all over the page. | The stapler jams on every other staple.
            | The cartridge was not recognized by my printer.
            | The sticky notes do not stick to anything.""",
    },
    "Digital_Music": {
        "product": "album | MP3 album | single | live album | soundtrack | remastered album | EP",
        "aspect": "vocal performance | production | songwriting | mix | tracklist",
        "good": """Every track is a gem. | The vocals are stunning.
            | I have had it on repeat all week. | The remaster brings out details I never heard.""",
        "bad": """The mix is muddy and the vocals are buried.
            | There is only one good song on the whole thing.
            | The download was missing two tracks. | The songs all sound the same.""",
    },
    "Grocery_and_Gourmet_Food": {
        "product": """bag of coffee beans | green tea | olive oil | dark chocolate bar
            | box of protein bars | hot sauce | pasta | trail mix | maple syrup | spice blend""",
        "aspect": "flavor | freshness | texture | aroma | sweetness",
        "good": """It tastes amazing. | The flavor is rich without any bitterness.
            | It arrived fresh and well sealed. | It makes my morning coffee something special.""",
        "bad": """It tasted stale. | It is way too salty to eat.
            | The bag arrived open and the beans were stale.
            | It has a strange chemical aftertaste.""",
    },
    "Sports_and_Outdoors": {
        "product": """yoga mat | camping tent | water bottle | hiking backpack
            | set of resistance bands | fishing reel | bike light | pair of trekking poles
            | sleeping bag | pair of dumbbells""",
        "aspect": "grip | durability | weight | zipper | waterproofing",
        "good": """It held up well on a week-long camping trip. | It kept my water cold all day.
            | It is lightweight but very sturdy. | It makes my morning workouts easier.""",
        "bad": """The tent leaked during the first rain. | The zipper broke on the first hike.
            | The bands snapped after a week. | The reel tangles on every cast.""",
    },
    "Home_and_Kitchen": {
        "product": """nonstick frying pan | set of bath towels | chef's knife
            | set of storage containers | set of bed sheets | throw pillow | shower curtain
            | dish rack | blender | coffee mug""",
        "aspect": "nonstick coating | thread count | handle | lid | blade",
        "good": """Eggs slide right off the pan. | The sheets are soft and stay cool at night.
            | The knife is razor sharp. | The towels are thick and absorbent.""",
        "bad": """The coating started peeling after a month. | The towels shed lint everywhere.
            | The lids do not seal properly. | The blender leaks from the bottom.""",
    },
    "Subscription_Boxes": {
        "product": """snack box | beauty box | monthly subscription box | book box
            | craft kit subscription | coffee subscription box | meal kit""",
        "aspect": "selection | variety | value | curation | shipping schedule",
        "good": """Every month it feels like a surprise present.
            | The selection is always fun and well curated.
            | It is a great value for the money each month.
            | I discover something new in every box.""",
        "bad": """Half the items in this month's box were expired.
            | Canceling the subscription was a nightmare. | The box keeps arriving late.
            | They sent the same items two months in a row.""",
    },
    "Tools_and_Home_Improvement": {
        "product": """cordless drill | pack of LED light bulbs | socket set | stud finder
            | tape measure | paint roller | circular saw | door lock | shower head
            | extension cord""",
        "aspect": "torque | battery | brightness | grip | accuracy",
        "good": """It drilled through hardwood with no problem. | Installation took ten minutes.
            | It is very bright and easy to install. | The water pressure is so much better.""",
        "bad": """The battery dies after a few screws. | The bulbs flicker constantly.
            | The bits stripped on the first use. | The lock jams every time it rains.""",
    },
    "Pet_Supplies": {
        "product": """bag of dog food | cat litter | dog leash | chew toy | cat tree
            | fish tank filter | pet bed | flea treatment | dog harness""",
        "aspect": "smell | size | durability | ingredient list | clumping",
        "good": """My dog goes crazy for it. | The litter clumps well and controls odor.
            | Our cat sleeps in it every day. | The tank water has never been clearer.""",
        "bad": """My dog destroyed it in ten minutes. | The litter tracks all over the house.
            | My cat refused to eat it. | The harness slips right off my puppy.""",
    },
    "Video_Games": {
        "product": """video game | game controller | gaming headset | racing game | RPG
            | strategy game | game for the Switch | expansion pack""",
        "aspect": "graphics | gameplay | storyline | controls | multiplayer | frame rate",
        "good": """The gameplay is addictive.
            | The graphics are beautiful and the soundtrack is great.
            | It gives hours of fun with friends online. | The open world is huge and detailed.""",
        "bad": """The game crashes constantly. | The controls feel sluggish.
            | The servers are always down. | The story is over in three hours.""",
    },
    "Kindle_Store": {
        "product": """ebook | Kindle book | novella | thriller | romance novel
            | short story collection | Kindle edition""",
        "aspect": "plot | cast of characters | writing | ending | pacing",
        "good": """I could not put it down. | The characters feel real.
            | I read it in one sitting on my Kindle. | I have already bought the next one.""",
        "bad": """The plot drags on forever. | It is full of typos and formatting errors.
            | The ending made no sense. | The characters are flat and forgettable.""",
    },
    "Clothing_Shoes_and_Jewelry": {
        "product": """pair of running shoes | winter jacket | pair of sterling silver earrings
            | pair of jeans | dress | watch | pair of sandals | hoodie | leather belt""",
        "aspect": "fit | sizing | fabric | stitching | color",
        "good": """It fits true to size. | The fabric is soft and comfortable.
            | I get compliments every time I wear it. | The shoes were comfortable right away.""",
        "bad": """It runs two sizes small. | The color faded after one wash.
            | The earrings turned my ears green. | The soles came off after a month.""",
    },
    "Patio_Lawn_and_Garden": {
        "product": """garden hose | bird feeder | lawn mower | seed starter kit | patio umbrella
            | pair of pruning shears | set of solar lights | raised garden bed | bag of fertilizer
            | set of outdoor cushions""",
        "aspect": "weather resistance | blade | spray pattern | assembly | frame",
        "good": """My tomatoes have never looked better. | The hose does not kink.
            | The solar lights stay on all night. | The birds found it within a day.""",
        "bad": """The hose started leaking at the connector. | The umbrella faded in one summer.
            | The shears were dull out of the box. | The squirrels emptied it in an hour.""",
    },
    "Unknown": {
        "product": """item | product | gadget | multi-purpose kit | accessory | set | organizer""",
        "aspect": "quality | size | price | finish | material",
        "good": """It does exactly what it says. | It is better than the one I had before.
            | It is well made for the price. | It works just as described.""",
        "bad": """It is not worth the price. | It stopped working after a few days.
            | It is much smaller than it looks. | It feels cheap and flimsy.""",
    },
    "Books": {
        "product": """hardcover | paperback | novel | biography | cookbook | history book | memoir
            | children's book | textbook | poetry collection""",
        "aspect": "writing | plot | research | illustration work | binding",
        "good": """It is beautifully written and well researched. | The illustrations are gorgeous.
            | It is one of the best memoirs I have ever read.
            | The recipes are easy and delicious.""",
        "bad": """The binding fell apart. | It is dull and repetitive.
            | The pages arrived bent and torn. | Half the recipes do not work.""",
    },
    "Automotive": {
        "product": """set of floor mats | pair of windshield wipers | jump starter | tire inflator
            | set of seat covers | dash cam | bottle of car wax | pair of LED headlights
            | oil filter""",
        "aspect": "fit | installation | brightness | grip | finish",
        "good": """It fits my truck perfectly.
            | It started my car on the first try in freezing weather.
            | The headlights are much brighter than stock. | My paint has never looked shinier.""",
        "bad": """The wipers streak and chatter. | The seat covers do not fit my car at all.
            | The dash cam stops recording randomly.
            | The inflator overheated before filling one tire.""",
    },
    "CDs_and_Vinyl": {
        "product": """vinyl record | CD | box set | LP | reissue | double album | live recording""",
        "aspect": "pressing | sound | artwork | liner notes | packaging",
        "good": """The pressing is quiet and the sound is warm.
            | The liner notes and artwork are great.
            | It sounds even better on vinyl. | The bonus disc alone is worth the price.""",
        "bad": """The record arrived warped. | The CD skips on several tracks.
            | There is a lot of surface noise on side two. | The jewel case was shattered.""",
    },
    "Beauty_and_Personal_Care": {
        "product": """electric toothbrush | shampoo | moisturizer | razor | sunscreen | body wash
            | hair dryer | deodorant | face wash | beard oil""",
        "aspect": "scent | lather | bristle head | battery | texture",
        "good": """It leaves my hair soft and shiny. | My skin feels hydrated all day.
            | It gives a close shave without irritation. | My teeth feel dentist-clean.""",
        "bad": """It made my scalp itchy. | The razor tugs and leaves bumps.
            | The sunscreen leaves a white cast. | The dryer smells like burning plastic.""",
    },
    "Amazon_Fashion": {
        "product": """blouse | pair of sunglasses | handbag | pair of sneakers | maxi dress
            | tote bag | cardigan | sweater | baseball cap""",
        "aspect": "fit | material | stitching | color | strap",
        "good": """It looks even better in person. | The material feels high quality.
            | It is perfect for summer. | It goes with everything in my closet.""",
        "bad": """The material is cheap and there are loose threads everywhere.
            | It looks nothing like the picture. | The strap broke the first time I used it.
            | The sunglasses scratched within a week.""",
    },
    "Magazine_Subscriptions": {
        "product": """magazine subscription | cooking magazine | news weekly | fashion monthly
            | gardening quarterly | science magazine | travel journal | print edition
            | yearly subscription | digital edition""",
        "aspect": "writing | photography | print quality | delivery schedule | recipe section",
        "good": """Every issue is packed with great articles. | The recipes are easy to follow.
            | It arrives on time every month. | The photography is stunning.""",
        "bad": """Half of each issue is advertisements.
            | I never received the first three issues.
            | They kept charging me after I canceled. | The articles are shallow and dated.""",
    },
    "Software": {
        "product": """antivirus program | photo editing program | tax software | office suite
            | video editing program | language learning program | password manager
            | accounting program""",
        "aspect": "interface | installation | feature set | update process | license",
        "good": """It installed in minutes and is easy to use.
            | The interface is clean and intuitive.
            | It does everything I need for my small business.
            | It finished my taxes in an evening.""",
        "bad": """The program crashes every time I open it. | The activation key did not work.
            | It slowed my computer to a crawl. | It will not run on my version of Windows.""",
    },
    "Health_and_Personal_Care": {
        "product": """blood pressure monitor | thermometer | heating pad | bottle of multivitamins
            | pill organizer | first aid kit | knee brace | humidifier | massage gun""",
        "aspect": "accuracy | comfort | cuff | display | dosage",
        "good": """Its readings match the ones at my doctor's office.
            | My back pain is much better. | It is easy to use and accurate.
            | I sleep better with it running at night.""",
        "bad": """The readings are all over the place.
            | The heating pad shuts off after ten minutes. | The brace slides down constantly.
            | The humidifier leaks onto my nightstand.""",
    },
    "Appliances": {
        "product": """refrigerator water filter | washing machine | dryer | dishwasher | microwave
            | ice maker | range hood | mini fridge""",
        "aspect": "noise level | capacity | installation | energy use | cooling",
        "good": """It is quiet and cleans dishes perfectly. | The ice maker produces plenty of ice.
            | Installation was straightforward. | Our clothes come out dry in one cycle.""",
        "bad": """It started leaking after two months.
            | It is very loud and shakes the whole kitchen.
            | The filter did not fit my refrigerator. | The microwave heats food unevenly.""",
    },
    "Movies_and_TV": {
        "product": """DVD | Blu-ray | box set of the complete series | documentary
            | first season | movie | animated film | 4K edition""",
        "aspect": "acting | picture quality | bonus material | story | subtitle track",
        "good": """The acting is superb. | The 4K transfer looks amazing.
            | Our whole family loved it. | The extras and commentary are fascinating.""",
        "bad": """The disc would not play in my player. | The story is slow and predictable.
            | There are no subtitles despite what the listing says.
            | The picture is grainy and dark.""",
    },
}

# Sentiment-bearing sentences shared by all categories: openings, judgements of an aspect,
# closings and hedges. {product} and {aspect} come from the category.
_REVIEW_SENTIMENT = {
    5.0: {
        "open": """Absolutely love this {product}.
            | This {product} is exactly what I was looking for.
            | Really happy with this {product}. | Best {product} I have ever bought.
            | I am so glad I bought this {product}. | Great {product} for the price.
            | This {product} exceeded my expectations. | Very impressed with this {product}.
            | This {product} is fantastic. | I would buy this {product} again in a heartbeat.""",
        "judgement": """The {aspect} is {praise}. | I really like the {aspect}.
            | The {aspect} is much better than I expected.
            | I was surprised by how {good_adjective} the {aspect} is.""",
        "praise": """{good_adjective} | perfect | great for the price | top notch
            | better than advertised""",
        "good_adjective": "excellent | nice | impressive | solid | wonderful | good | sturdy",
        "close": """Highly recommend. | Would definitely buy again. | Five stars.
            | Worth every penny. | I will be ordering another one. | Could not be happier.
            | A great purchase overall. | Love it!""",
        "twist": """My only complaint is that the {aspect} could be a little better.
            | The {aspect} is not perfect, but I can live with it.""",
    },
    1.0: {
        "open": """Very disappointed with this {product}. | This {product} was a waste of money.
            | Worst {product} I have ever bought. | I regret buying this {product}.
            | Do not buy this {product}. | This {product} is nothing like the description.
            | Unfortunately this {product} was a letdown.
            | I had high hopes for this {product}, but it let me down.
            | This {product} is junk. | I returned this {product} after two days.""",
        "judgement": """The {aspect} is {complaint}. | I was not happy with the {aspect} at all.
            | The {aspect} is much worse than I expected.
            | I was shocked by how {bad_adjective} the {aspect} is.""",
        "complaint": """{bad_adjective} | mediocre at best | a joke | far worse than advertised
            | not what I paid for""",
        "bad_adjective": "terrible | flimsy | poor | disappointing | cheap | awful | bad",
        "close": """Save your money. | I am returning it. | Would not recommend. | One star.
            | Not worth the price. | I wish I could give zero stars. | Very frustrating.
            | Stay away.""",
        "twist": """The {aspect} is fine, but that does not make up for the rest.
            | I liked the {aspect} at first, but that did not last.""",
    },
}
# Sentences without sentiment, shared by all categories and both ratings.
_REVIEW_NEUTRAL_WITH_PRODUCT = _alts("""
    I bought this {product} for my {relative}. | I ordered this {product} {when}.
    I needed a new {product} and picked this one.
        | I got this {product} as a gift for my {relative}.
    I have been using this {product} for {duration}.
        | I ordered the {product} after reading reviews.
    This is my second {product} from this brand. | My {relative} asked me to order this {product}.
""")
_REVIEW_NEUTRAL = _alts("""
    It arrived {arrival}. | The packaging was {packaging}. | I use it {frequency}.
    It matched the listing. | I ordered it {when}. | It came {arrival}.
""")
_REVIEW_SHARED_WORDS = {
    "relative": """wife | husband | son | daughter | mother | father | sister | brother
        | grandmother | roommate | best friend | neighbor | nephew | coworker""",
    "when": """last month | a few weeks ago | during a sale | for the holidays | in the spring
        | on a whim | before a trip""",
    "duration": "a week | two weeks | a month | three months | about a year | a few days",
    "arrival": """on Tuesday | in a plain box | two days after I ordered it | a week later
        | in the original packaging | with the rest of my order""",
    "packaging": "simple | plain cardboard | a padded envelope | a standard box",
    "frequency": """every day | a few times a week | on weekends | most mornings
        | now and then | at work""",
}


@cache
def _review_rules(category: str, rating: float) -> dict[str, tuple[str, ...]]:
    """The grammar of one (category, rating) cell's reviews."""
    words = {**_REVIEW_SHARED_WORDS, **_CATEGORY_WORDS[category], **_REVIEW_SENTIMENT[rating]}
    return {key: _alts(text) for key, text in words.items()}


def _make_review(rng: random.Random, cell: tuple) -> str:
    """One review for a (category, rating) cell: an opening, substance, maybe a closing."""
    category_id, rating = cell
    rules = _review_rules(_CATEGORY_BY_ID[category_id], rating)
    detail = "{good}" if rating == 5.0 else "{bad}"
    # An opening that names the product: mostly with sentiment, sometimes neutral.
    frames = ["{open}" if rng.random() < 0.7 else _pick(rng, _REVIEW_NEUTRAL_WITH_PRODUCT)]
    # One or two sentences of substance: category details and aspect judgements.
    body = [detail if rng.random() < 0.6 else "{judgement}" for _ in range(_pick(rng, (1, 1, 2)))]
    frames.extend(body)
    if rng.random() < 0.15:  # real reviews often hedge
        frames.append("{twist}")
    if rng.random() < 0.3:
        frames.insert(rng.randrange(1, len(frames) + 1), _pick(rng, _REVIEW_NEUTRAL))
    if len(frames) < 4 and rng.random() < 0.5:
        frames.append("{close}")
    used: set[tuple[str, str]] = set()
    sentences = [_cap(_expand(frame, rng, rules, {}, used)) for frame in frames[:4]]
    return _fix_articles(" ".join(sentences))


_CATEGORY_BY_ID = {index: name for name, index in AMAZON_CATEGORY_IDS.items()}


# ---------------------------------------------------------------------------------------------
# fancyzhx/ag_news: news snippets labelled World, Sports, Business or Sci/Tech
# ---------------------------------------------------------------------------------------------

AG_NEWS_LABELS: dict[str, int] = {"World": 0, "Sports": 1, "Business": 2, "Sci/Tech": 3}


# Words every label may use; headlines are title-cased after expansion.
_NEWS_SHARED_WORDS = {
    "day": "Monday | Tuesday | Wednesday | Thursday | Friday | Saturday | Sunday",
    "source": "Reuters | AP | AFP | Canadian Press",
    "few": _numbers(2, 9),
    "num": _numbers(3, 95),
    "month": "January | March | April | June | September | October | November",
    "year": _numbers(2005, 2012),
    # Sentences any story may carry, so that no label is told apart by its form alone.
    "shared_body": """A spokesman declined to comment on the report.
        | Further details are expected later this week.
        | The announcement came after weeks of speculation.
        | Officials said more information would be released on {day}.
        | The news was first reported by local media on {day}.
        | Critics said the decision came too late.""",
}
# Per label: headline templates ("headline"), body sentences ("body") and their words. Some
# words cross labels as in real news: technology companies report earnings, sports events are
# held in world capitals, oil and sanctions make both world and business news.
_NEWS_WORDS: dict[str, dict[str, str]] = {
    "World": {
        "headline": """{country} {official} vows to {w_action}
            | {few} killed in {country} {attack} | UN Security Council to debate {country} {crisis}
            | {country} and {country} agree to resume talks | election results delayed in {country}
            | {country} {official} arrives in {capital} for talks
            | thousands protest in {capital} over {issue} | troops pull back from {country} border
            | hostage freed in {country} | aid agencies warn of famine in {country}
            | {country} opposition rejects {offer}""",
        "body": """The {official} said on {day} that {w_clause}.
            | At least {num} people were killed when {w_event} in {capital}, officials said.
            | Diplomats in {capital} said the agreement could pave the way for {w_goal}.
            | The United Nations called on all sides to {w_call}.
            | Opposition leaders accused the government of {w_accuse}.
            | The talks, the first in {few} years, are expected to focus on {w_topic}.
            | Witnesses said {w_event} near the {w_place} early on {day}.
            | The {official} of {country} is due to meet European leaders in {capital} next \
            week.
            | The {official} warned that oil exports could be cut if sanctions were imposed.
            | Security was tight in {capital}, which hosts the {event} next year.""",
        "event": "Olympic Games | World Cup | Asian Games | Commonwealth Games | summit",
        "country": """Iraq | Sudan | Ukraine | Iran | Pakistan | Afghanistan | Israel | Venezuela
            | Indonesia | Nepal | Haiti | Colombia | Lebanon | Kenya | North Korea | Syria
            | Zimbabwe | Sri Lanka | Nigeria | Somalia | Bolivia | Myanmar""",
        "capital": """Baghdad | Khartoum | Kiev | Tehran | Islamabad | Kabul | Jerusalem | Caracas
            | Jakarta | Kathmandu | Beirut | Nairobi | Damascus | Harare | Colombo | Lagos
            | Geneva | Brussels | Cairo | Moscow | Beijing""",
        "official": """prime minister | president | foreign minister | defense minister
            | opposition leader | rebel commander | interior minister""",
        "w_action": """crush insurgency | hold elections on schedule | free political prisoners
            | reform constitution | restore order | pursue peace talks""",
        "attack": "bomb blast | suicide attack | car bombing | clashes | ambush | rocket attack",
        "crisis": "crisis | sanctions | nuclear program | peace plan | refugee crisis",
        "issue": "election fraud | fuel prices | the war | corruption | new security laws",
        "offer": "peace offer | vote results | power-sharing deal",
        "w_clause": """the government would not negotiate with the rebels
            | elections would go ahead in January
            | foreign troops would leave by the end of the year
            | the country was ready to resume talks | the ceasefire was holding
            | new sanctions would only hurt ordinary people""",
        "w_event": """a car bomb exploded | gunmen opened fire on a convoy
            | a suicide bomber struck a police station
            | fighting broke out between rival militias | a rocket hit a crowded market""",
        "w_goal": """a lasting ceasefire | the return of refugees | free elections
            | the withdrawal of foreign troops | a permanent peace settlement""",
        "w_call": """halt the violence | respect the ceasefire | allow aid workers into the region
            | release all hostages | return to the negotiating table""",
        "w_accuse": """rigging the vote | silencing the press | arresting peaceful protesters
            | stalling the peace process | ignoring the humanitarian crisis""",
        "w_topic": """border security | the return of refugees | prisoner exchanges
            | the disputed region | nuclear inspections""",
        "w_place": """border | presidential palace | parliament building | main mosque
            | refugee camp | airport""",
    },
    "Sports": {
        "headline": """{team} beat {team} {score} | {player} leads {team} past {team}
            | {player} wins title at {event} | {team} sign {position} to {few}-Year deal
            | injury sidelines {team} star {player} | {team} clinch playoff spot
            | {player} sets record at {event} | {team} fire coach after {few} straight losses
            | {team} rally to stun {team} in overtime | {player} withdraws from {event}""",
        "body": """{player} scored twice in the second half as the {team} beat the {team} \
            {score} on {day}.
            | {player} threw for {yards} yards and {few} touchdowns.
            | The victory moved the {team} within {few} games of first place.
            | The {team} have now won {few} straight games.
            | {player}, who missed last week with a {injury} injury, is expected to return for \
            the {event}.
            | The coach said the team needed to {s_need}.
            | {player} hit a three-run homer in the {ordinal} inning to lift the {team}.
            | {player} shot a {golf} to take a {few}-stroke lead after the first round of the \
            {event}.
            | The defending champions reached the next round of the {event} with a win over the \
            {team}.
            | Ticket sales for the {event} have topped ${few} million, organizers said.
            | The league said the lockout would cost owners millions in lost revenue.""",
        "team": """Red Sox | Yankees | Cubs | Cardinals | Astros | Lakers | Pistons | Patriots
            | Eagles | Colts | Steelers | Maple Leafs | Red Wings | Bruins | Packers | Rangers
            | Celtics | Spurs""",
        "player": "{first} {last}",
        "first": """Tom | Mike | Carlos | Andre | Derek | Pedro | Kevin | Roger | Vijay | Lance
            | Thierry | Wayne | Marcus | Tony | Jeff | Ben | Manny | Curt | Shaquille | Jason""",
        "last": """Santos | Miller | Ramirez | Johnson | Walker | Petersen | Okoye | Dumont | Baker
            | Hughes | Moreno | Fischer | Grant | Ellis | Brooks | Lindqvist | Rossi | Tanner""",
        "event": """World Series | Ryder Cup | US Open | Olympic Games | Champions League
            | Super Bowl | Tour de France | NBA Finals | Stanley Cup playoffs | Davis Cup
            | Masters | World Cup qualifier""",
        "score": """2-1 | 3-2 | 5-3 | 4-0 | 7-6 | 24-17 | 31-10 | 98-91 | 104-99 | 1-0 | 3-1
            | 6-4 | 27-24 | 88-85""",
        "position": """pitcher | quarterback | striker | point guard | goalie | midfielder
            | shortstop | linebacker""",
        "yards": _numbers(180, 420),
        "injury": "hamstring | ankle | knee | shoulder | groin | back",
        "s_need": """tighten up its defense | play with more energy | cut down on turnovers
            | find a way to win on the road | keep its focus""",
        "ordinal": "first | second | third | fourth | fifth | sixth | seventh | eighth | ninth",
        "golf": "65 | 66 | 67 | 68 | 6-under-par 66 | 4-under 68 | 7-under 65",
    },
    "Business": {
        "headline": """{company} profit {up_down} on {cause} | oil prices {oil_move} as {oil_cause}
            | stocks {market_move} on {market_cause} | {company} to cut {jobs} jobs
            | {company} agrees to buy {company} for ${few} billion
            | dollar {dollar_move} against euro | Fed raises interest rates a quarter point
            | {company} shares {market_move} after earnings report
            | {company} names new chief executive | jobless claims {market_move} unexpectedly""",
        "body": """{company} said on {day} that {quarter} earnings {rose_fell} {num} percent \
            from a year earlier.
            | Executives pointed to {b_factor} as the main reason for the change.
            | Crude futures {rose_fell} to ${oil_price} a barrel on the New York Mercantile \
            Exchange.
            | Analysts had expected earnings of {num} cents a share.
            | The deal, valued at about ${few} billion, is expected to close early next year.
            | Shares of {company} {rose_fell} {few} percent to ${num} on the New York Stock \
            Exchange.
            | The Commerce Department said {econ_stat}.
            | The Dow Jones industrial average {rose_fell} {points} points in afternoon trading.
            | The company plans to close {few} plants and cut its workforce by {few} percent.""",
        "company": """Wal-Mart | General Motors | Boeing | Pfizer | Citigroup | Delta Air Lines
            | Exxon Mobil | Coca-Cola | Kmart | Sears | Ford | Merck | Morgan Stanley
            | Time Warner | Nike | Starbucks | Alcoa | FedEx | Kraft Foods | Viacom | Intel
            | Microsoft | Sony | Google | Nokia""",
        "up_down": "rises | falls | jumps | slips | surges | drops",
        "cause": """strong sales | cost cuts | weak demand | higher fuel costs | lower prices
            | overseas growth | pension charges""",
        "oil_move": "climb | fall | hit record | ease",
        "oil_cause": """supplies tighten | hurricane threatens Gulf output
            | OPEC signals output increase | demand from China grows""",
        "market_move": "rise | fall | rally | slide | edge higher | close lower",
        "dollar_move": "rises | falls | slips | gains | hits record low",
        "market_cause": """earnings reports | oil prices | rate worries | jobs data
            | retail sales | merger news""",
        "jobs": "1,200 | 2,500 | 4,000 | 6,700 | 10,000 | 14,000",
        "quarter": "first-quarter | second-quarter | third-quarter | fourth-quarter",
        "rose_fell": "rose | fell | climbed | dropped",
        "b_factor": """demand in Asia | fuel costs | the dollar | pension costs | holiday sales
            | the price of steel""",
        "oil_price": _numbers(41, 55),
        "points": _numbers(12, 160),
        "econ_stat": """retail sales rose more than expected last month
            | factory orders fell for a second month | consumer spending held steady in September
            | the trade deficit widened to a record | housing starts jumped to a five-month high""",
    },
    "Sci/Tech": {
        "headline": """{techco} unveils new {gadget}
            | {techco} releases security patch for {software}
            | scientists discover {discovery} | NASA {nasa_act} {mission}
            | new virus targets {software} users | {techco} sues {techco} over patents
            | astronomers spot {astro} | study finds {finding} | hackers exploit flaw in {software}
            | {techco} to offer free {service}""",
        "body": """The new {gadget} will go on sale in {month} and will cost about ${price}.
            | {techco} said quarterly profit rose {num} percent on strong demand for its chips.
            | Shares of {techco} fell {few} percent after the company cut its sales forecast.
            | Researchers at {univ} said the finding could help {sci_help}.
            | The worm spreads through e-mail attachments and {worm_act}.
            | The spacecraft is expected to reach {planet} in {year}.
            | The software maker said the update fixes {few} critical flaws in {software}.
            | The chip, built on a {nm}-nanometer process, runs faster while using less power.
            | Analysts said the move puts pressure on {techco} in the market for {market}.
            | The images, sent back by the probe on {day}, show {planet_feature}.
            | Users can download a test version from the company's Web site starting {day}.""",
        "techco": """Microsoft | Apple | Google | IBM | Intel | Sun Microsystems | Yahoo | Nokia
            | Sony | AMD | Dell | Hewlett-Packard | Motorola | Cisco""",
        "gadget": """music player | laptop | mobile phone | search tool | chip | server
            | game console | operating system""",
        "software": """Windows | Internet Explorer | Office | its Web browser | its e-mail software
            | its database""",
        "discovery": """new species of frog | gene linked to aging | water ice on Mars
            | ancient fossil in China | Earth-like planet""",
        "nasa_act": "launches | delays launch of | prepares | loses contact with",
        "mission": """Mars rover | space shuttle mission | Saturn probe | comet probe
            | Hubble repair mission""",
        "astro": "distant galaxy | giant black hole | new moon of Saturn | comet near Jupiter",
        "finding": """climate warming faster than thought | broadband use doubling
            | spam volume rising | online shopping booming""",
        "service": "e-mail storage | music downloads | Internet calling | photo sharing",
        "price": "99 | 149 | 199 | 249 | 299 | 399 | 499 | 999",
        "univ": """Stanford University | MIT | the University of California | Oxford University
            | Caltech | the University of Arizona""",
        "sci_help": """doctors treat heart disease | explain how the universe formed
            | develop drought-resistant crops | predict earthquakes | slow the spread of malaria""",
        "worm_act": """opens a back door on infected computers
            | sends copies of itself to everyone in the address book
            | disables antivirus software""",
        "planet": "Mars | Saturn | Jupiter | Titan | a comet | Mercury",
        "nm": "90 | 65 | 130",
        "market": """search | online music | mobile phones | desktop chips | servers
            | portable players""",
        "planet_feature": """dark streaks on the surface | a thick orange haze
            | craters and icy ridges | what may be dried-up river beds""",
    },
}
_SMALL_TITLE_WORDS = {"a", "an", "the", "of", "in", "on", "for", "to", "and", "as", "at", "by"}


def _title_case(headline: str) -> str:
    """Headline capitalisation: every word capitalised except short function words."""
    words = headline.split()
    titled = [
        word if index and word in _SMALL_TITLE_WORDS else _cap(word)
        for index, word in enumerate(words)
    ]
    return " ".join(titled)


@cache
def _news_rules(label: str) -> dict[str, tuple[str, ...]]:
    """The grammar of one label's news: its own words plus the shared ones."""
    words = {**_NEWS_SHARED_WORDS, **_NEWS_WORDS[label]}
    return {key: _alts(text) for key, text in words.items()}


def _make_news(rng: random.Random, cell: tuple) -> str:
    """One news snippet for a label: a headline and one or two sentences of description."""
    (label_id,) = cell
    rules = _news_rules(_NEWS_LABEL_BY_ID[label_id])
    used: set[tuple[str, str]] = set()
    headline = _title_case(_expand("{headline}", rng, rules, {}, used))
    frames = ["{body}"]
    if rng.random() < 0.67:  # a second sentence: mostly the story's own, sometimes generic
        frames.append("{body}" if rng.random() < 0.7 else "{shared_body}")
    body = " ".join(_cap(_expand(frame, rng, rules, {}, used)) for frame in frames)
    if rng.random() < 0.6:  # AG News' usual "Title (Source) Source - description" shape
        source = _expand("{source}", rng, rules, {}, used)
        return _fix_articles(f"{headline} ({source}) {source} - {body}")
    return _fix_articles(f"{headline} {body}")


_NEWS_LABEL_BY_ID = {index: name for name, index in AG_NEWS_LABELS.items()}


# ---------------------------------------------------------------------------------------------
# Helsinki-NLP/europarl: parliamentary sentences in five languages
# ---------------------------------------------------------------------------------------------

EUROPARL_LANGUAGES = ("en", "fr", "de", "es", "nl")

# The same sentence frames in every language, written to be grammatical with every filler:
# fillers carry their own articles and cases (German topics are accusative noun phrases, French
# and Spanish ones follow prepositions that never contract), and subjects are singular.
# "speech" frames may follow an address ("Mr President, ..."); "chair" frames are procedure.
_EUROPARL_FRAMES: dict[str, dict[str, str]] = {
    "en": {
        "speech": """{addr}, I would like to begin by thanking the rapporteur for the excellent \
            report on {topic}.
            | {actor} must present a proposal on {topic} {deadline}.
            | The situation {in_country} remains {worrying}.
            | I voted {for_against} this report because {reason}.
            | This report is an important step towards {goal}.
            | We must not forget that {fact}.
            | On behalf of {group}, I would like to say that we support the compromise on {topic}.
            | {actor} has so far done too little for {topic}.
            | I would like to ask the Commissioner what measures are planned for {topic}.
            | This is a question of great importance for {people}.
            | {actor} must {action} {deadline}.""",
        "chair": """The debate is closed. The vote will take place {vote_time}.
            | The Minutes of {sitting} have been distributed. Are there any comments?
            | The next item is the report by {mr} {surname}, on behalf of the Committee on \
            {committee}, on {topic}.""",
    },
    "fr": {
        "speech": """{addr}, je voudrais tout d'abord remercier le rapporteur pour son excellent \
            rapport sur {topic}.
            | {actor} doit présenter une proposition sur {topic} {deadline}.
            | La situation {in_country} reste {worrying}.
            | J'ai voté {for_against} ce rapport parce qu'{reason}.
            | Ce rapport constitue une étape importante vers {goal}.
            | Nous ne devons pas oublier que {fact}.
            | Au nom {group}, je voudrais dire que nous soutenons le compromis sur {topic}.
            | {actor} a jusqu'à présent fait trop peu pour {topic}.
            | Je voudrais demander au commissaire quelles mesures sont prévues pour {topic}.
            | Il s'agit d'une question d'une grande importance pour {people}.
            | {actor} doit {action} {deadline}.""",
        "chair": """Le débat est clos. Le vote aura lieu {vote_time}.
            | Le procès-verbal de {sitting} a été distribué. Y a-t-il des observations ?
            | L'ordre du jour appelle le rapport de {mr} {surname}, au nom de la commission \
            {committee}, sur {topic}.""",
    },
    "de": {
        "speech": """{addr}, zunächst möchte ich dem Berichterstatter für seinen ausgezeichneten \
            Bericht über {topic} danken.
            | {actor} muss {deadline} einen Vorschlag für {topic} vorlegen.
            | Die Lage {in_country} ist nach wie vor {worrying}.
            | Ich habe {for_against} diesen Bericht gestimmt, weil {reason}.
            | Dieser Bericht ist ein wichtiger Schritt hin zu {goal}.
            | Wir dürfen nicht vergessen, dass {fact}.
            | Im Namen {group} möchte ich sagen, dass wir den Kompromiss über {topic} unterstützen.
            | {actor} hat bisher zu wenig für {topic} getan.
            | Ich möchte den Herrn Kommissar fragen, welche Maßnahmen für {topic} geplant sind.
            | Es handelt sich um eine Frage von großer Bedeutung für {people}.
            | {actor} muss {deadline} {action}.""",
        "chair": """Die Aussprache ist geschlossen. Die Abstimmung findet {vote_time} statt.
            | Das Protokoll {sitting} wurde verteilt. Gibt es Einwände?
            | Nach der Tagesordnung folgt der Bericht von {mr} {surname} im Namen des \
            {committee} über {topic}.""",
    },
    "es": {
        "speech": """{addr}, en primer lugar quisiera dar las gracias al ponente por su \
            excelente informe sobre {topic}.
            | {actor} debe presentar una propuesta sobre {topic} {deadline}.
            | La situación {in_country} sigue siendo {worrying}.
            | He votado {for_against} este informe porque {reason}.
            | Este informe es un paso importante hacia {goal}.
            | No debemos olvidar que {fact}.
            | En nombre {group}, quisiera decir que apoyamos el compromiso sobre {topic}.
            | {actor} ha hecho hasta ahora demasiado poco por {topic}.
            | Quisiera preguntar al señor Comisario qué medidas están previstas para {topic}.
            | Se trata de una cuestión de gran importancia para {people}.
            | {actor} debe {action} {deadline}.""",
        "chair": """El debate queda cerrado. La votación tendrá lugar {vote_time}.
            | El Acta de {sitting} ha sido distribuida. ¿Hay alguna observación?
            | De conformidad con el orden del día, se procede al debate del informe {mr} \
            {surname}, en nombre de la Comisión de {committee}, sobre {topic}.""",
    },
    "nl": {
        "speech": """{addr}, allereerst wil ik de rapporteur bedanken voor zijn uitstekende \
            verslag over {topic}.
            | {actor} moet {deadline} een voorstel over {topic} indienen.
            | De situatie {in_country} blijft {worrying}.
            | Ik heb {for_against} dit verslag gestemd, omdat {reason}.
            | Dit verslag is een belangrijke stap in de richting van {goal}.
            | We mogen niet vergeten dat {fact}.
            | Namens {group} wil ik zeggen dat wij het compromis over {topic} steunen.
            | {actor} heeft tot nu toe te weinig gedaan voor {topic}.
            | Ik zou de commissaris willen vragen welke maatregelen er voor {topic} gepland zijn.
            | Het gaat om een kwestie van groot belang voor {people}.
            | {actor} moet {deadline} {action}.""",
        "chair": """Het debat is gesloten. De stemming vindt {vote_time} plaats.
            | De notulen van {sitting} zijn rondgedeeld. Zijn er opmerkingen?
            | Aan de orde is het verslag van {mr} {surname}, namens de Commissie {committee}, \
            over {topic}.""",
    },
}
_EUROPARL_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "addr": """Mr President | Madam President | Mr President, Commissioner
            | Mr President, ladies and gentlemen""",
        "actor": "the Commission | the Council | the Presidency | the European Union",
        "topic": """the common agricultural policy | road safety | the rights of passengers
            | the fight against unemployment | the reform of the structural funds
            | the protection of refugees | food safety | the enlargement of the Union
            | the energy supply of Europe | equal opportunities for women and men
            | the control of the external borders | the protection of the environment
            | the fisheries agreement with Morocco | the budget for next year
            | the liberalisation of the rail market | the protection of personal data
            | cooperation with the developing countries | the single currency | maritime safety
            | the situation of small and medium-sized enterprises""",
        "deadline": """as soon as possible | before the end of the year | without further delay
            | within six months | this year""",
        "in_country": """in Belarus | in Sudan | in Zimbabwe | in Burma | in the Middle East
            | in Chechnya | in Kosovo | in the Democratic Republic of Congo""",
        "worrying": "very worrying | extremely serious | deeply alarming | unacceptable",
        "for_against": "in favour of | against",
        "reason": """it strengthens the rights of consumers
            | it does not respect the principle of subsidiarity
            | it places an excessive burden on small businesses | it protects the environment
            | it ignores the concerns of farmers
            | it improves transparency in the decision-making process""",
        "goal": """a common energy policy | a genuine internal market for services
            | greater transparency | better lawmaking | a citizens' Europe
            | sustainable fisheries""",
        "fact": """millions of Europeans are still unemployed
            | the citizens expect concrete results from us
            | small and medium-sized enterprises create most new jobs
            | the enlargement of the Union brings new responsibilities
            | climate change affects the poorest regions first""",
        "group": """the Socialist Group | the Group of the Greens | the Liberal Group
            | the PPE-DE Group""",
        "people": """the citizens of Europe | farmers and fishermen | young people | consumers
            | the new Member States | workers""",
        "action": """take its responsibilities | respect the Treaty | listen to the citizens
            | show more ambition | keep its word""",
        "vote_time": """tomorrow at 12 noon | on Thursday | at the next part-session
            | today at 11.30 | this afternoon""",
        "sitting": "yesterday's sitting | the previous sitting | Thursday's sitting",
        "mr": "Mr | Mrs",
        "committee": """Agriculture and Rural Development
            | the Environment, Public Health and Food Safety | Foreign Affairs
            | Transport and Tourism | Employment and Social Affairs | Civil Liberties
            | Industry, Research and Energy | Budgets""",
    },
    "fr": {
        "addr": """Monsieur le Président | Madame la Présidente
            | Monsieur le Président, Monsieur le Commissaire
            | Monsieur le Président, chers collègues""",
        "actor": "la Commission | le Conseil | la présidence | l'Union européenne",
        "topic": """la politique agricole commune | la sécurité routière | les droits des passagers
            | la lutte contre le chômage | la réforme des fonds structurels
            | la protection des réfugiés | la sécurité alimentaire | l'élargissement de l'Union
            | l'approvisionnement énergétique de l'Europe
            | l'égalité des chances entre les femmes et les hommes
            | le contrôle des frontières extérieures | la protection de l'environnement
            | l'accord de pêche avec le Maroc | le budget de l'année prochaine
            | la libéralisation du marché ferroviaire | la protection des données personnelles
            | la coopération avec les pays en développement | la monnaie unique
            | la sécurité maritime | la situation des petites et moyennes entreprises""",
        "deadline": """dès que possible | avant la fin de l'année | sans plus tarder
            | dans les six mois | cette année""",
        "in_country": """au Bélarus | au Soudan | au Zimbabwe | en Birmanie | au Proche-Orient
            | en Tchétchénie | au Kosovo | en République démocratique du Congo""",
        "worrying": """très préoccupante | extrêmement grave | profondément alarmante
            | inacceptable""",
        "for_against": "pour | contre",
        "reason": """il renforce les droits des consommateurs
            | il ne respecte pas le principe de subsidiarité
            | il impose une charge excessive aux petites entreprises | il protège l'environnement
            | il ignore les préoccupations des agriculteurs
            | il améliore la transparence du processus décisionnel""",
        "goal": """une politique énergétique commune | un véritable marché intérieur des services
            | une plus grande transparence | une meilleure législation | une Europe des citoyens
            | une pêche durable""",
        "fact": """des millions d'Européens sont toujours au chômage
            | les citoyens attendent de nous des résultats concrets
            | les petites et moyennes entreprises créent la plupart des nouveaux emplois
            | l'élargissement de l'Union apporte de nouvelles responsabilités
            | le changement climatique touche d'abord les régions les plus pauvres""",
        "group": """du groupe socialiste | du groupe des Verts | du groupe libéral
            | du groupe PPE-DE""",
        "people": """les citoyens européens | les agriculteurs et les pêcheurs | les jeunes
            | les consommateurs | les nouveaux États membres | les travailleurs""",
        "action": """prendre ses responsabilités | respecter le traité | écouter les citoyens
            | faire preuve de plus d'ambition | tenir parole""",
        "vote_time": """demain à midi | jeudi | lors de la prochaine période de session
            | aujourd'hui à 11 h 30 | cet après-midi""",
        "sitting": "la séance d'hier | la séance précédente | la séance de jeudi",
        "mr": "M. | Mme",
        "committee": """de l'agriculture et du développement rural
            | de l'environnement, de la santé publique et de la sécurité alimentaire
            | des affaires étrangères | des transports et du tourisme
            | de l'emploi et des affaires sociales | des libertés civiles
            | de l'industrie, de la recherche et de l'énergie | des budgets""",
    },
    "de": {
        "addr": """Herr Präsident | Frau Präsidentin | Herr Präsident, Herr Kommissar
            | Herr Präsident, liebe Kolleginnen und Kollegen""",
        "actor": "die Kommission | der Rat | die Präsidentschaft | die Europäische Union",
        "topic": """die gemeinsame Agrarpolitik | die Sicherheit im Straßenverkehr
            | die Rechte der Fahrgäste | die Bekämpfung der Arbeitslosigkeit
            | die Reform der Strukturfonds | den Schutz der Flüchtlinge
            | die Lebensmittelsicherheit | die Erweiterung der Union | die Energieversorgung Europas
            | die Chancengleichheit von Frauen und Männern | die Kontrolle der Außengrenzen
            | den Schutz der Umwelt | das Fischereiabkommen mit Marokko
            | den Haushalt für das nächste Jahr | die Liberalisierung des Schienenverkehrs
            | den Schutz personenbezogener Daten | die Zusammenarbeit mit den Entwicklungsländern
            | die einheitliche Währung | die Sicherheit auf See
            | die Lage der kleinen und mittleren Unternehmen""",
        "deadline": """so bald wie möglich | noch vor Ende des Jahres | unverzüglich
            | innerhalb von sechs Monaten | noch in diesem Jahr""",
        "in_country": """in Belarus | im Sudan | in Simbabwe | in Birma | im Nahen Osten
            | in Tschetschenien | im Kosovo | in der Demokratischen Republik Kongo""",
        "worrying": "sehr besorgniserregend | äußerst ernst | zutiefst alarmierend | inakzeptabel",
        "for_against": "für | gegen",
        "reason": """er die Rechte der Verbraucher stärkt
            | er den Grundsatz der Subsidiarität nicht achtet
            | er den kleinen Unternehmen eine übermäßige Belastung auferlegt
            | er die Umwelt schützt | er die Sorgen der Landwirte ignoriert
            | er die Transparenz des Entscheidungsprozesses verbessert""",
        "goal": """einer gemeinsamen Energiepolitik | einem echten Binnenmarkt für Dienstleistungen
            | mehr Transparenz | einer besseren Rechtsetzung | einem Europa der Bürger
            | einer nachhaltigen Fischerei""",
        "fact": """Millionen von Europäern noch immer arbeitslos sind
            | die Bürger konkrete Ergebnisse von uns erwarten
            | die kleinen und mittleren Unternehmen die meisten neuen Arbeitsplätze schaffen
            | die Erweiterung der Union neue Verantwortung mit sich bringt
            | der Klimawandel zuerst die ärmsten Regionen trifft""",
        "group": """der Sozialdemokratischen Fraktion | der Fraktion der Grünen
            | der Liberalen Fraktion | der PPE-DE-Fraktion""",
        "people": """die Bürgerinnen und Bürger Europas | die Landwirte und Fischer
            | die jungen Menschen | die Verbraucher | die neuen Mitgliedstaaten
            | die Arbeitnehmer""",
        "action": """Verantwortung übernehmen | den Vertrag respektieren | auf die Bürger hören
            | mehr Ehrgeiz zeigen | Wort halten""",
        "vote_time": """morgen um 12 Uhr | am Donnerstag | in der nächsten Tagung
            | heute um 11.30 Uhr | heute Nachmittag""",
        "sitting": """der gestrigen Sitzung | der vorangegangenen Sitzung
            | der Sitzung vom Donnerstag""",
        "mr": "Herrn | Frau",
        "committee": """Ausschusses für Landwirtschaft und ländliche Entwicklung
            | Ausschusses für Umweltfragen, Volksgesundheit und Lebensmittelsicherheit
            | Ausschusses für auswärtige Angelegenheiten
            | Ausschusses für Verkehr und Fremdenverkehr
            | Ausschusses für Beschäftigung und soziale Angelegenheiten
            | Ausschusses für bürgerliche Freiheiten
            | Ausschusses für Industrie, Forschung und Energie | Haushaltsausschusses""",
    },
    "es": {
        "addr": """Señor Presidente | Señora Presidenta | Señor Presidente, señor Comisario
            | Señor Presidente, Señorías""",
        "actor": "la Comisión | el Consejo | la Presidencia | la Unión Europea",
        "topic": """la política agrícola común | la seguridad vial | los derechos de los pasajeros
            | la lucha contra el desempleo | la reforma de los fondos estructurales
            | la protección de los refugiados | la seguridad alimentaria
            | la ampliación de la Unión | el abastecimiento energético de Europa
            | la igualdad de oportunidades entre mujeres y hombres
            | el control de las fronteras exteriores | la protección del medio ambiente
            | el acuerdo de pesca con Marruecos | el presupuesto del próximo año
            | la liberalización del mercado ferroviario | la protección de los datos personales
            | la cooperación con los países en desarrollo | la moneda única
            | la seguridad marítima | la situación de las pequeñas y medianas empresas""",
        "deadline": """lo antes posible | antes de que acabe el año | sin más demora
            | en un plazo de seis meses | este mismo año""",
        "in_country": """en Belarús | en Sudán | en Zimbabue | en Birmania | en Oriente Próximo
            | en Chechenia | en Kosovo | en la República Democrática del Congo""",
        "worrying": """muy preocupante | extremadamente grave | profundamente alarmante
            | inaceptable""",
        "for_against": "a favor de | en contra de",
        "reason": """refuerza los derechos de los consumidores
            | no respeta el principio de subsidiariedad
            | impone una carga excesiva a las pequeñas empresas | protege el medio ambiente
            | ignora las preocupaciones de los agricultores
            | mejora la transparencia del proceso de toma de decisiones""",
        "goal": """una política energética común | un verdadero mercado interior de servicios
            | una mayor transparencia | una mejor legislación | una Europa de los ciudadanos
            | una pesca sostenible""",
        "fact": """millones de europeos siguen sin empleo
            | los ciudadanos esperan de nosotros resultados concretos
            | las pequeñas y medianas empresas crean la mayoría de los nuevos empleos
            | la ampliación de la Unión trae consigo nuevas responsabilidades
            | el cambio climático afecta primero a las regiones más pobres""",
        "group": """del Grupo Socialista | del Grupo de los Verdes | del Grupo Liberal
            | del Grupo PPE-DE""",
        "people": """los ciudadanos europeos | los agricultores y los pescadores | los jóvenes
            | los consumidores | los nuevos Estados miembros | los trabajadores""",
        "action": """asumir sus responsabilidades | respetar el Tratado | escuchar a los ciudadanos
            | mostrar más ambición | cumplir su palabra""",
        "vote_time": """mañana a las 12.00 horas | el jueves
            | en el próximo período parcial de sesiones | hoy a las 11.30 horas | esta tarde""",
        "sitting": "la sesión de ayer | la sesión anterior | la sesión del jueves",
        "mr": "del señor | de la señora",
        "committee": """Agricultura y Desarrollo Rural
            | Medio Ambiente, Salud Pública y Seguridad Alimentaria | Asuntos Exteriores
            | Transportes y Turismo | Empleo y Asuntos Sociales | Libertades Civiles
            | Industria, Investigación y Energía | Presupuestos""",
    },
    "nl": {
        "addr": """Mijnheer de Voorzitter | Mevrouw de Voorzitter
            | Mijnheer de Voorzitter, mijnheer de commissaris
            | Mijnheer de Voorzitter, geachte collega's""",
        "actor": "de Commissie | de Raad | het voorzitterschap | de Europese Unie",
        "topic": """het gemeenschappelijk landbouwbeleid | de verkeersveiligheid
            | de rechten van passagiers | de bestrijding van de werkloosheid
            | de hervorming van de structuurfondsen | de bescherming van vluchtelingen
            | de voedselveiligheid | de uitbreiding van de Unie | de energievoorziening van Europa
            | gelijke kansen voor vrouwen en mannen | de controle van de buitengrenzen
            | de bescherming van het milieu | de visserijovereenkomst met Marokko
            | de begroting voor volgend jaar | de liberalisering van de spoorwegmarkt
            | de bescherming van persoonsgegevens | de samenwerking met de ontwikkelingslanden
            | de gemeenschappelijke munt | de veiligheid op zee
            | de situatie van het midden- en kleinbedrijf""",
        "deadline": """zo spoedig mogelijk | voor het einde van het jaar | zonder verder uitstel
            | binnen zes maanden | nog dit jaar""",
        "in_country": """in Wit-Rusland | in Soedan | in Zimbabwe | in Birma | in het Midden-Oosten
            | in Tsjetsjenië | in Kosovo | in de Democratische Republiek Congo""",
        "worrying": "zeer zorgwekkend | uiterst ernstig | diep verontrustend | onaanvaardbaar",
        "for_against": "voor | tegen",
        "reason": """het de rechten van de consumenten versterkt
            | het het subsidiariteitsbeginsel niet respecteert
            | het een buitensporige last oplegt aan kleine ondernemingen
            | het het milieu beschermt | het de zorgen van de landbouwers negeert
            | het de transparantie van het besluitvormingsproces verbetert""",
        "goal": """een gemeenschappelijk energiebeleid | een echte interne markt voor diensten
            | meer transparantie | betere regelgeving | een Europa van de burgers
            | een duurzame visserij""",
        "fact": """miljoenen Europeanen nog steeds werkloos zijn
            | de burgers concrete resultaten van ons verwachten
            | het midden- en kleinbedrijf de meeste nieuwe banen schept
            | de uitbreiding van de Unie nieuwe verantwoordelijkheden met zich meebrengt
            | de klimaatverandering eerst de armste regio's treft""",
        "group": """de socialistische fractie | de fractie De Groenen | de liberale fractie
            | de PPE-DE-Fractie""",
        "people": """de Europese burgers | boeren en vissers | jongeren | de consumenten
            | de nieuwe lidstaten | de werknemers""",
        "action": """verantwoordelijkheid nemen | het Verdrag respecteren
            | naar de burgers luisteren
            | meer ambitie tonen | woord houden""",
        "vote_time": """morgen om 12.00 uur | donderdag | tijdens de volgende vergaderperiode
            | vandaag om 11.30 uur | vanmiddag""",
        "sitting": """de vergadering van gisteren | de vorige vergadering
            | de vergadering van donderdag""",
        "mr": "de heer | mevrouw",
        "committee": """landbouw en plattelandsontwikkeling
            | milieubeheer, volksgezondheid en voedselveiligheid | buitenlandse zaken
            | vervoer en toerisme | werkgelegenheid en sociale zaken | burgerlijke vrijheden
            | industrie, onderzoek en energie | begrotingen""",
    },
}
# Members' surnames, the same in every language.
_EUROPARL_SURNAMES = """Schulz | Lambert | García | Van den Berg | Rossi | Andersson | Dupont
    | Kowalski | Papadopoulos | Müller | O'Neill | Jensen | Martins | De Vries | Fernández
    | Moreau | Novák | Bianchi | Virtanen | Costa"""


@cache
def _europarl_rules(language: str) -> dict[str, tuple[str, ...]]:
    """The grammar of one language: its frames and words, plus the shared surnames."""
    words = {**_EUROPARL_WORDS[language], **_EUROPARL_FRAMES[language]}
    words["surname"] = _EUROPARL_SURNAMES
    return {key: _alts(text) for key, text in words.items()}


def _after_address(sentence: str, language: str) -> str:
    """A sentence continued after "Mr President, ": lower-case its first letter, but not "I"."""
    if language == "en" and (sentence.startswith("I ") or sentence.startswith("I'")):
        return sentence
    return sentence[:1].lower() + sentence[1:]


def _europarl_sentence(rng: random.Random, rules: Mapping, language: str, used: set) -> str:
    """A chair's procedural sentence, or a speaker's sentence that may open with an address."""
    if rng.random() < 0.2:
        return _cap(_expand("{chair}", rng, rules, {}, used))
    frame = _pick(rng, rules["speech"])
    sentence = _cap(_expand(frame, rng, rules, {}, used))
    if "{addr}" not in frame and rng.random() < 0.25:
        address = _expand("{addr}", rng, rules, {}, used)
        sentence = f"{address}, {_after_address(sentence, language)}"
    return sentence


def _make_europarl(rng: random.Random, cell: tuple) -> str:
    """One or two parliamentary sentences in a language."""
    (language,) = cell
    rules = _europarl_rules(language)
    used: set[tuple[str, str]] = set()
    sentences = [_europarl_sentence(rng, rules, language, used)]
    if rng.random() < 0.5:
        sentences.append(_europarl_sentence(rng, rules, language, used))
    return " ".join(sentences)


# ---------------------------------------------------------------------------------------------
# codeparrot/github-code: source files in C, Python, HTML, Java and PHP
# ---------------------------------------------------------------------------------------------

GITHUB_CODE_LANGUAGES = ("C", "Python", "HTML", "Java", "PHP")
_MIN_CODE_CHARS = 650  # above SAEBench's 534-character cut, with room to spare

_CODE_NOUNS = _alts("""
    user | order | invoice | packet | buffer | record | session | token | message | account
    product | customer | node | edge | file | image | event | task | job | item | entry | config
    request | response | report | payment | device | sensor | channel | queue | cache | grid
    vector | student | course | book | ticket | booking | route | vehicle | shipment | widget
    player | score | frame | sample | batch | document | comment | post | tag | category
""")
_CODE_VERBS = _alts("""
    load | parse | validate | compute | build | render | fetch | update | process | format
    merge | filter | sort | count | find | save | encode | decode | normalize | resolve
    collect | send | read | write | handle | register | schedule | convert | apply | export
""")
_CODE_FIELDS = _alts("""
    name | title | status | price | total | email | weight | score | priority | rate
    balance | speed | duration | size | label | owner | level | amount | offset | version
""")
_CODE_KINDS = _alts("""
    Manager | Service | Repository | Store | Handler | Builder | Parser | Registry | Controller
    Helper | Cache | Pool | Index | Tracker
""")
_CODE_WORDS = {
    "org": """Acme Corp | Initech | Globex | Northwind Labs | Contoso | Hooli | Umbrella Software
        | Stark Industries | Wayne Tech | the Foo Project""",
    "license": "MIT | BSD 3-Clause | Apache 2.0 | GPL-3.0",
    "purpose": """helpers | utilities | management | parsing routines | storage layer
        | command-line tools | core logic""",
    "num": _numbers(8, 512),
    "few": _numbers(2, 9),
    "year": _numbers(2009, 2023),
    "delay": "0.1 | 0.25 | 0.5 | 1.0 | 2.0",
    "exc": "OSError, ValueError | ConnectionError | TimeoutError | IOError | KeyError",
    "status": "Active | Pending | Closed | Draft | Archived | Failed",
    "navitem": """<li><a href="/">Home</a></li> | <li><a href="/about">About</a></li>
        | <li><a href="/services">Services</a></li> | <li><a href="/blog">Blog</a></li>
        | <li><a href="/contact">Contact</a></li> | <li><a href="/pricing">Pricing</a></li>
        | <li><a href="/careers">Careers</a></li> | <li><a href="/docs">Docs</a></li>""",
    "cta": "Learn more | Get started | View all | Sign up | Read more | Contact us",
    "css_class": "section-light | highlight | card-grid | intro | features | muted",
    "option": "Standard | Express | Basic | Premium | Monthly | Yearly | Default",
    "sentence": """Manage every «noun» in one place with «Site».
        | Our team reviews each «noun» within \
        «few» days. | Track the status of your «nouns» from any device.
        | Sign up today and get your first «few» «nouns» free.
        | We have helped thousands of teams organize their «nouns».
        | Every «noun» is checked twice before it ships.
        | Questions? Our support team is here to help.
        | Updated «nouns» appear here as soon as they are approved.""",
    "Title": """«Noun» Overview | Latest «Nouns» | About Our «Nouns» | «Noun» Dashboard
        | Manage «Nouns»""",
    "value": "Alpha | Beta | Gamma | North | South | Central | Main | Backup | Legacy | Primary",
}


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _code_bindings(rng: random.Random) -> dict[str, str]:
    """The identifiers of one file: a main noun, a verb, two fields, a class kind, a site."""
    noun, verb = _pick(rng, _CODE_NOUNS), _pick(rng, _CODE_VERBS)
    field, field2 = _pick_distinct(rng, _CODE_FIELDS, 2)
    kind = _pick(rng, _CODE_KINDS)
    site = _pick(rng, _CODE_NOUNS) + _pick(rng, ("ly", "hub", "base", "works", "desk", "io"))
    nouns = _plural(noun)
    return {
        "noun": noun,
        "nouns": nouns,
        "Noun": _cap(noun),
        "Nouns": _cap(nouns),
        "NOUN": noun.upper(),
        "NOUNS": nouns.upper(),
        "verb": verb,
        "Verb": _cap(verb),
        "field": field,
        "Field": _cap(field),
        "field2": field2,
        "Field2": _cap(field2),
        "letter": field[0],
        "kind": kind,
        "kind_l": kind[0].lower() + kind[1:],
        "site": site,
        "Site": _cap(site),
    }


# Per language: file headers, body blocks (several are drawn per file) and optional endings.
# Templates use «slot» because braces are code.
_CODE_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "Python": {
        "header": (
            r'''#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""«Noun» «purpose»."""

import argparse
import os
import sys
''',
            r"""# Copyright (c) «year» «org» contributors.
# Licensed under the «license» license.

from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)
""",
            r'''"""Helpers for working with «nouns»."""

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
''',
        ),
        "block": (
            r'''def «verb»_«nouns»(«nouns», limit=«num»):
    """«Verb» the given «nouns» and return at most `limit` of them."""
    result = []
    for «noun» in «nouns»:
        if «noun» is None:
            continue
        if len(result) >= limit:
            break
        result.append(«noun»)
    return result
''',
            r'''class «Noun»«kind»:
    """Keeps «noun» objects by key."""

    def __init__(self, name, capacity=«num»):
        self.name = name
        self.capacity = capacity
        self._items = {}

    def add(self, key, «noun»):
        if len(self._items) >= self.capacity:
            raise ValueError("«noun» store is full")
        self._items[key] = «noun»

    def get(self, key, default=None):
        return self._items.get(key, default)

    def __len__(self):
        return len(self._items)
''',
            r"""@dataclass
class «Noun»:
    «field»: str
    «field2»: int = «few»
    tags: list = field(default_factory=list)

    def to_dict(self):
        return {"«field»": self.«field», "«field2»": self.«field2», "tags": list(self.tags)}
""",
            r"""def count_«nouns»_by_«field»(«nouns»):
    counts = defaultdict(int)
    for «noun» in «nouns»:
        counts[«noun».«field»] += 1
    return dict(sorted(counts.items(), key=lambda kv: kv[1], reverse=True))
""",
            r"""def load_«nouns»(path):
    «nouns» = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                «nouns».append(json.loads(line))
            except ValueError:
                logger.warning("skipping bad «noun» on line %d", line_number)
    return «nouns»
""",
            r"""def «verb»_with_retry(func, attempts=«few», delay=«delay»):
    last_error = None
    for attempt in range(attempts):
        try:
            return func()
        except («exc») as error:
            last_error = error
            time.sleep(delay * (2 ** attempt))
    raise RuntimeError("giving up after %d attempts" % attempts) from last_error
""",
            r"""class «Noun»«kind»(object):
    def __init__(self, «nouns»=None):
        self.«nouns» = list(«nouns» or [])

    @property
    def total_«field»(self):
        return sum(getattr(item, "«field»", 0) for item in self.«nouns»)

    def «verb»(self, key):
        for item in self.«nouns»:
            if item.id == key:
                return item
        raise KeyError(key)
""",
            r"""_«NOUN»_PATTERN = re.compile(r"^(?P<«field»>[a-z_]+)=(?P<value>.*)$")


def «verb»_«noun»_line(line):
    match = _«NOUN»_PATTERN.match(line.strip())
    if match is None:
        return None
    return match.group("«field»"), match.group("value").strip()
""",
        ),
        "ending": (
            r"""def main(argv=None):
    parser = argparse.ArgumentParser(description="«Verb» «nouns» from a file.")
    parser.add_argument("path", help="input file")
    parser.add_argument("--limit", type=int, default=«num»)
    args = parser.parse_args(argv)
    «nouns» = load_«nouns»(args.path)
    print(f"loaded {len(«nouns»)} «nouns»")
    return 0


if __name__ == "__main__":
    sys.exit(main())
""",
        ),
    },
    "C": {
        "header": (
            r"""/*
 * «noun».c - «purpose» for «nouns»
 *
 * Copyright (C) «year» «org»
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
""",
            r"""#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include "«noun».h"

#define MAX_«NOUNS» «num»
#define «NOUN»_NAME_LEN «few»«few»
""",
            r"""// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>

static int «noun»_debug;
""",
        ),
        "block": (
            r"""typedef struct «noun» {
    int id;
    char name[«num»];
    double «field»;
    struct «noun» *next;
} «noun»_t;
""",
            r"""«noun»_t *«noun»_create(int id, const char *name)
{
    «noun»_t *«noun» = malloc(sizeof(*«noun»));
    if («noun» == NULL)
        return NULL;
    memset(«noun», 0, sizeof(*«noun»));
    «noun»->id = id;
    strncpy(«noun»->name, name, sizeof(«noun»->name) - 1);
    return «noun»;
}

void «noun»_free(«noun»_t *«noun»)
{
    free(«noun»);
}
""",
            r"""static double «verb»_«field»(const «noun»_t *items, size_t count)
{
    double total = 0.0;
    size_t i;

    for (i = 0; i < count; i++) {
        if (items[i].«field» < 0)
            continue;
        total += items[i].«field»;
    }
    return count ? total / count : 0.0;
}
""",
            r"""«noun»_t *«noun»_find(«noun»_t *head, int id)
{
    while (head != NULL) {
        if (head->id == id)
            return head;
        head = head->next;
    }
    return NULL;
}
""",
            r"""static int parse_«noun»_line(const char *line, «noun»_t *out)
{
    char key[32];
    int value;

    if (sscanf(line, "%31s %d", key, &value) != 2)
        return -1;
    switch (key[0]) {
    case 'i':
        out->id = value;
        break;
    case '«letter»':
        out->«field» = (double)value;
        break;
    default:
        return -2;
    }
    return 0;
}
""",
            r"""static void «verb»_buffer(uint8_t *buf, size_t len, uint8_t key)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] ^= key;
        key = (uint8_t)((key << 1) | (key >> 7));
    }
}
""",
        ),
        "ending": (
            r"""int main(int argc, char **argv)
{
    int i;
    int limit = «num»;

    if (argc > 1)
        limit = atoi(argv[1]);
    for (i = 0; i < limit; i++) {
        printf("«noun» %d: %s\n", i, i % 2 ? "odd" : "even");
    }
    return EXIT_SUCCESS;
}
""",
        ),
    },
    "Java": {
        "header": (
            r"""package com.«site».«noun»;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
""",
            r"""/*
 * Copyright «year» «org».
 * Licensed under the Apache License, Version 2.0.
 */
package org.«site».«nouns»;

import java.util.*;
""",
        ),
        # Every Java file opens its class with the fields the other members use.
        "opening": (
            r"""/**
 * Stores {@link «Noun»} instances for the «nouns» module.
 */
public class «Noun»«kind» {

    private final Map<String, «Noun»> «nouns» = new HashMap<>();
    private final int capacity;

    public «Noun»«kind»(int capacity) {
        this.capacity = capacity;
    }
""",
            r"""public final class «Noun»«kind» {
    private static final int DEFAULT_CAPACITY = «num»;

    private final Map<String, «Noun»> «nouns»;
    private final int capacity;

    public «Noun»«kind»() {
        this(DEFAULT_CAPACITY);
    }

    public «Noun»«kind»(int capacity) {
        this.«nouns» = new HashMap<>(capacity);
        this.capacity = capacity;
    }
""",
        ),
        "block": (
            r"""    public void add«Noun»(String key, «Noun» «noun») {
        if («nouns».size() >= capacity) {
            throw new IllegalStateException("«Noun» limit reached: " + capacity);
        }
        «nouns».put(key, «noun»);
    }
""",
            r"""    public Optional<«Noun»> find«Noun»(String key) {
        return Optional.ofNullable(«nouns».get(key));
    }
""",
            r"""    public List<«Noun»> «verb»«Nouns»(int limit) {
        List<«Noun»> result = new ArrayList<>();
        for («Noun» «noun» : «nouns».values()) {
            if (result.size() >= limit) {
                break;
            }
            result.add(«noun»);
        }
        return result;
    }
""",
            r"""    @Override
    public String toString() {
        return "«Noun»«kind»{size=" + «nouns».size() + ", capacity=" + capacity + "}";
    }
""",
            r"""    private static int «verb»«Field»(int[] values) {
        int total = 0;
        for (int i = 0; i < values.length; i++) {
            total += values[i] * «few»;
        }
        return total;
    }
""",
            r"""    public boolean remove«Noun»(String key) {
        synchronized («nouns») {
            return «nouns».remove(key) != null;
        }
    }
""",
        ),
        "ending": (
            r"""    public static void main(String[] args) {
        «Noun»«kind» «kind_l» = new «Noun»«kind»(«num»);
        System.out.println("Created " + «kind_l»);
    }
""",
        ),
    },
    "PHP": {
        "header": (
            r"""<?php

namespace App\«Nouns»;

use InvalidArgumentException;
use PDO;
""",
            r"""<?php
/**
 * «Noun» «purpose».
 *
 * @package «Site»
 * @license GPL-2.0+
 */

if (!defined('ABSPATH')) {
    exit;
}
""",
        ),
        "block": (
            r"""class «Noun»«kind»
{
    private $«nouns» = [];
    private $limit;

    public function __construct($limit = «num»)
    {
        $this->limit = $limit;
    }

    public function add($key, $«noun»)
    {
        if (count($this->«nouns») >= $this->limit) {
            throw new InvalidArgumentException('Too many «nouns»');
        }
        $this->«nouns»[$key] = $«noun»;
        return $this;
    }

    public function get($key, $default = null)
    {
        return isset($this->«nouns»[$key]) ? $this->«nouns»[$key] : $default;
    }
}
""",
            r"""function render_«nouns»_list(array $«nouns»)
{
    $html = '<ul class="«noun»-list">';
    foreach ($«nouns» as $id => $«noun») {
        $label = htmlspecialchars($«noun»['«field»']);
        $html .= '<li data-id="' . (int) $id . '">' . $label . '</li>';
    }
    return $html . '</ul>';
}
""",
            r"""function «verb»_«noun»_by_id($pdo, $id)
{
    $stmt = $pdo->prepare('SELECT * FROM «nouns» WHERE id = :id LIMIT 1');
    $stmt->execute(['id' => $id]);
    $row = $stmt->fetch(PDO::FETCH_ASSOC);
    if ($row === false) {
        return null;
    }
    $row['«field»'] = trim($row['«field»']);
    return $row;
}
""",
            r"""add_action('init', function () {
    register_post_type('«noun»', [
        'label' => '«Nouns»',
        'public' => true,
        'supports' => ['title', 'editor', 'thumbnail'],
    ]);
});
""",
            r"""$«nouns» = array_filter($«nouns», function ($«noun») {
    return !empty($«noun»['«field»']) && $«noun»['«field2»'] > «num»;
});
usort($«nouns», function ($a, $b) {
    return strcmp($a['«field»'], $b['«field»']);
});
foreach ($«nouns» as $«noun») {
    echo '<p>' . htmlspecialchars($«noun»['«field»']) . "</p>\n";
}
""",
        ),
        "ending": (
            r"""?>
<div class="«noun»-card">
    <h2><?php echo htmlspecialchars($title); ?></h2>
    <?php if (!empty($«nouns»)): ?>
        <span class="count"><?= count($«nouns») ?> «nouns»</span>
    <?php endif; ?>
</div>
""",
        ),
    },
    "HTML": {
        "header": (
            r"""<!DOCTYPE html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>«Title» | «Site»</title>
    <link rel="stylesheet" href="css/«noun».css">
</head>
<body>
""",
            r"""<!-- «Site» «noun» page -->
<html>
<head>
<title>«Title»</title>
<script src="js/«noun».js"></script>
</head>
<body class="«noun»-page">
""",
        ),
        "opening": (
            r"""<nav class="navbar">
    <a class="brand" href="/">«Site»</a>
    <ul class="nav-links">
        «navitem»
        «navitem»
        «navitem»
    </ul>
</nav>
""",
        ),
        "block": (
            r"""<section id="«noun»-intro" class="«css_class»">
    <h2>«Title»</h2>
    <p>«sentence»</p>
    <p>«sentence»</p>
    <a class="button" href="/«nouns»">«cta»</a>
</section>
""",
            r"""<table class="table «css_class»">
    <thead>
        <tr><th>«Field»</th><th>«Field2»</th><th>Status</th></tr>
    </thead>
    <tbody>
        <tr><td>«value»</td><td>«num»</td><td>«status»</td></tr>
        <tr><td>«value»</td><td>«num»</td><td>«status»</td></tr>
        <tr><td>«value»</td><td>«num»</td><td>«status»</td></tr>
    </tbody>
</table>
""",
            r"""<form action="/«nouns»/«verb»" method="post" class="«noun»-form">
    <label for="«field»">«Field»</label>
    <input type="text" id="«field»" name="«field»" placeholder="Enter «field»" required>
    <label for="«field2»">«Field2»</label>
    <select id="«field2»" name="«field2»">
        <option value="1">«option»</option>
        <option value="2">«option»</option>
    </select>
    <button type="submit">«Verb» «noun»</button>
</form>
""",
            r"""<div class="container">
    <div class="row">
        <div class="col-md-«few»">
            <div class="card">
                <img src="images/«noun»-«few».jpg" alt="«Noun»">
                <h3>«Title»</h3>
                <p>«sentence»</p>
            </div>
        </div>
    </div>
</div>
""",
        ),
        "ending": (
            r"""<footer class="site-footer">
    <p>&copy; «year» «Site». All rights reserved.</p>
    <ul class="social">
        <li><a href="https://twitter.com/«site»">Twitter</a></li>
        <li><a href="mailto:info@«site».com">Contact</a></li>
    </ul>
</footer>
</body>
</html>
""",
        ),
    },
}
_CODE_RULES = {key: _alts(text) for key, text in _CODE_WORDS.items()}


def _code_fill(template: str, rng: random.Random, bound: dict, used: set) -> str:
    """A code template with its «slots» filled from the file's identifiers and the code words."""
    return _expand(template, rng, _CODE_RULES, bound, used, slot=_CODE_SLOT)


def _make_code(rng: random.Random, cell: tuple) -> str:
    """One source file in a language: a header, blocks sharing identifiers, maybe an ending."""
    (language,) = cell
    templates = _CODE_TEMPLATES[language]
    bound = _code_bindings(rng)
    used: set[tuple[str, str]] = set()
    parts = [_pick(rng, templates["header"])]
    if "opening" in templates and (language == "Java" or rng.random() < 0.7):
        parts.append(_pick(rng, templates["opening"]))
    blocks = list(templates["block"])
    rng.shuffle(blocks)
    parts.extend(blocks[: rng.randint(2, 4)])
    for block in blocks[4:]:  # short files get more blocks until they are long enough
        if sum(map(len, parts)) > _MIN_CODE_CHARS:
            break
        parts.append(block)
    if language == "HTML" or rng.random() < 0.4:
        parts.append(_pick(rng, templates["ending"]))
    separator = "\n\n" if language == "Python" else "\n"  # PEP 8's two blank lines
    code = separator.join(_code_fill(part, rng, bound, used) for part in parts)
    if language == "Java":
        code += "}\n"
    return code


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------

_SPECS: dict[str, _Spec] = {
    BIAS_IN_BIOS: _Spec(
        text_column="hard_text",
        label_columns=("profession", "gender"),
        label_dtypes=("int64", "int64"),
        cells=tuple((p, g) for p in sorted(PROFESSION_IDS.values()) for g in (0, 1)),
        make_text=_make_bio,
        default_train_rows=600,
    ),
    AMAZON_REVIEWS: _Spec(
        text_column="text",
        label_columns=("category", "rating"),
        label_dtypes=("int64", "float64"),
        cells=tuple((c, r) for c in sorted(AMAZON_CATEGORY_IDS.values()) for r in AMAZON_RATINGS),
        make_text=_make_review,
        default_train_rows=600,
    ),
    AG_NEWS: _Spec(
        text_column="text",
        label_columns=("label",),
        label_dtypes=("int64",),
        cells=tuple((label,) for label in sorted(AG_NEWS_LABELS.values())),
        make_text=_make_news,
        default_train_rows=1200,
    ),
    EUROPARL: _Spec(
        text_column="text",
        label_columns=("language",),
        label_dtypes=("object",),
        cells=tuple((language,) for language in EUROPARL_LANGUAGES),
        make_text=_make_europarl,
        default_train_rows=1200,
    ),
    GITHUB_CODE: _Spec(
        text_column="code",
        label_columns=("language",),
        label_dtypes=("object",),
        cells=tuple((language,) for language in GITHUB_CODE_LANGUAGES),
        make_text=_make_code,
        default_train_rows=1200,
    ),
}


def default_rows_per_cell(hub_name: str, split: str) -> int:
    """Rows per label cell when none is asked for: the test split gets a quarter of train's."""
    spec = _spec(hub_name)
    _check_split(split)
    return spec.default_train_rows if split == "train" else spec.default_train_rows // 4


def _spec(hub_name: str) -> _Spec:
    if hub_name not in _SPECS:
        raise SaeevalError(
            f"hub_name {hub_name!r} has no built-in dataset; "
            f"valid values: {', '.join(BUILTIN_HUB_NAMES)}"
        )
    return _SPECS[hub_name]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise SaeevalError(f"split {split!r} is not valid; valid values: {', '.join(SPLITS)}")


@lru_cache(maxsize=4)
def _cached_rows(hub_name: str, split: str, rows_per_cell: int) -> tuple[tuple, ...]:
    """The rows of a frame, kept for the next call: evals ask for the same frame several times."""
    return tuple(_generate_rows(hub_name, _SPECS[hub_name], split, rows_per_cell))


def builtin_frame(hub_name: str, split: str, rows_per_cell: int | None = None) -> pd.DataFrame:
    """The built-in stand-in for one split of a hub dataset, as the hub's columns and labels.

    `rows_per_cell` rows are made for every combination of label values (profession x gender,
    category x rating, or one label); by default 600 or 1200 for "train" and a quarter of that
    for "test". The frame is the same in every run and process, its rows are in a seeded
    shuffled order, and no text appears in both splits.
    """
    spec = _spec(hub_name)
    _check_split(split)
    if rows_per_cell is None:
        rows_per_cell = default_rows_per_cell(hub_name, split)
    integral = isinstance(rows_per_cell, numbers.Integral) and not isinstance(rows_per_cell, bool)
    if not integral or rows_per_cell < 1:
        raise SaeevalError(f"rows_per_cell must be a positive integer, got {rows_per_cell!r}")
    rows = _cached_rows(hub_name, split, int(rows_per_cell))
    columns = (spec.text_column, *spec.label_columns)
    frame = pd.DataFrame(rows, columns=list(columns))
    dtypes = dict(zip(spec.label_columns, spec.label_dtypes, strict=True))
    return frame.astype({spec.text_column: "object", **dtypes})
