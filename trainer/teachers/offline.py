"""Seven offline teachers: story writers and judges that need no network.

They let Chorus run a whole session (generation, validity, vote, scores) on a laptop, in
tests and in demos. Each composes a story from the request's prompt, genre and style with
a small grammar over the genre's lexicon, and each has its own habits: how long it
writes, whether it uses dialogue, how densely it describes, how it builds sentences. One
of them now and then writes a weak story, so that validity filtering has work to do. The
same teacher, prompt, style and seed always give the same text.

As judges, each weighs the quality features (length, sentences, description, dialogue)
by its own taste.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from models.enums import Genre
from trainer.catalog import GENRE_LABELS, PROMPTS, STYLES
from trainer.metrics import teacher_metrics
from trainer.quality import QualityFeatures, quality_features, words
from trainer.teachers.base import (
    Generation,
    GenerationRequest,
    JudgeRequest,
    TeacherConfig,
    Verdict,
)
from trainer.teachers.offline_lexicon import LEXICONS

_TOKENS_PER_WORD = 1.3
_LATENCY_JITTER = 0.3


@dataclass(frozen=True)
class _Taste:
    """How much a judge cares for each quality feature, and the length it likes best."""

    ideal_characters: int
    length: float
    sentences: float
    description: float
    dialogue: float

    def score(self, features: QualityFeatures) -> float:
        length_fit = min(features.characters, self.ideal_characters) / max(
            features.characters, self.ideal_characters
        )
        return (
            self.length * length_fit
            + self.sentences * min(features.sentences / 8, 1.0)
            + self.description * min(features.descriptive_per_100_words / 10, 1.0)
            + self.dialogue * features.has_dialogue
        )


@dataclass(frozen=True)
class _Persona:
    """One offline teacher's writing habits and taste."""

    name: str
    model: str
    openings: tuple[str, ...]
    closings: tuple[str, ...]
    beats: tuple[int, int]
    """The least and most narrative beats between opening and closing."""
    dialogue_lines: int
    ornament: float
    """The chance that an optional adjective or adverb is written."""
    paragraphs: int
    taste: _Taste
    joins_beats: bool = False
    """Joins beats in pairs into long sentences."""
    asides: tuple[str, ...] = ()
    """Interjections opening about a third of the beats."""
    weak_rate: float = 0.0


