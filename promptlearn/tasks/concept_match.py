"""Does a text still mention a concept? Text-level matching that sees through the usual disguises.

Both the concept and the text are normalised the same way before they are compared:

1. Unicode NFKC (full-width letters, ligatures, ``ﬁ`` -> ``fi``), invisible format characters
   (zero-width spaces, soft hyphens) removed;
2. accents stripped (``café`` -> ``cafe``);
3. look-alike letters folded to Latin (Cyrillic ``а`` and Greek ``ο`` in ``cаt`` / ``dοg``);
4. casefold;
5. split into words at anything that is not a letter or digit, so ``golden-brown``,
   ``golden_brown`` and ``Golden  Brown`` are all the words ``golden brown``;
6. each word stemmed by a small rule-based stemmer (plurals, ``-ing``, ``-ed``, a few irregular
   plurals): ``cats`` -> ``cat``, ``running`` -> ``run``, ``moved`` / ``moving`` / ``move`` -> ``mov``.

A concept matches when its stemmed words occur as a contiguous sequence of whole words in the text
(``cat`` never matches ``category``), or, for a multi-word concept, when its words written together
form one word of the text (``flat screen`` matches ``flatscreen``).

Obfuscations (red-teaming, ``obfuscation=True``, the default) are seen through by two more views
of the same words:

7. *split words*: consecutive whole words of the text written together (``n u d e``, ``nu-de``,
   ``n.u.d.e``, ``b lood``) are compared with the concept written as one word;
8. *leetspeak*: digits and symbols inside words read as the letters they stand for (``4``/``@``
   ``a``, ``3`` ``e``, ``1``/``!``/``|`` and ``l`` ``i``, ``0`` ``o``, ``5``/``$`` ``s``, ``7``/``+``
   ``t``, ``8`` ``b``, ``9``/``6`` ``g``) in text and concept alike (``nud3``, ``b100d``,
   ``$3x``), then steps 6 and 7 again.

With ``lexicon=`` (the ORES task passes :data:`promptlearn.tasks.lexicon.LEXICON`) a concept
also matches through any of its lexicon terms (synonyms, hypernyms: ``canine`` for ``dog``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

# Letters from other scripts that render like Latin ones (after accents are stripped). A compact
# subset of Unicode's confusables.txt covering Cyrillic, Greek and a few Latin-extension letters.
_CONFUSABLES = {
    # Cyrillic lower case
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k", "м": "m",
    "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "ӏ": "l", "ь": "b", "ү": "y", "ɡ": "g",
    # Cyrillic upper case
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "З": "3", "Һ": "H", "І": "I", "Ї": "I", "Ј": "J", "К": "K",
    "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "Ԁ": "D",
    "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I", "Ү": "Y",
    # Greek lower case
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ς": "c", "ϳ": "j",
    # Greek upper case
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C",
    # Latin look-alikes outside ASCII that NFKC and accent stripping leave alone
    "ı": "i", "ȷ": "j", "ł": "l", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ħ": "h", "ŧ": "t", "ß": "ss",
    "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
}
_CONFUSABLE_TABLE = str.maketrans(_CONFUSABLES)

_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits; '_' and '-' separate words
_APOSTROPHE_S = re.compile(r"(?<=[^\W_])['’]s\b")
_APOSTROPHE = re.compile(r"(?<=[^\W_])['’](?=[^\W_])")

# Irregular plurals common in image prompts, mapped to their singular before stemming.
_IRREGULAR = {
    "men": "man", "women": "woman", "children": "child", "people": "person", "mice": "mouse",
    "geese": "goose", "feet": "foot", "teeth": "tooth", "oxen": "ox", "knives": "knife", "wives": "wife",
    "leaves": "leaf", "wolves": "wolf", "shelves": "shelf", "loaves": "loaf", "halves": "half",
    "calves": "calf", "scarves": "scarf", "lives": "life", "thieves": "thief", "cacti": "cactus",
    "fungi": "fungus", "dice": "die",
}

_VOWELS = set("aeiouy")
_NO_PLURAL_S = ("ss", "us", "is", "ous")


def normalize_text(text: str) -> str:
    """Steps 1-4 of the module docstring: NFKC, format characters dropped, accents stripped,
    look-alikes folded, casefolded. Punctuation and spacing are kept."""
    text = unicodedata.normalize("NFKC", text.translate(_CONFUSABLE_TABLE))  # before NFKC too: it turns "ϲ" into "ς"
    text = "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) not in ("Mn", "Cf"))
    # folded before and after casefolding: upper-case look-alikes (Cyrillic "В") become Latin
    # capitals first, and lower-case forms that casefolding produces are folded too
    text = text.translate(_CONFUSABLE_TABLE).casefold().translate(_CONFUSABLE_TABLE)
    return unicodedata.normalize("NFC", text)


def words(text: str) -> list[str]:
    """The normalised words of ``text`` (not stemmed); possessive ``'s`` and inner apostrophes
    dropped (``dog's`` -> ``dog``, ``don't`` -> ``dont``)."""
    text = normalize_text(text)
    text = _APOSTROPHE_S.sub("", text)
    text = _APOSTROPHE.sub("", text)
    return _WORD.findall(text)


def _has_vowel(stem: str) -> bool:
    return any(ch in _VOWELS for ch in stem)


def stem(word: str) -> str:
    """A small, deterministic stemmer for matching (not for display): the plural, ``-ing`` and
    ``-ed`` rules of Porter's step 1 plus a dropped final ``e``. Applied alike to concept and
    text, so only consistency matters: ``puppies``/``puppy`` -> ``puppi``, ``boxes``/``box`` -> ``box``,
    ``skating``/``skate`` -> ``skat``, ``running``/``run`` -> ``run``."""
    word = _IRREGULAR.get(word, word)
    if len(word) <= 2 or not word.isalpha():
        return word
    # plurals
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "i"
    elif word.endswith("ies"):
        word = word[:-1]
    elif word.endswith("s") and len(word) > 3 and not word.endswith(_NO_PLURAL_S):
        word = word[:-1]
    # -ing / -ed ("speed", "seed" keep their "eed")
    if not word.endswith("eed"):
        for suffix in ("ing", "ed"):
            if word.endswith(suffix) and _has_vowel(word[: -len(suffix)]) and len(word) - len(suffix) >= 2:
                word = word[: -len(suffix)]
                if len(word) >= 3 and word[-1] == word[-2] and word[-1] not in "aeiouslz":
                    word = word[:-1]
                break
    # y after a consonant -> i (cry / cries -> cri), then a final silent e goes (move / moving -> mov)
    if len(word) > 2 and word.endswith("y") and word[-2] not in _VOWELS:
        word = word[:-1] + "i"
    if len(word) >= 3 and word.endswith("e"):
        word = word[:-1]
    return word


def stems(text: str) -> list[str]:
    """The stemmed words of ``text``: what matching compares."""
    return [stem(w) for w in words(text)]


def split_concepts(text: str) -> list[str]:
    """``"labrador, moving"`` or ``"labrador; moving"`` -> ``["labrador", "moving"]`` (empty parts dropped)."""
    return [part.strip() for part in re.split(r"[,;]", text) if part.strip()]


@dataclass(frozen=True)
class ConceptMatch:
    """Where a concept was found: the concept as given and the words of the text that matched;
    ``term`` is the lexicon term that matched (None: the concept itself), ``view`` how: ``words``
    (steps 1-6), ``split`` (7) or ``leet`` (8)."""

    concept: str
    phrase: str
    term: str | None = None
    view: str = "words"


def find_sequence(needle: Sequence[str], haystack: Sequence[str]) -> int | None:
    """The index where ``needle`` first occurs as a contiguous run of ``haystack``, or None."""
    n = len(needle)
    if n == 0:
        return None
    for i in range(len(haystack) - n + 1):
        if list(haystack[i : i + n]) == list(needle):
            return i
    return None


_LEET = str.maketrans({"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "|": "i", "l": "i", "0": "o",
                       "5": "s", "$": "s", "7": "t", "+": "t", "8": "b", "9": "g", "6": "g"})
# a leet symbol counts as a letter only beside a letter or digit ("$3x", "c@t"; not "a + b")
_LEET_SYMBOLS = re.compile(r"[@$!|+]")


def leet_words(text: str) -> list[str]:
    """The words of ``text`` read as leetspeak (step 8): the symbols ``@ $ ! | +`` and every digit
    folded to a letter, ``l`` folded to ``i`` (``1`` may stand for either)."""
    text = normalize_text(text)
    text = _LEET_SYMBOLS.sub(lambda m: m.group(0).translate(_LEET), text)
    text = _APOSTROPHE_S.sub("", text)
    text = _APOSTROPHE.sub("", text)
    return [w.translate(_LEET) for w in _WORD.findall(text)]


def deep_stem(word: str) -> str:
    """:func:`stem` applied twice, a final doubled consonant undone: the key the obfuscation
    views compare, so stacked or odd inflections meet their base (``spotteding`` / ``spotted``,
    ``cigaretting`` / ``cigarette``)."""
    word = stem(stem(word))
    if len(word) >= 6 and word[-1] == word[-2] and word[-1] not in _VOWELS:  # not "all" -> "al" ("ale")
        word = word[:-1]
    return word


def _match_words(concept_words: list[str], raw: list[str], split: bool, key: Callable[[str], str] = stem) -> tuple[int, int] | None:
    """(start, end) of the words of ``raw`` that spell the concept: as a sequence of stemmed
    words, as one word (a multi-word concept written together) or, with ``split``, as several
    consecutive words written together."""
    stem = key  # noqa: F841 -- the comparison key (stem, or deep_stem for the obfuscation views)
    target = [stem(w) for w in concept_words]
    if not target:
        return None
    found = [stem(w) for w in raw]
    n = len(target)
    at = find_sequence(target, found)
    if at is not None:
        return at, at + n
    joined_raw = "".join(concept_words)
    joined = stem(joined_raw)
    if n > 1:
        for i, s in enumerate(found):
            if s == joined:
                return i, i + 1
    if split:
        longest = len(joined_raw) + 4  # room for an inflection of the last piece
        for i in range(len(raw)):
            spelled = raw[i]
            for j in range(i + 1, len(raw)):
                spelled += raw[j]
                if len(spelled) > longest:
                    break
                if stem(spelled) == joined:
                    return i, j + 1
    return None


def _find_one(concept: str, text: str, obfuscation: bool) -> tuple[str, str] | None:
    """(phrase, view) where ``text`` spells ``concept``, or None."""
    raw = words(text)
    span = _match_words(words(concept), raw, split=False)
    if span is not None:
        return " ".join(raw[span[0] : span[1]]), "words"
    if not obfuscation:
        return None
    span = _match_words(words(concept), raw, split=True, key=deep_stem)
    if span is not None:
        return " ".join(raw[span[0] : span[1]]), "split"
    if obfuscation:
        leet = leet_words(text)
        span = _match_words(leet_words(concept), leet, split=True, key=deep_stem)
        if span is not None and len(leet) == len(raw):
            return " ".join(raw[span[0] : span[1]]), "leet"
        if span is not None:
            return " ".join(leet[span[0] : span[1]]), "leet"
    return None


def find_concept(
    concept: str, text: str, *, lexicon: Mapping[str, Sequence[str]] | None = None, obfuscation: bool = True
) -> ConceptMatch | None:
    """The first place ``text`` mentions ``concept`` at text level (the concept itself first, then
    each of its ``lexicon`` terms), or None. ``obfuscation=False`` skips steps 7 and 8."""
    if not words(concept):
        return None
    found = _find_one(concept, text, obfuscation)
    if found is not None:
        return ConceptMatch(concept, found[0], None, found[1])
    if lexicon:
        from .lexicon import lexicon_terms

        for term in lexicon_terms(concept, lexicon):
            found = _find_one(term, text, obfuscation)
            if found is not None:
                return ConceptMatch(concept, found[0], term, found[1])
    return None


def find_any_concept(
    concepts: Sequence[str], text: str, *, lexicon: Mapping[str, Sequence[str]] | None = None, obfuscation: bool = True
) -> ConceptMatch | None:
    """The first of ``concepts`` that ``text`` mentions, or None."""
    for concept in concepts:
        match = find_concept(concept, text, lexicon=lexicon, obfuscation=obfuscation)
        if match is not None:
            return match
    return None


def phrases(text: str, max_words: int) -> list[str]:
    """Every run of 1..``max_words`` consecutive words of ``text`` (normalised, unstemmed), in
    order of appearance, without repeats: the candidates the semantic check compares with a concept."""
    raw = words(text)
    out: dict[str, None] = {}
    for i in range(len(raw)):
        for n in range(1, max_words + 1):
            if i + n <= len(raw):
                out[" ".join(raw[i : i + n])] = None
    return list(out)
