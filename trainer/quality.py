"""Text quality of a story, the original auto-trainer's formula, and the final quality.

    text quality = 7.0
                 + 1.0  length 200 to 800 characters, inclusive
                 + 0.5  3 or more sentences
                 + 0.5  2 or more descriptive words per 100 words
                 + 0.3  dialogue: double quotes, straight or curly, around some text
                 (at most 9.3)

    final quality = 0.7 * text quality + 0.3 * 10 * ensemble confidence

Text quality and confidence keep their full precision; the final quality is rounded to two
decimals, as it is stored and shown (7.31, not 7.3100000000000005).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

BASE_SCORE = 7.0
LENGTH_BONUS = 1.0
STRUCTURE_BONUS = 0.5
DESCRIPTIVE_BONUS = 0.5
DIALOGUE_BONUS = 0.3
MAX_TEXT_QUALITY = BASE_SCORE + LENGTH_BONUS + STRUCTURE_BONUS + DESCRIPTIVE_BONUS + DIALOGUE_BONUS
FINAL_QUALITY_DECIMALS = 2

MIN_GOOD_LENGTH = 200
MAX_GOOD_LENGTH = 800
MIN_SENTENCES = 3
MIN_DESCRIPTIVE_PER_100_WORDS = 2.0

DESCRIPTIVE_WORDS: frozenset[str] = frozenset(
    """
    ablaze abrupt absent abundant acrid adrift afar aglow agile airy alert alien alive aloft
    alone aloof amber ample ancient angry anxious apart arid ashen askew astray austere avid
    awful awkward awry bare barren battered beautiful beloved bent bitter black bleak blind
    blissful blue blunt blurred bold bony brave brazen breathless bright brilliant brisk
    brittle broad broken bronze brown bruised brutal bulky burly burnished busy calm
    careful careless cautious cavernous charming cheerful chilly clammy clean clear clever
    close cloudy clumsy coarse cold colossal comfortable crimson crisp crooked cruel crumbling
    cunning curious damp dappled daring dark dazzling dead deafening dear deep defiant
    delicate delicious desolate desperate dim dirty distant dizzy drab dreadful dreary
    drowsy dry dull dusky dusty eager eerie elaborate elderly elegant empty endless enormous
    faded faint faithful familiar famous fancy fat fearful fearless feeble fervent fierce
    filthy fine flat fleeting flickering fluffy foggy fond foolish forgotten forlorn fragile
    fragrant frail frantic frayed free fresh frightened frosty frozen furious fuzzy gaunt
    gentle ghostly giant gigantic gilded gleaming glittering gloomy glorious glossy golden
    graceful grand grateful grave greasy great green grey grim grimy gritty gruff haggard
    handsome happy harsh hazy heavy hidden high hoarse hollow homely honest hopeful hot huge
    humble humid hungry hushed icy idle immense impatient innocent intricate jagged jealous
    jolly joyful keen kind large lavish lazy lean lifeless light little lively lofty lonely
    long loose lost loud lovely low loyal lucky luminous lush magnificent majestic massive
    meagre mellow melancholy merry mighty misty modest moist molten mossy mournful muddy
    murky musty mute mysterious naked narrow nervous nimble noble noisy numb obscure odd
    old ominous opulent ornate pale patient peaceful peculiar perfect pitiful placid plain
    pleasant plump polished poor precious pretty prickly proud pungent quaint quick quiet
    radiant ragged rapid rare raw reckless red remote restless rich rigid ripe rocky rosy
    rotten rough round rowdy royal rugged rusty sacred sad salty savage scarlet scented
    scorching scrawny serene shabby shaggy shallow sharp shimmering shiny short shrill shy
    silent silken silky silver simple sleek sleepy slender slick slim slimy slow small smoky
    smooth smug soft soggy solemn solid sombre sour sparkling sparse spicy splendid stale
    stark steady steep sticky stiff still stormy stout strange strong stubborn sturdy
    sublime subtle sudden sullen sunlit sunny supple sweet swift tall tame tangled tart tender
    tense terrible thick thin thirsty thorny tidy tiny tired towering tranquil trembling
    triumphant turbulent twisted ugly uneasy vacant vague vast velvet vibrant vicious vivid
    wary warm weary wet white wicked wide wild windswept wintry wiry wise withered woeful
    wooden worn wretched yellow young youthful zealous
    abroad afoot aground ajar anew asunder headlong yonder
    """.split()  # noqa: SIM905 - a word list of this size reads better as a block of text
)

# Words ending in "-ly" count as adverbs, except these common nouns and verbs.
_NOT_ADVERBS = frozenset(
    {
        "anomaly", "apply", "assembly", "belly", "bully", "butterfly", "comply", "dragonfly",
        "family", "firefly", "italy", "jelly", "monopoly", "multiply", "rally", "reply", "supply",
    }
)  # fmt: skip

_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")
# ASCII and the typographic spaces, dashes, quotes and ellipsis stories are written with.
# Casefolding changes none of the punctuation, and `\w` matches none of it, so in such a text
# `\w` means the same in ASCII mode (faster) and the whole text can be folded at once.
_PLAIN = re.compile(r"[\x00-\x7f\u00a0\u2010-\u2015\u2018-\u201f\u2026]*")
_PLAIN_WORD = re.compile(_WORD.pattern, re.ASCII)
# A sentence ends at a run of terminal punctuation followed by a space, a closing quote
# or bracket, or the end of the text, so "3.5 miles" stays one sentence. A run is tried
# whole from its first character only: trying it from each of its characters, and each
# length, made a teacher's 32,000 "!" followed by a letter take 15 s of the worker's loop.
_SENTENCE_END = re.compile(r"(?<![.!?…])[.!?…]++(?=[\s\"'”\u2019)\]]|$)")
# One letter or digit: `str.isalnum()`'s characters are `\w`'s without the underscore.
_ALNUM = re.compile(r"[^\W_]")
# Quotes around some text. Up to the first letter or digit it is matched one way only: with
# `[^"“”]*\w` a quote never closed was retried at every split, in time growing with the
# square of what follows it (7 s for an answer of 32,000 characters).
_DIALOGUE = re.compile(r"[\"“][^\"“”\w]*\w[^\"“”]*[\"”]")


@dataclass(frozen=True)
class QualityFeatures:
    """What the text-quality formula looks at; offline judges weigh the same features."""

    characters: int
    words: int
    sentences: int
    descriptive_per_100_words: float
    has_dialogue: bool


@functools.lru_cache(maxsize=1024)
def words(text: str) -> tuple[str, ...]:
    """The words of `text`: runs of letters and digits, with inner apostrophes and hyphens.

    Cached: the validity rules and the quality formula each read the same outputs' words.
    """
    return tuple(_WORD.findall(text))


@functools.lru_cache(maxsize=1024)
def folded_words(text: str) -> tuple[str, ...]:
    """`words(text)`, each casefolded; cached for the same readers."""
    if _PLAIN.fullmatch(text):
        # Casefolding such a text is lowering it, which changes no character's class: the
        # words of the lowered text are the lowered words, in one call instead of one each.
        return tuple(_PLAIN_WORD.findall(text.lower()))
    return tuple(word.casefold() for word in words(text))


def is_descriptive(word: str) -> bool:
    return _is_descriptive_folded(word.casefold())


def _is_descriptive_folded(lowered: str) -> bool:
    if lowered in DESCRIPTIVE_WORDS:
        return True
    return len(lowered) >= 5 and lowered.endswith("ly") and lowered not in _NOT_ADVERBS


def count_sentences(text: str) -> int:
    return sum(1 for part in _SENTENCE_END.split(text) if _ALNUM.search(part))


@functools.lru_cache(maxsize=1024)
def quality_features(text: str) -> QualityFeatures:
    """The features of `text`, surrounding whitespace left out of its length.

    Cached: in a JURY vote every judge weighs the same few outputs again.
    """
    stripped = text.strip()
    text_words = folded_words(text)
    descriptive = sum(1 for word in text_words if _is_descriptive_folded(word))
    return QualityFeatures(
        characters=len(stripped),
        words=len(text_words),
        sentences=count_sentences(stripped),
        descriptive_per_100_words=100 * descriptive / len(text_words) if text_words else 0.0,
        has_dialogue=_DIALOGUE.search(stripped) is not None,
    )


def score_features(features: QualityFeatures) -> float:
    score = BASE_SCORE
    if MIN_GOOD_LENGTH <= features.characters <= MAX_GOOD_LENGTH:
        score += LENGTH_BONUS
    if features.sentences >= MIN_SENTENCES:
        score += STRUCTURE_BONUS
    if features.descriptive_per_100_words >= MIN_DESCRIPTIVE_PER_100_WORDS:
        score += DESCRIPTIVE_BONUS
    if features.has_dialogue:
        score += DIALOGUE_BONUS
    return score


def text_quality(text: str) -> float:
    """The story's text quality, 7.0 to 9.3."""
    return score_features(quality_features(text))


def final_quality(text_quality: float, confidence: float) -> float:
    """The example's score: text quality blended with the ensemble's confidence (0-1)."""
    return round(0.7 * text_quality + 0.3 * confidence * 10, FINAL_QUALITY_DECIMALS)