_PERSONAS: tuple[_Persona, ...] = (
    _Persona(
        name="offline-bard",
        model="offline/bard-1",
        openings=(
            "Listen, for this is the tale of how {premise_clause}.",
            "They still sing of it in {place}: how {premise_clause}.",
        ),
        closings=(
            "And so the {object} passed out of {place} and into the songs they still sing "
            "there, {adv} and without end.",
            "When the {adj} morning came at last, {hero} walked out of {place} and did not "
            "look back.",
        ),
        beats=(8, 11),
        dialogue_lines=3,
        ornament=0.9,
        paragraphs=4,
        taste=_Taste(
            ideal_characters=1200, length=1.0, sentences=1.0, description=2.0, dialogue=1.5
        ),
    ),
    _Persona(
        name="offline-minimalist",
        model="offline/minimalist-1",
        openings=("{premise}",),
        closings=(
            "{hero} kept the {object}, and nobody asked about it again.",
            "By morning only the {object} was left to tell {hero_obj} what happened.",
            "{companion} never spoke of it again, and neither did {hero}.",
        ),
        beats=(0, 0),
        dialogue_lines=0,
        ornament=0.0,
        paragraphs=1,
        taste=_Taste(
            ideal_characters=180, length=3.0, sentences=0.5, description=0.0, dialogue=0.0
        ),
    ),
    _Persona(
        name="offline-chronicler",
        model="offline/chronicler-1",
        openings=(
            "The record begins in {place}, where {premise_clause}.",
            "Here is what is known: {premise_clause}.",
        ),
        closings=(
            "So ends the record of {place}.",
            "What became of the {object} afterwards, the record does not say.",
        ),
        beats=(3, 5),
        dialogue_lines=0,
        ornament=0.4,
        paragraphs=2,
        taste=_Taste(
            ideal_characters=600, length=1.5, sentences=2.5, description=0.5, dialogue=0.0
        ),
    ),
    _Persona(
        name="offline-dramatist",
        model="offline/dramatist-1",
        openings=("It started with an argument, the way these things do: {premise_clause}.",),
        closings=(
            "Nobody spoke after that.",
            "And that, in the end, was the last thing anyone said in {place}.",
        ),
        beats=(1, 2),
        dialogue_lines=4,
        ornament=0.1,
        paragraphs=3,
        taste=_Taste(
            ideal_characters=700, length=1.0, sentences=1.0, description=0.0, dialogue=3.0
        ),
    ),
    _Persona(
        name="offline-painter",
        model="offline/painter-1",
        openings=(
            "Under a {adj} sky above {place}, {premise_clause}.",
            "In the {adj} hour before dawn, {premise_clause}.",
        ),
        closings=(
            "The {adj} dark closed over {place} like {adj} water, and the {object} glowed "
            "{adv} in it.",
            "Light gathered, {adj} and {adj}, along the edges of the {object}.",
        ),
        beats=(2, 4),
        dialogue_lines=0,
        ornament=1.0,
        paragraphs=1,
        joins_beats=True,
        taste=_Taste(
            ideal_characters=650, length=1.0, sentences=0.5, description=3.0, dialogue=0.5
        ),
    ),
    _Persona(
        name="offline-raconteur",
        model="offline/raconteur-1",
        openings=(
            "Now, you may have heard a version of this already, but here is how it really "
            "went: {premise_clause}.",
            "I was told this one over a long dinner, and I have been telling it ever since: "
            "{premise_clause}.",
        ),
        closings=(
            "And if you don't believe me, ask anyone in {place}; they'll tell you the same, "
            "more or less.",
            "That's the story, or most of it; the rest you'd have to hear from {companion}.",
        ),
        beats=(9, 12),
        dialogue_lines=2,
        ornament=0.3,
        paragraphs=5,
        asides=("Mind you,", "Now,", "And here's the thing:", "As it happens,"),
        taste=_Taste(
            ideal_characters=1500, length=2.0, sentences=1.0, description=0.5, dialogue=1.0
        ),
    ),
    _Persona(
        name="offline-apprentice",
        model="offline/apprentice-1",
        openings=("This is a story about how {premise_clause}.",),
        closings=("The end.", "And that is the end of the story."),
        beats=(2, 4),
        dialogue_lines=1,
        ornament=0.1,
        paragraphs=2,
        weak_rate=0.1,
        taste=_Taste(
            ideal_characters=500, length=1.0, sentences=1.0, description=1.0, dialogue=1.0
        ),
    ),
)
_PERSONA_BY_MODEL = {persona.model: persona for persona in _PERSONAS}

_BEATS: tuple[str, ...] = (
    "{hero} crossed {place} with the {adj?} {object} wrapped in a scrap of cloth.",
    "At {where}, {companion} {verb} the {adj?} {thing} and would not say why.",
    "Nobody in {place} had spoken of the {object} for years, yet there it sat, {adv?} "
    "waiting for {hero_obj}.",
    "{hero} {verb} the {adj?} {thing}, and for a moment all of {place} held its breath.",
    "The {adj} light of {where} fell across {hero_pos} hands.",
    "{companion} had warned {hero_obj} about the {object}, more than once.",
    "By nightfall {hero} understood that the {object} belonged to {place} more than to anyone.",
    "{hero} {adv?} counted what was left: a {adj?} {thing}, a promise, and the {object}.",
    "Somewhere beyond {where}, something {adj} was waiting.",
    "{companion} and {hero} argued {adv?} over the {thing} until neither remembered who had "
    "started it.",
    "The {object} grew {adj} in {hero_pos} grip, as if it knew where they were going.",
    "{companion} {verb} the {thing} with {adj} care.",
    "They reached {where} just as the {adj?} evening came down.",
    "There were rules about the {object}, and {hero} broke every one of them.",
    "{hero} remembered what {companion} had said and {verb} the {thing} anyway.",
    "In {where}, even the {thing} seemed {adj}.",
    "It took {hero_obj} three tries to find the courage, and a fourth to find the {object}.",
    "{companion} laughed {adv?}, and the sound carried all the way across {place}.",
    "The {adj?} {thing} on the table told {hero_obj} more than any witness could.",
    "When {hero} finally {verb} the {object}, nothing happened, and that was the worst of it.",
    "That night {hero} slept badly, dreaming of the {object} and of {place}.",
    "Morning came {adj} over {where}.",
    "{hero} found {companion} waiting at {where}, {adv?} turning the {thing} over and over.",
    "For a long while no one moved, and the {adj?} {object} lay between them like a question.",
)

