"""The hub datasets of the probing evals and the label values their columns hold.

Both the built-in stand-ins (`builtin_classification`, which generates rows with these labels)
and the selection code (`classification`, which reads real or generated rows) use them.
"""

from __future__ import annotations

BIAS_IN_BIOS = "LabHC/bias_in_bios"
AMAZON_REVIEWS = "canrager/amazon_reviews_mcauley_1and5"
AG_NEWS = "fancyzhx/ag_news"
EUROPARL = "Helsinki-NLP/europarl"
GITHUB_CODE = "codeparrot/github-code"
# Every hub dataset the evals read; each has a built-in stand-in.
BUILTIN_HUB_NAMES: tuple[str, ...] = (BIAS_IN_BIOS, AMAZON_REVIEWS, AG_NEWS, EUROPARL, GITHUB_CODE)

# Integer labels are positions: bias_in_bios' `profession`, amazon's `category`, ag_news' `label`.
PROFESSIONS: tuple[str, ...] = (
    "accountant", "architect", "attorney", "chiropractor", "comedian", "composer", "dentist",
    "dietitian", "dj", "filmmaker", "interior_designer", "journalist", "model", "nurse", "painter",
    "paralegal", "pastor", "personal_trainer", "photographer", "physician", "poet", "professor",
    "psychologist", "rapper", "software_engineer", "surgeon", "teacher", "yoga_teacher",
)  # fmt: skip
GENDERS: dict[str, int] = {"male": 0, "female": 1}  # bias_in_bios' `gender`
AMAZON_CATEGORIES: tuple[str, ...] = (
    "All_Beauty", "Toys_and_Games", "Cell_Phones_and_Accessories", "Industrial_and_Scientific",
    "Gift_Cards", "Musical_Instruments", "Electronics", "Handmade_Products",
    "Arts_Crafts_and_Sewing", "Baby_Products", "Health_and_Household", "Office_Products",
    "Digital_Music", "Grocery_and_Gourmet_Food", "Sports_and_Outdoors", "Home_and_Kitchen",
    "Subscription_Boxes", "Tools_and_Home_Improvement", "Pet_Supplies", "Video_Games",
    "Kindle_Store", "Clothing_Shoes_and_Jewelry", "Patio_Lawn_and_Garden", "Unknown", "Books",
    "Automotive", "CDs_and_Vinyl", "Beauty_and_Personal_Care", "Amazon_Fashion",
    "Magazine_Subscriptions", "Software", "Health_and_Personal_Care", "Appliances", "Movies_and_TV",
)  # fmt: skip
AMAZON_RATINGS: tuple[float, ...] = (1.0, 5.0)  # amazon's `rating`, a float column
AG_NEWS_LABELS: tuple[str, ...] = ("World", "Sports", "Business", "Sci/Tech")
# String labels: europarl's and github-code's `language`.
EUROPARL_LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "nl")
GITHUB_CODE_LANGUAGES: tuple[str, ...] = ("C", "Python", "HTML", "Java", "PHP")

# Results computed on the built-in stand-ins name their datasets with this prefix, so that no tool
# reading `eval_config.dataset_names` or the detail rows can take them for the hub datasets.
BUILTIN_PREFIX = "saeeval-builtin/"


def result_name(name: str, source: str) -> str:
    """How results name dataset `name` read from `source` ("offline" is the built-in data)."""
    if source == "offline" and not name.startswith(BUILTIN_PREFIX):
        return BUILTIN_PREFIX + name
    return name


def selection_name(name: str) -> str:
    """SAEBench's name for a dataset named either way: the key every selection rule uses."""
    return name.removeprefix(BUILTIN_PREFIX)
