"""Generated data for ``elmo-tasks quickstart``: a templated English grammar where context decides.

Pure Python (stdlib ``random``), deterministic from a seed, no torch. The grammar has AMBIGUOUS
words whose reading only the words around them decide (within 1-4 tokens):

- NER: "Jordan" is PER in "coach Jordan said" and LOC in "flew to Jordan"; "Chelsea" PER or a
  club (ORG); "Amazon" ORG or LOC; "Java" LOC or MISC (a language); see :data:`AMBIGUOUS_NER`.
  A focus sentence picks an ambiguous word, then one of its readings uniformly, then a template
  of that reading, so every ambiguous word is seen with each reading about equally often.
- Sentiment: negation ("the plot was not good"), contrast ("good acting but a boring plot",
  the clause after "but" decides) and context words whose polarity depends on what they describe
  ("the plot was predictable" negative, "the steering was predictable" positive).
- QA: short stories of people travelling to places on days, with the same ambiguous word often
  used as a person in one sentence and a place in another ("Jordan flew to Paris ... Paris drove
  to Jordan"), so "Where did Jordan fly to ?" needs the words around each mention.

:func:`generate_corpus` gives unlabelled sentences of the same grammar (plus word-sense sentences
for "bank", "play", "bass", ...) to train language models and word vectors;
:func:`write_task_files` writes everything in the formats the project's readers take.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "AMBIGUOUS_NER",
    "CONTEXT_WORDS",
    "NEGATIVE_WORDS",
    "NER_TYPES",
    "POSITIVE_WORDS",
    "SIZES",
    "NerSentence",
    "QaParagraph",
    "QaQuestion",
    "SentimentExample",
    "generate_corpus",
    "generate_ner",
    "generate_qa",
    "generate_sentiment",
    "split_seed",
    "write_task_files",
]

# Split sizes written by write_task_files: NER/sentiment in sentences/examples, QA in questions.
SIZES: dict[str, dict[str, int]] = {
    "ner": {"train": 100, "valid": 100, "test": 500},
    "sentiment": {"train": 100, "dev": 100, "test": 500},
    "qa": {"train": 600, "dev": 200},
}
CORPUS_SENTENCES = 30000
# Every UNSEEN_EVERY-th sentence template of each kind is held out of the labelled train and
# validation splits; the test split and the unlabelled corpus use them all, as a real test set
# holds contexts its small labelled training set never shows.
UNSEEN_EVERY = 3

# --------------------------------------------------------------------------------------------------
# Vocabulary


def _w(text: str) -> list[str]:
    return text.split()


_FIRST = _w(
    "John Maria Ahmed Yuki Peter Anna Carlos Fatima David Elena Tom Sofia Ivan Grace Omar Lena Marco Aisha Hans Chen "
    "Laura Pablo Nadia Kofi Ingrid Rahul Mei Lucas Olga Samuel"
)
_LAST = _w(
    "Smith Garcia Khan Tanaka Muller Rossi Silva Novak Brown Okafor Larsen Dubois Kowalski Haddad Moreno Ito Jensen "
    "Petrov Nakamura Fischer Mensah Costa Varga Lindqvist Ortiz Sato Berger Romano Kim Walsh"
)
_LOC = [
    *_w("Germany France Kenya Brazil Japan Canada Egypt Peru Norway Chile Vietnam Morocco Ghana Poland Mexico"),
    *_w("Berlin Madrid Tokyo Cairo Lima Oslo Nairobi Toronto Lisbon Dublin Warsaw Seoul Vienna Athens Accra"),
    "New York",
    "Buenos Aires",
    "Hong Kong",
    "South Africa",
    "New Zealand",
    "Sri Lanka",
    "Rio de Janeiro",
]
_ORG = [
    *_w("Toyota Siemens Reuters Microsoft Nokia Unilever Samsung Boeing Nestle Apple Intel Oracle Pfizer Renault"),
    *_w("Philips Heineken Volvo Airbus"),
    "General Motors",
    "Deutsche Bank",
    "British Airways",
    "Goldman Sachs",
    "Royal Dutch Shell",
]
_CLUB = [
    *_w("Arsenal Juventus Ajax Celtic Benfica Everton Napoli Feyenoord"),
    "Bayern Munich",
    "Real Madrid",
    "Inter Milan",
    "Manchester United",
]
_NAT = _w("German French Kenyan Brazilian Japanese Canadian Egyptian Norwegian Chilean Spanish Italian Dutch")
_EVENT = ["World Cup", "Olympics", "Tour de France", "Champions League", "Wimbledon", "Super Bowl", "Davis Cup"]
_LANG = _w("Python Rust Fortran Haskell Perl Kotlin Scala Cobol")

NER_TYPES = ("PER", "LOC", "ORG", "MISC")
# slot category -> NER type
_CATEGORY_TYPE = {
    "PER": "PER",
    "LOC": "LOC",
    "ORG": "ORG",
    "CLUB": "ORG",
    "NAT": "MISC",
    "EVENT": "MISC",
    "LANG": "MISC",
}

# Ambiguous word -> the slot categories it can fill (its readings).
_AMBIGUOUS_READINGS: dict[str, tuple[str, ...]] = {
    "Jordan": ("PER", "LOC"),
    "Washington": ("PER", "LOC"),
    "Paris": ("PER", "LOC"),
    "Georgia": ("PER", "LOC"),
    "Sydney": ("PER", "LOC"),
    "Florence": ("PER", "LOC"),
    "Chelsea": ("PER", "CLUB"),
    "Ford": ("PER", "ORG"),
    "Mercedes": ("PER", "ORG"),
    "Amazon": ("ORG", "LOC"),
    "Liverpool": ("CLUB", "LOC"),
    "Barcelona": ("CLUB", "LOC"),
    "Java": ("LOC", "LANG"),
    "Ruby": ("PER", "LANG"),
    "Swift": ("PER", "LANG"),
}
# Ambiguous word -> its possible NER types.
AMBIGUOUS_NER: dict[str, tuple[str, ...]] = {
    word: tuple(dict.fromkeys(_CATEGORY_TYPE[c] for c in readings)) for word, readings in _AMBIGUOUS_READINGS.items()
}

_FILLERS: dict[str, list[str]] = {
    "day": _w("Monday Tuesday Wednesday Thursday Friday Saturday Sunday"),
    "month": _w("January February March April May June July August September October November December"),
    "year": [str(y) for y in range(1990, 2025)],
    "num": [str(n) for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120)],
    "score": ["1-0", "2-0", "2-1", "3-1", "3-2", "4-0", "4-2"],
    "draw": ["0-0", "1-1", "2-2", "3-3"],
}

# Templates: "{X}" is the focus slot of the template's category; other "{CAT}" slots take entities,
# lowercase "{filler}" slots take filler words. Context cues sit within 1-4 tokens of each slot.
_NER_TEMPLATES: dict[str, list[str]] = {
    "PER": [
        "{X} scored twice in the second half .",
        "coach {X} said the team played well .",
        "{X} smiled at the cameras after the final .",
        "striker {X} was injured in training on {day} .",
        "{X} told reporters she was happy with the result .",
        "{X} told reporters he would retire next season .",
        "the actress {X} married her partner in {month} .",
        "singer {X} released a new album in {month} .",
        "president {X} signed the new law on {day} .",
        "{X} , {num} , won the race in {LOC} .",
        "{X} was born in {LOC} in {year} .",
        "Mr {X} resigned as chairman of {ORG} .",
        "Mrs {X} thanked her family and friends .",
        "{X} shook hands with {PER} after the match .",
        "the police arrested {X} late on {day} .",
        "{NAT} champion {X} lost in the semi-final .",
        "{X} won the {EVENT} in {year} .",
        "{PER} and {X} were married last year .",
        "the novelist {X} died at the age of {num} .",
        "goalkeeper {X} saved a penalty in the first half .",
    ],
    "LOC": [
        "the minister flew to {X} on {day} .",
        "heavy rain fell across {X} overnight .",
        "troops crossed the border of {X} .",
        "the capital of {X} was quiet on {day} .",
        "{num} people were injured in northern {X} .",
        "prices rose sharply in southern {X} last month .",
        "the embassy in {X} was closed on {day} .",
        "{PER} arrived in {X} on {day} .",
        "the train from {X} to {LOC} was delayed .",
        "floods hit the coast of {X} in {month} .",
        "tourists returned to {X} after the storm .",
        "the economy of {X} grew {num} percent in {year} .",
        "the {EVENT} will be held in {X} in {year} .",
        "{ORG} opened a new factory near {X} .",
        "an earthquake struck western {X} on {day} .",
        "the delegation travelled from {LOC} to {X} .",
        "she grew up in a village outside {X} .",
        "the river flows through {X} to the sea .",
    ],
    "ORG": [
        "{X} shares rose {num} percent on {day} .",
        "{X} shares fell after weak sales .",
        "{X} reported a quarterly profit of {num} million dollars .",
        "the chief executive of {X} resigned on {day} .",
        "{X} said it would cut {num} jobs .",
        "analysts expect {X} to raise prices this year .",
        "{PER} joined {X} as finance director .",
        "{X} agreed to buy {ORG} for {num} billion dollars .",
        "a spokesman for {X} declined to comment .",
        "{X} stock closed higher in {LOC} .",
        "the company {X} recalled {num} thousand cars .",
        "investors sold {X} stock after the report .",
    ],
    "CLUB": [
        "{X} beat {CLUB} {score} on {day} .",
        "{X} drew {draw} with {CLUB} at home .",
        "the {X} manager praised his players .",
        "{PER} signed for {X} in {month} .",
        "{X} fans celebrated in the stadium .",
        "{X} are top of the league after {num} games .",
        "{X} lost {score} away to {CLUB} .",
        "{X} striker {PER} scored the winner .",
    ],
    "NAT": [
        "the {X} government said on {day} it would cut taxes .",
        "{X} officials denied the report .",
        "the {X} team arrived in {LOC} on {day} .",
        "{PER} , the {X} champion , won easily .",
        "{X} voters went to the polls on {day} .",
    ],
    "EVENT": [
        "{PER} won the {X} in {year} .",
        "tickets for the {X} sold out in {num} minutes .",
        "the {X} final will be played on {day} .",
        "{CLUB} were knocked out of the {X} .",
    ],
    "LANG": [
        "the program is written in {X} .",
        "she wrote the parser in {X} last {month} .",
        "the library was ported from {X} to {LANG} .",
        "developers prefer {X} for scripting .",
        "a new version of the {X} compiler was released .",
        "the team rewrote the server in {X} .",
        "{X} code is easy to read .",
    ],
}
_PREFIXES = [["meanwhile", ","], ["earlier", "this", "year", ","], ["according", "to", "reports", ","], ["later", ","]]

# Sentiment vocabulary.
_ASPECTS = _w("film movie plot acting script ending soundtrack dialogue cast direction story camera screen hotel")
POSITIVE_WORDS = frozenset(
    _w("good great excellent wonderful brilliant charming moving funny clever superb delightful gripping")
)
NEGATIVE_WORDS = frozenset(_w("bad awful boring dull terrible weak poor clumsy tedious bland messy disappointing"))
_POS_NOUNS = _w("masterpiece triumph delight gem joy")
_NEG_NOUNS = _w("mess disaster bore failure letdown")
_INTENSIFIERS = _w("very really quite truly so")
# Context words: polarity depends on what they describe (aspect -> polarity: 1 positive, 0 negative).
CONTEXT_WORDS: dict[str, dict[str, int]] = {
    "predictable": {"steering": 1, "service": 1, "delivery": 1, "plot": 0, "ending": 0, "script": 0},
    "unpredictable": {"plot": 1, "ending": 1, "story": 1, "steering": 0, "service": 0, "wifi": 0},
    "long": {"battery life": 1, "warranty": 1, "queue": 0, "wait": 0, "film": 0},
    "cheap": {"price": 1, "tickets": 1, "special effects": 0, "sets": 0, "costumes": 0},
    "quiet": {"engine": 1, "room": 1, "fan": 1, "soundtrack": 0, "speaker": 0},
    "light": {"laptop": 1, "camera": 1, "bike": 1, "plot": 0, "portions": 0},
}
_NEGATIONS = [["not"], ["never"], ["far", "from"], ["hardly"]]

# QA: travel verbs (past, base).
_TRAVEL = [
    ("flew", "fly"),
    ("drove", "drive"),
    ("moved", "move"),
    ("sailed", "sail"),
    ("walked", "walk"),
    ("travelled", "travel"),
    ("cycled", "cycle"),
    ("returned", "return"),
]

# Corpus-only word-sense sentences (two senses each).
_SENSES = [
    "he sat on the bank of the river and watched the boats .",
    "the boat drifted toward the muddy bank .",
    "fishermen stood on the river bank at dawn .",
    "the bank raised its interest rates on {day} .",
    "she deposited the cheque at the bank .",
    "the bank approved the loan in {month} .",
    "the play opened in {LOC} last night .",
    "critics loved the new play about the war .",
    "the children play football in the park .",
    "they play chess every {day} .",
    "he caught a large bass in the lake .",
    "she plays bass in a jazz band .",
    "turn up the bass on the speaker .",
    "a bat flew out of the dark cave .",
    "he swung the bat and hit the ball .",
    "he ate an apple and a piece of cheese .",
    "he lit a match in the dark .",
    "the match ended in a draw on {day} .",
    "flowers bloom early in spring .",
    "the water came from a mountain spring .",
]

# --------------------------------------------------------------------------------------------------
# Data classes


@dataclass
class NerSentence:
    """A sentence with IOB2 tags; ``ambiguous`` holds the positions of ambiguous words."""

    tokens: list[str]
    tags: list[str]
    ambiguous: list[int] = field(default_factory=list)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """``(token, tag)`` pairs."""
        return list(zip(self.tokens, self.tags, strict=True))


@dataclass
class SentimentExample:
    """A binary example (0 negative, 1 positive). ``kind``: ``plain``, ``negation`` (a negation
    flips the word's polarity), ``contrast`` (the clause after "but"/"yet" decides) or ``context``
    (a word whose polarity depends on what it describes)."""

    label: int
    tokens: list[str]
    kind: str

    @property
    def ambiguous(self) -> bool:
        """Whether the words alone do not decide the label (anything but ``plain``)."""
        return self.kind != "plain"


@dataclass
class QaQuestion:
    """One question; ``answer_start`` is the exact character offset of ``answer`` in the context."""

    id: str
    question: str
    answer: str
    answer_start: int
    ambiguous: bool  # the answer is an ambiguous word (see AMBIGUOUS_NER)


@dataclass
class QaParagraph:
    """A context and its questions."""

    context: str
    questions: list[QaQuestion]

    def to_squad(self) -> dict[str, Any]:
        """The SQuAD v1.1 paragraph dict."""
        return {
            "context": self.context,
            "qas": [
                {"id": q.id, "question": q.question, "answers": [{"text": q.answer, "answer_start": q.answer_start}]}
                for q in self.questions
            ],
        }


# --------------------------------------------------------------------------------------------------
# NER


def _entities(category: str) -> list[list[str]]:
    if category == "PER":
        return [[f] for f in _LAST] + [[f, last] for f in _FIRST for last in _LAST[::3]]
    source = {"LOC": _LOC, "ORG": _ORG, "CLUB": _CLUB, "NAT": _NAT, "EVENT": _EVENT, "LANG": _LANG}[category]
    return [name.split() for name in source]


_ENTITIES = {category: _entities(category) for category in _CATEGORY_TYPE}
_AMBIGUOUS_BY_CATEGORY = {
    category: [w for w, readings in _AMBIGUOUS_READINGS.items() if category in readings] for category in _CATEGORY_TYPE
}


def _entity(rng: random.Random, category: str, used: set[tuple[str, ...]], p_ambiguous: float) -> list[str]:
    """An entity of ``category`` not yet used in the sentence (ambiguous with ``p_ambiguous``)."""
    while True:
        if _AMBIGUOUS_BY_CATEGORY[category] and rng.random() < p_ambiguous:
            words = [rng.choice(_AMBIGUOUS_BY_CATEGORY[category])]
        else:
            words = rng.choice(_ENTITIES[category])
        if tuple(words) not in used:
            used.add(tuple(words))
            return words


def _fill(
    template: list[str], rng: random.Random, focus: str | None, focus_word: str | None, p_ambiguous: float
) -> tuple[list[str], list[str], list[int]]:
    """Tokens, IOB2 tags and ambiguous positions of one filled template."""
    tokens: list[str] = []
    tags: list[str] = []
    ambiguous: list[int] = []
    used: set[tuple[str, ...]] = {(focus_word,)} if focus_word else set()
    for piece in template:
        if not (piece.startswith("{") and piece.endswith("}")):
            tokens.append(piece)
            tags.append("O")
            continue
        slot = piece[1:-1]
        if slot in _FILLERS:
            tokens.append(rng.choice(_FILLERS[slot]))
            tags.append("O")
            continue
        category = focus if slot == "X" else slot
        assert category is not None
        words = [focus_word] if slot == "X" and focus_word else _entity(rng, category, used, p_ambiguous)
        kind = _CATEGORY_TYPE[category]
        for k, word in enumerate(words):
            if word in _AMBIGUOUS_READINGS:
                ambiguous.append(len(tokens))
            tokens.append(word)
            tags.append(f"{'B' if k == 0 else 'I'}-{kind}")
    return tokens, tags, ambiguous


_LABELLED_NER_TEMPLATES = {
    category: [t for i, t in enumerate(templates) if i % UNSEEN_EVERY != UNSEEN_EVERY - 1]
    for category, templates in _NER_TEMPLATES.items()
}


def _ner_sentence(rng: random.Random, labelled: bool = False) -> NerSentence:
    """One sentence; ``labelled``: only from the templates a labelled training split may use."""
    if rng.random() < 0.6:  # focus sentence: an ambiguous word in one of its readings, chosen uniformly
        word = rng.choice(list(_AMBIGUOUS_READINGS))
        category = rng.choice(_AMBIGUOUS_READINGS[word])
    else:
        word = None
        category = rng.choice(list(_NER_TEMPLATES))
    template = rng.choice((_LABELLED_NER_TEMPLATES if labelled else _NER_TEMPLATES)[category]).split()
    if rng.random() < 0.15:
        template = [*rng.choice(_PREFIXES), *template]
    tokens, tags, ambiguous = _fill(template, rng, category, word, p_ambiguous=0.15)
    return NerSentence(tokens, tags, ambiguous)


def generate_ner(n: int, seed: int, labelled: bool = False) -> list[NerSentence]:
    """``n`` NER sentences (IOB2 tags PER/LOC/ORG/MISC); about 60% focus on an ambiguous word.
    ``labelled``: without the templates held out of labelled training (see :data:`UNSEEN_EVERY`)."""
    rng = random.Random(seed)
    return [_ner_sentence(rng, labelled) for _ in range(n)]


# --------------------------------------------------------------------------------------------------
# Sentiment


def _polar(rng: random.Random, label: int) -> str:
    return rng.choice(sorted(POSITIVE_WORDS if label else NEGATIVE_WORDS))


def _plain(rng: random.Random, label: int) -> list[str]:
    aspect, adj = rng.choice(_ASPECTS), _polar(rng, label)
    noun = rng.choice(_POS_NOUNS if label else _NEG_NOUNS)
    forms = [
        ["the", aspect, "was", adj, "."],
        ["the", aspect, "is", rng.choice(_INTENSIFIERS), adj, "."],
        ["a", adj, aspect, "."],
        ["i", "found", "the", aspect, adj, "."],
        ["this", aspect, "is", "a", "real", noun, "."],
        ["what", "a", noun, "!"],
    ]
    return rng.choice(forms)


def _negated(rng: random.Random, label: int) -> list[str]:
    # the word has the opposite polarity of the label; the negation flips it
    aspect, adj = rng.choice(_ASPECTS), _polar(rng, 1 - label)
    noun = rng.choice(_NEG_NOUNS if label else _POS_NOUNS)
    forms = [
        ["the", aspect, "was", *rng.choice(_NEGATIONS), adj, "."],
        ["the", aspect, "is", "not", rng.choice(_INTENSIFIERS), adj, "."]
        if label == 0
        else ["the", aspect, "is", "not", adj, "at", "all", "."],
        ["i", "did", "not", "find", "the", aspect, adj, "."],
        ["nothing", "about", "the", aspect, "was", adj, "."],
        ["hardly", "a", noun, "."],
        ["this", aspect, "is", "hardly", "a", noun, "."],
        ["the", aspect, "is", "not", "a", noun, "."],
    ]
    return rng.choice(forms)


def _contrast(rng: random.Random, label: int) -> list[str]:
    first, second = rng.sample(_ASPECTS, 2)
    a, b = _polar(rng, 1 - label), _polar(rng, label)
    forms = [
        ["the", first, "was", a, "but", "the", second, "was", b, "."],
        [a, first, "but", "a", b, second, "."],
        ["although", "the", first, "was", a, ",", "the", second, "was", b, "."],
        ["the", first, "was", a, ",", "yet", "the", second, "was", b, "."],
        ["despite", "the", a, first, ",", "the", second, "was", b, "."],
    ]
    return rng.choice(forms)


def _context(rng: random.Random, label: int) -> list[str]:
    word = rng.choice(sorted(CONTEXT_WORDS))
    aspect = rng.choice(sorted(a for a, polarity in CONTEXT_WORDS[word].items() if polarity == label)).split()
    forms = [
        ["the", *aspect, "was", word, "."],
        ["the", *aspect, "is", rng.choice(_INTENSIFIERS), word, "."],
        ["a", word, *aspect, "."],
        ["i", "found", "the", *aspect, word, "."],
    ]
    return rng.choice(forms)


_SENTIMENT_KINDS = {"plain": _plain, "negation": _negated, "contrast": _contrast, "context": _context}
_KIND_WEIGHTS = {"plain": 0.4, "negation": 0.25, "contrast": 0.2, "context": 0.15}


def generate_sentiment(n: int, seed: int) -> list[SentimentExample]:
    """``n`` binary examples, labels balanced; kinds plain 40%, negation 25%, contrast 20%, context 15%."""
    rng = random.Random(seed)
    kinds = list(_KIND_WEIGHTS)
    weights = list(_KIND_WEIGHTS.values())
    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)
    out = []
    for label in labels:
        kind = rng.choices(kinds, weights)[0]
        out.append(SentimentExample(label, _SENTIMENT_KINDS[kind](rng, label), kind))
    return out


# --------------------------------------------------------------------------------------------------
# QA


def _join(pieces: list[str]) -> tuple[str, list[int]]:
    """Text of tokens joined by spaces (no space before ``. , ? !``) and each token's start offset."""
    text, starts = "", []
    for piece in pieces:
        if text and piece not in (".", ",", "?", "!"):
            text += " "
        starts.append(len(text))
        text += piece
    return text, starts


_PEOPLE = [w for w in _LAST if w not in _AMBIGUOUS_READINGS]
_PLACES = [name for name in _LOC if " " not in name]
_AMBIGUOUS_PER_LOC = [w for w, r in _AMBIGUOUS_READINGS.items() if "PER" in r and "LOC" in r]


_Event = tuple[str, int, str, str, int, int, int]


def _qa_paragraph(rng: random.Random, n_events: int) -> tuple[list[str], list[_Event]]:
    """Context tokens and events ``(person, verb index, place, day, person pos, place pos, day pos)``."""
    people = rng.sample(_PEOPLE, n_events)
    places = rng.sample(_PLACES, n_events)
    if rng.random() < 0.7:  # one ambiguous word as a person in one event and as a place in another
        word = rng.choice(_AMBIGUOUS_PER_LOC)
        i, j = rng.sample(range(n_events), 2)
        people[i], places[j] = word, word
    for k in range(n_events):  # more ambiguous words in either role, never person and place of one event
        if rng.random() < 0.25:
            people[k] = rng.choice([w for w in _AMBIGUOUS_PER_LOC if w not in people and w != places[k]])
        if rng.random() < 0.25:
            places[k] = rng.choice([w for w in _AMBIGUOUS_PER_LOC if w not in places and w != people[k]])
    verbs = rng.sample(range(len(_TRAVEL)), n_events)
    days = rng.sample(_FILLERS["day"], n_events)
    tokens: list[str] = []
    events = []
    for k in range(n_events):
        if rng.random() < 0.3:
            tokens += ["The", "weather", "was", rng.choice(["warm", "cold", "wet", "mild"]), "."]
        person_pos = len(tokens)
        tokens += [people[k], _TRAVEL[verbs[k]][0], "to"]
        place_pos = len(tokens)
        tokens += [places[k], "on"]
        events.append((people[k], verbs[k], places[k], days[k], person_pos, place_pos, len(tokens)))
        tokens += [days[k], "."]
    return tokens, events


def _question(rng: random.Random, event: _Event) -> tuple[str, str, int]:
    """A question on ``event``: its text, answer and the answer's token position in the context."""
    person, verb, place, day, person_pos, place_pos, day_pos = event
    past, base = _TRAVEL[verb]
    form = rng.choices(["where", "who", "when"], [0.45, 0.4, 0.15])[0]
    if form == "where":
        return f"Where did {person} {base} to ?", place, place_pos
    if form == "who":
        return f"Who {past} to {place} ?", person, person_pos
    return f"When did {person} {base} to {place} ?", day, day_pos


def generate_qa(n: int, seed: int, prefix: str = "q") -> list[QaParagraph]:
    """Paragraphs holding ``n`` questions in all (ids ``{prefix}{seed}-{k}``): "Where did X fly to ?",
    "Who flew to Y ?", "When did X fly to Y ?"; answers are single tokens with exact offsets."""
    rng = random.Random(seed)
    paragraphs: list[QaParagraph] = []
    count = 0
    while count < n:
        tokens, events = _qa_paragraph(rng, rng.choice([2, 3, 3, 4]))
        context, starts = _join(tokens)
        questions = []
        for event in rng.sample(events, min(len(events), 3)):
            if count >= n:
                break
            question, answer, pos = _question(rng, event)
            ambiguous = answer in _AMBIGUOUS_READINGS
            questions.append(QaQuestion(f"{prefix}{seed}-{count}", question, answer, starts[pos], ambiguous))
            count += 1
        paragraphs.append(QaParagraph(context, questions))
    return paragraphs


# --------------------------------------------------------------------------------------------------
# Corpus


def _sense_sentence(rng: random.Random) -> list[str]:
    tokens, _, _ = _fill(rng.choice(_SENSES).split(), rng, None, None, p_ambiguous=0.3)
    return tokens


def _qa_sentence(rng: random.Random) -> list[str]:
    """A two-event story and a question on it (questions are text a biLM should know too)."""
    tokens, events = _qa_paragraph(rng, 2)
    return tokens + _question(rng, rng.choice(events))[0].split()


def generate_corpus(n_sentences: int, seed: int) -> list[list[str]]:
    """Unlabelled tokenised sentences of the same grammar: NER-style 45%, sentiment 25%, travel
    stories 15% (two travel events and a question on one line), word-sense sentences ("bank", "play", ...) 15%."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    for _ in range(n_sentences):
        r = rng.random()
        if r < 0.45:
            out.append(_ner_sentence(rng).tokens)
        elif r < 0.7:
            label = rng.randrange(2)
            kind = rng.choices(list(_KIND_WEIGHTS), list(_KIND_WEIGHTS.values()))[0]
            out.append(_SENTIMENT_KINDS[kind](rng, label))
        elif r < 0.85:
            out.append(_qa_sentence(rng))
        else:
            out.append(_sense_sentence(rng))
    return out


# --------------------------------------------------------------------------------------------------
# Files


def split_seed(seed: int, *names: str) -> int:
    """The seed :func:`write_task_files` uses for a part, e.g. ``split_seed(seed, "ner", "train")``
    (stable across runs, independent of PYTHONHASHSEED)."""
    return zlib.crc32(":".join([str(seed), *names]).encode())


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _write_all(root: Path, seed: int, corpus_sentences: int) -> tuple[dict[str, Path], dict[str, Any]]:
    """Write every file under ``root``; returns the relative paths and the ambiguous.json content."""
    paths: dict[str, Path] = {}
    ambiguous: dict[str, Any] = {"ner": {}, "sentiment": {}, "qa": {}, "sentiment_kinds": {}}
    corpus = generate_corpus(corpus_sentences, split_seed(seed, "corpus"))
    paths["corpus"] = _write(root / "corpus.txt", "".join(" ".join(s) + "\n" for s in corpus))
    for split, n in SIZES["ner"].items():
        sentences = generate_ner(n, split_seed(seed, "ner", split), labelled=split != "test")
        text = "\n".join("".join(f"{t} {g}\n" for t, g in s.pairs) for s in sentences)
        paths[f"ner/{split}"] = _write(root / "ner" / f"{split}.txt", text)
        ambiguous["ner"][split] = [[i, j] for i, s in enumerate(sentences) for j in s.ambiguous]
    for split, n in SIZES["sentiment"].items():
        examples = generate_sentiment(n, split_seed(seed, "sentiment", split))
        text = "".join(f"{e.label}\t{' '.join(e.tokens)}\n" for e in examples)
        paths[f"sentiment/{split}"] = _write(root / "sentiment" / f"{split}.tsv", text)
        ambiguous["sentiment"][split] = [i for i, e in enumerate(examples) if e.ambiguous]
        kinds: dict[str, list[int]] = {kind: [] for kind in _KIND_WEIGHTS if kind != "plain"}
        for i, e in enumerate(examples):
            if e.ambiguous:
                kinds[e.kind].append(i)
        ambiguous["sentiment_kinds"][split] = kinds
    for split, n in SIZES["qa"].items():
        paragraphs = generate_qa(n, split_seed(seed, "qa", split), prefix=f"{split}-")
        article = {"title": f"generated travel stories ({split})", "paragraphs": [p.to_squad() for p in paragraphs]}
        data = {"version": "1.1", "data": [article]}
        paths[f"qa/{split}"] = _write(root / "qa" / f"{split}.json", json.dumps(data, indent=1) + "\n")
        ambiguous["qa"][split] = [q.id for p in paragraphs for q in p.questions if q.ambiguous]
    paths["ambiguous"] = _write(root / "ambiguous.json", json.dumps(ambiguous) + "\n")
    return {name: path.relative_to(root) for name, path in paths.items()}, ambiguous


def write_task_files(folder: Path, seed: int = 0, corpus_sentences: int = CORPUS_SENTENCES) -> dict[str, Path]:
    """Write the generated data under ``folder`` in the readers' formats, atomically (a temporary
    folder beside it, then renamed into place; an existing ``folder`` is replaced):

    - ``corpus.txt``: one whitespace-tokenised sentence per line;
    - ``ner/{train,valid,test}.txt``: CoNLL ``token TAG`` lines (IOB2), a blank line between sentences;
    - ``sentiment/{train,dev,test}.tsv``: ``label<TAB>text`` (0 negative, 1 positive);
    - ``qa/{train,dev}.json``: SQuAD v1.1 JSON;
    - ``ambiguous.json``: ``ner`` split -> [[sentence, token], ...] of ambiguous words, ``sentiment``
      split -> example indices (negation, contrast or context word; per kind in ``sentiment_kinds``),
      ``qa`` split -> ids of questions whose answer is an ambiguous word.

    Returns paths by name: ``corpus``, ``ambiguous``, ``ner``/``sentiment``/``qa`` (the folders, for
    the readers' ``load_split``) and ``<task>/<split>`` for each file.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        relative, _ = _write_all(tmp, seed, corpus_sentences)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, old / folder.name)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    out = {name: folder / path for name, path in relative.items()}
    out.update({task: folder / task for task in SIZES})
    return out