_LINES: tuple[str, ...] = (
    "Are you sure about the {object}?",
    "We should never have come to {place}.",
    "Keep walking, and don't look at the {thing}.",
    "I knew it would end like this.",
    "Tell me the truth, just this once.",
    "It isn't yours to keep.",
    "If we wait until morning, it will be too late.",
    "Listen. Do you hear that?",
    "There's still time to turn back.",
    "Whatever happens, don't let go of the {object}.",
    "I'm not afraid of {place}.",
    "You always did like the {adj} ones.",
    "Who else knows about the {object}?",
    "Then we do it together, or not at all.",
)

_ADJECTIVES = (
    "pale", "quiet", "golden", "bitter", "silver", "restless", "heavy", "gentle", "strange",
    "dim", "bright", "cold", "tender", "hollow", "vast", "weary",
)  # fmt: skip
_ADVERBS = (
    "slowly", "quietly", "carefully", "suddenly", "softly", "gravely", "patiently",
    "nervously", "gently", "stubbornly", "bitterly", "silently",
)  # fmt: skip
_MORALS = (
    "kindness costs less than pride",
    "what you carry ends up carrying you",
    "the slow road is still a road",
    "a promise kept is worth more than gold",
    "those who listen learn the most",
)


@dataclass(frozen=True)
class _Device:
    """How a style shapes a story: who narrates, what frames it, how it is divided."""

    perspective: str | None = None
    """"first", "second" or "third"; None leaves it to the genre."""
    opening: str | None = None
    closing: str | None = None
    headers: tuple[str, ...] = ()
    """Each paragraph opens with the next header: diary days, log entries."""
    transitions: tuple[str, ...] = ()
    """Open every beat after the first, in turn."""
    aside: str | None = None
    extra_dialogue: int = 0
    ornament: float | None = None


# The first rule whose keyword the style contains gives its device.
_DEVICES: tuple[tuple[str, _Device], ...] = (
    ("second person", _Device(perspective="second")),
    ("fable", _Device(perspective="third", closing="And the moral of the story: {moral}.")),
    (
        "letter",
        _Device(
            perspective="first", opening="Dear {companion_address},", closing="Yours, as ever."
        ),
    ),
    (
        "diary",
        _Device(perspective="first", headers=("Monday.", "Tuesday.", "Wednesday.", "Thursday.")),
    ),
    (
        "bedtime",
        _Device(
            perspective="third",
            opening="Once upon a time, in {place}, there lived {hero_named}.",
            closing="Now close your eyes, little one. The {object} is safe until morning.",
        ),
    ),
    (
        "log",
        _Device(
            perspective="first",
            headers=("Captain's log, day one.", "Day two.", "Day three."),
        ),
    ),
    (
        "news",
        _Device(
            perspective="third",
            opening="Residents of {place} are still talking about what happened there this week, "
            "our correspondent reports.",
            closing="Enquiries continue, and this newspaper will report further developments.",
        ),
    ),
    (
        "campfire",
        _Device(
            opening="Pull your blanket closer to the fire, because this one happened not far from "
            "here.",
            closing="And some say that on nights like this you can still hear it, out past the "
            "trees.",
        ),
    ),
    ("unreliable", _Device(perspective="first", aside="Or at least, that is how I remember it.")),
    (
        "twist",
        _Device(
            closing="Only at the very end did {hero} see the truth: {companion} had been carrying "
            "the real {object} all along."
        ),
    ),
    (
        "backwards",
        _Device(
            opening="This story runs backwards, so begin at the end.",
            transitions=("Before that,", "Earlier still,", "And before that,"),
        ),
    ),
    (
        "conversation",
        _Device(
            opening="It all came out in a single conversation, late one night in {place}.",
            extra_dialogue=4,
        ),
    ),
    (
        "storyteller",
        _Device(
            opening="Gather round, children. I am old, and this story is older than I am.",
            closing="That is how it was told to me, and now it is yours to tell.",
        ),
    ),
    ("minimalist", _Device(ornament=0.0)),
    (
        "cat",
        _Device(
            perspective="third",
            opening="I am the cat of this house, and I saw all of it from the top of the dresser.",
            closing="Nobody asked the cat, of course. Nobody ever does.",
        ),
    ),
    (
        "noir",
        _Device(
            perspective="first",
            opening="The rain had been falling on {place} for three days when trouble walked in.",
        ),
    ),
)
_PLAIN = _Device()

