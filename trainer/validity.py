"""Whether a teacher's output may take part in the vote, and if not, why.

An output is left out when it is empty, too short, a refusal, or degenerate. The
repetition rules are those the Gopher corpus filters (Rae et al., 2021) use to catch
looping model output: too many duplicate lines, or one word pair covering too much of
the text.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise
from operator import itemgetter

from trainer.quality import folded_words

MIN_WORDS = 20
MAX_DUPLICATE_LINE_FRACTION = 0.3
MIN_LINES_FOR_DUPLICATE_RULE = 3
MAX_TOP_BIGRAM_CHAR_SHARE = 0.2
MIN_WORDS_FOR_BIGRAM_RULE = 20

# Refusals open the answer; a story that has a character say "I cannot" later is fine.
_REFUSAL_WINDOW = 160
_INABILITY = (
    r"i (?:can't|cannot|can not|won't|will not|am unable to|am not able to)"
    r"|i'm (?:unable|not able) to"
)
_ASSISTANCE = (
    r"(?:help|assist|comply|fulfil|fulfill|write|create|provide|generate|produce|continue"
    r"|complete|do that|do this|engage)"
)
# Every refusal opens with a word that starts with "a" or "i": the lookahead lets the search
# skip the other positions at once.
_REFUSAL = re.compile(
    r"\b(?=[ai])(?:"
    + "|".join(
        (
            r"\bas an ai\b",
            r"\bi(?:'m| am) sorry,? but\b",
            r"\bi apologi[sz]e,? but\b",
            r"\bi must (?:decline|refuse)\b",
            r"\bi(?:'m| am) afraid i (?:can't|cannot)\b",
            # "I cannot remember the winter..." opens stories; only a refusal to assist counts.
            rf"\b(?:{_INABILITY})(?: \w+){{0,3}}? {_ASSISTANCE}\b",
        )
    )
    + ")",
    re.IGNORECASE,
)


def invalid_reason(text: str | None) -> str | None:
    """None when `text` may be voted on; otherwise a short reason a person can read."""
    if text is None or not text.strip():
        return "empty"
    for check in (_refusal, _too_short, _duplicate_lines, _repeated_bigram):
        reason = check(text)
        if reason is not None:
            return reason
    return None


def _refusal(text: str) -> str | None:
    opening = text.lstrip()[:_REFUSAL_WINDOW]
    # Curly apostrophes are replaced one character for one, so the span quotes the original.
    match = _REFUSAL.search(opening.replace("\u2019", "'"))
    if match is None:
        return None
    phrase = opening[match.start() : match.end()]
    where = "begins with" if match.start() == 0 else "opens with"
    return f'refusal: {where} "{phrase}"'


def _too_short(text: str) -> str | None:
    count = len(folded_words(text))
    if count >= MIN_WORDS:
        return None
    return f"too short: {count} word{'' if count == 1 else 's'} (minimum {MIN_WORDS})"


def _duplicate_lines(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < MIN_LINES_FOR_DUPLICATE_RULE:
        return None
    # Every repeat after a line's first appearance is a duplicate.
    fraction = (len(lines) - len(set(lines))) / len(lines)
    if fraction <= MAX_DUPLICATE_LINE_FRACTION:
        return None
    return f"repetitive: {fraction:.0%} duplicate lines (limit {MAX_DUPLICATE_LINE_FRACTION:.0%})"


def _repeated_bigram(text: str) -> str | None:
    text_words = folded_words(text)
    if len(text_words) < MIN_WORDS_FOR_BIGRAM_RULE:
        return None
    pairs = list(pairwise(text_words))
    bigrams = Counter(pairs)
    if len(bigrams) == len(pairs):
        return None  # no pair twice, as in most stories
    # The first of the most frequent pairs, as Counter.most_common(1) picks it.
    first, second = max(bigrams.items(), key=itemgetter(1))[0]
    # The characters of the words the pair's occurrences cover, each word once: in "ha ha
    # ha" the occurrences overlap, and counting each in full would cover more than all.
    covered: set[int] = set()
    for position, pair in enumerate(pairs):
        if pair == (first, second):
            covered.update((position, position + 1))
    share = sum(len(text_words[position]) for position in covered) / sum(map(len, text_words))
    if share <= MAX_TOP_BIGRAM_CHAR_SHARE:
        return None
    return (
        f'repetitive: "{first} {second}" covers {share:.0%} of the text '
        f"(limit {MAX_TOP_BIGRAM_CHAR_SHARE:.0%})"
    )