_GENRE_BY_PROMPT = {prompt: genre for genre, prompts in PROMPTS.items() for prompt in prompts}
_GENRE_BY_LABEL = {label.casefold(): genre for genre, label in GENRE_LABELS.items()}
_LABEL_PATTERN = re.compile(
    "|".join(
        rf"\b{re.escape(label)}\b" for label in sorted(_GENRE_BY_LABEL, key=len, reverse=True)
    ),
    re.IGNORECASE,
)
_SLOT = re.compile(r"\{(\w+)(\?)?\}")
# Words that may start a clause in lower case; names and "I" keep their capital.
_LOWERABLE = frozenset(
    {
        "A", "An", "And", "As", "At", "By", "For", "In", "It", "Morning", "Nobody",
        "Somewhere", "The", "There", "They", "This", "When", "You",
    }
)  # fmt: skip


@dataclass(frozen=True)
class _Brief:
    """What a request asks for, as far as an offline teacher can read it."""

    premise: str
    genre: Genre
    style: str | None

    @classmethod
    def read(cls, request_text: str, prompt: str) -> _Brief:
        """Find the catalog prompt, the genre and the style named anywhere in the request."""
        premise = next((p for p in _GENRE_BY_PROMPT if p in request_text), prompt.strip())
        genre = _GENRE_BY_PROMPT.get(premise)
        if genre is None:
            label = _LABEL_PATTERN.search(request_text)
            genre = _GENRE_BY_LABEL[label[0].casefold()] if label else Genre.SHORT_STORY
        lowered = request_text.casefold()
        style = next((style for style in STYLES if style.casefold() in lowered), None)
        return cls(premise=premise, genre=genre, style=style)


def _device(style: str | None) -> _Device:
    lowered = (style or "").casefold()
    return next((device for keyword, device in _DEVICES if keyword in lowered), _PLAIN)


def _stable_seed(*parts: object) -> int:
    """A seed that, unlike hash(), is the same in every process."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _capitalise(sentence: str) -> str:
    for i, char in enumerate(sentence):
        if char.isalpha():
            return sentence[:i] + char.upper() + sentence[i + 1 :]
    return sentence


def _lower_first(sentence: str) -> str:
    first, _, rest = sentence.partition(" ")
    return f"{first.lower()} {rest}" if first in _LOWERABLE else sentence


def _clause(premise: str) -> str:
    """The premise as a clause that can follow "how" or a colon."""
    return _lower_first(premise.strip().rstrip(".!?"))


def _address(name: str) -> str:
    """How a letter greets someone: "my grandfather" becomes "Grandfather"."""
    return _capitalise(re.sub(r"^(?:my|the) ", "", name))


def _join(sentences: Sequence[str]) -> str:
    """Sentences run together with ", and " into one long sentence, as the painter writes."""
    *leading, last = sentences
    if not leading:
        return last
    return ", and ".join([*(sentence[:-1] for sentence in leading), _lower_first(last)])


def _chunks(items: Sequence[str], count: int) -> list[list[str]]:
    """`items` in `count` contiguous runs of nearly equal size (fewer if there are fewer)."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    runs, start = [], 0
    for i in range(count):
        end = start + size + (i < extra)
        runs.append(list(items[start:end]))
        start = end
    return runs


class _Writer:
    """Fills templates for one story: the cast and setting stay, the rest is drawn anew."""

    def __init__(self, persona: _Persona, brief: _Brief, rng: random.Random) -> None:
        self.persona = persona
        self.device = _device(brief.style)
        self.lexicon = LEXICONS[brief.genre]
        self.rng = rng
        self.ornament = persona.ornament if self.device.ornament is None else self.device.ornament
        (hero, hero_is), (companion, _) = rng.sample(self.lexicon.characters, 2)
        perspective = self.device.perspective or ("first" if self.lexicon.first_person else "third")
        key_object = rng.choice(self.lexicon.objects)
        pronouns = {"first": ("I", "my", "me"), "second": ("you", "your", "you")}
        subject, possessive, objective = pronouns.get(perspective, (hero, f"{hero}'s", hero))
        self.slots = {
            "hero": subject,
            "hero_pos": possessive,
            "hero_obj": objective,
            "hero_named": f"{hero}, {hero_is}",
            "companion": companion,
            "companion_address": _address(companion),
            "place": rng.choice(self.lexicon.places),
            "object": key_object,
            "premise": brief.premise,
            "premise_clause": _clause(brief.premise),
            "moral": rng.choice(_MORALS),
        }
        self.choices: dict[str, Sequence[str]] = {
            "adj": (*self.lexicon.adjectives, *_ADJECTIVES),
            "adv": _ADVERBS,
            "thing": [thing for thing in self.lexicon.objects if thing != key_object],
            "where": self.lexicon.places,
            "verb": self.lexicon.verbs,
        }

    def _draw(self, match: re.Match[str]) -> str:
        name, optional = match[1], match[2]
        if optional and self.rng.random() >= self.ornament:
            return ""
        if name in self.slots:
            return self.slots[name]
        return self.rng.choice(self.choices[name])

    def fill(self, template: str, *, sentence: bool = True) -> str:
        text = _SLOT.sub(self._draw, template)
        text = re.sub(r" {2,}", " ", text).replace(" ,", ",").replace(" .", ".").strip()
        # "a" before a vowel; no lexicon word starts with a consonant-sounding vowel.
        text = re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", text)
        return _capitalise(text) if sentence else text

    def _line(self, template: str, speaker: str) -> str:
        spoken = self.fill(template)
        verb = "asked" if spoken.endswith("?") else "said"
        tag = self.fill(f"{{{speaker}}} {verb} {{adv?}}.", sentence=False)
        if spoken.endswith("."):
            spoken = f"{spoken[:-1]},"
        return f'"{spoken}" {tag}'

    def story(self) -> str:
        if self.rng.random() < self.persona.weak_rate:
            return self._weak_story()
        body = [self.fill(self.rng.choice(self.persona.openings))]
        body += self._middle()
        body.append(self.fill(self.rng.choice(self.persona.closings)))
        headers = self.device.headers
        runs = _chunks(body, len(headers) or self.persona.paragraphs)
        paragraphs = [" ".join([*headers[i : i + 1], *run]) for i, run in enumerate(runs)]
        if self.device.opening:
            paragraphs.insert(0, self.fill(self.device.opening))
        if self.device.closing:
            paragraphs.append(self.fill(self.device.closing))
        return "\n\n".join(paragraphs)

    def _weak_story(self) -> str:
        """Too short, or one line over and over: what validity filtering must catch."""
        if self.rng.random() < 0.5:
            return self.fill("{hero} found the {object}. It was good. The end.")
        return "\n".join([self.fill("{hero} {verb} the {object}.")] * 6)

    def _middle(self) -> list[str]:
        low, high = self.persona.beats
        beats = [self.fill(t) for t in self.rng.sample(_BEATS, self.rng.randint(low, high))]
        if self.persona.joins_beats:
            beats = [_join(beats[i : i + 2]) for i in range(0, len(beats), 2)]
        beats = [self._transition(i, beat) for i, beat in enumerate(beats)]
        if self.device.aside and beats:
            beats.insert(self.rng.randrange(len(beats)) + 1, self.device.aside)
        lines = self.persona.dialogue_lines + self.device.extra_dialogue
        for i, template in enumerate(self.rng.sample(_LINES, lines)):
            speaker = ("companion", "hero")[i % 2]
            beats.insert(self.rng.randint(0, len(beats)), self._line(template, speaker))
        return beats

    def _transition(self, index: int, beat: str) -> str:
        if self.device.transitions:
            if index == 0:
                return beat
            opener = self.device.transitions[(index - 1) % len(self.device.transitions)]
        elif self.persona.asides and self.rng.random() < 1 / 3:
            opener = self.rng.choice(self.persona.asides)
        else:
            return beat
        return f"{opener} {_lower_first(beat)}"


def offline_ensemble() -> list[TeacherConfig]:
    """The seven offline teachers, as the default ensemble when no teachers are configured."""
    return [
        TeacherConfig(name=persona.name, provider="offline", model=persona.model)
        for persona in _PERSONAS
    ]


class OfflineTeacher:
    """A teacher that writes and judges locally; `config.model` picks its persona."""

    _REMEMBERED_OUTPUTS = 256

    def __init__(self, config: TeacherConfig, simulated_latency_ms: int = 0) -> None:
        persona = _PERSONA_BY_MODEL.get(config.model)
        if persona is None:
            known = ", ".join(_PERSONA_BY_MODEL)
            raise ValueError(f"unknown offline model {config.model!r}; known models: {known}")
        if simulated_latency_ms < 0:
            raise ValueError("simulated_latency_ms must not be negative")
        self.config = config
        self.simulated_latency_ms = simulated_latency_ms
        self._persona = persona
        # What it wrote lately, so that as a judge it can recognise its own story.
        self._written: deque[str] = deque(maxlen=self._REMEMBERED_OUTPUTS)
        self._metrics = teacher_metrics(config.name)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def available(self) -> bool:
        return True

    @property
    def offline(self) -> bool:
        return True

    async def generate(self, request: GenerationRequest) -> Generation:
        started = time.perf_counter()
        brief = _Brief.read(f"{request.system}\n{request.prompt}", request.prompt)
        seed = _stable_seed(self.name, brief.premise, brief.style, request.seed)
        text = self._write(brief, seed)
        if self.simulated_latency_ms:
            jitter = random.Random(seed).uniform(1 - _LATENCY_JITTER, 1 + _LATENCY_JITTER)
            # The latency is the whole call's, as a provider's is: the story is written within
            # it, not before it, so that the time spent writing does not lengthen the call.
            answer_at = started + self.simulated_latency_ms * jitter / 1000
            await asyncio.sleep(max(0.0, answer_at - time.perf_counter()))
        self._written.append(text)
        elapsed = time.perf_counter() - started
        self._metrics.call_ended("write", "ok", elapsed)
        return Generation(
            text=text,
            latency_ms=round(elapsed * 1000),
            prompt_tokens=_tokens(f"{request.system} {request.prompt}"),
            completion_tokens=_tokens(text),
            finish_reason="stop",
        )

    async def judge(self, request: JudgeRequest) -> Verdict:
        """The candidate this teacher's taste scores highest, never a story it wrote."""
        started = time.perf_counter()
        read = [(candidate, quality_features(candidate.text)) for candidate in request.candidates]
        ranked = sorted(
            (-self._persona.taste.score(features), candidate.label)
            for candidate, features in read
            if candidate.text not in self._written
        )
        # Tokens as if it read the prompt and the stories, and answered with one label.
        words_read = len(words(request.prompt)) + sum(features.words for _, features in read)
        self._metrics.call_ended("judge", "ok", time.perf_counter() - started)
        return Verdict(
            ranked[0][1] if ranked else None,
            prompt_tokens=_tokens_in(words_read),
            completion_tokens=1,
        )

    async def aclose(self) -> None:
        return None

    def _write(self, brief: _Brief, seed: int) -> str:
        return _Writer(self._persona, brief, random.Random(seed)).story()


def _tokens(text: str) -> int:
    return _tokens_in(len(words(text)))


def _tokens_in(word_count: int) -> int:
    return round(word_count * _TOKENS_PER_WORD)
