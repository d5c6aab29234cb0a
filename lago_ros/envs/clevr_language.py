# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
CLEVR-Robot goals: relation geometry, instruction phrasings, splits and parsing.

A goal names an anchor ball, a different target ball and a relation; it means "get the target
ball <relation> the anchor ball". There are 5 x 4 x 4 = 80 goals, each phrased 8 ways.
"""

from collections.abc import Sequence
import re
from typing import NamedTuple

import numpy as np

COLOURS: tuple[str, ...] = ('red', 'blue', 'green', 'purple', 'cyan')
RELATIONS: tuple[str, ...] = ('left', 'right', 'front', 'behind')
# World-frame unit direction of each relation, in RELATIONS order.
RELATION_DIRECTIONS = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
# B is R of A when the unit offset A->B has a dot product above this with R's direction...
MIN_ALIGNMENT = 0.6
# ...and the balls' centres are closer than this.
MAX_DISTANCE = 0.7

SPLITS: tuple[str, ...] = ('train', 'test', 'systematic_train', 'systematic_test')
NUM_PHRASINGS = 8
# Every third phrasing (2 and 5) is held out for the 'test' split.
TEST_PHRASINGS: tuple[int, ...] = (2, 5)
TRAIN_PHRASINGS: tuple[int, ...] = tuple(
    i for i in range(NUM_PHRASINGS) if i not in TEST_PHRASINGS)
# The systematic split holds out every goal anchored on this colour (all 8 phrasings).
SYSTEMATIC_HELD_OUT_ANCHOR = 'cyan'

# Three wordings of each relation; templates pick one by its index.
_RELATION_WORDS: dict[str, tuple[str, str, str]] = {
    'left': ('left of', 'to the left of', 'on the left side of'),
    'right': ('right of', 'to the right of', 'on the right side of'),
    'front': ('in front of', 'ahead of', 'on the front side of'),
    'behind': ('behind', 'in back of', 'on the back side of'),
}
# (template, relation wording index); {a} anchor colour, {t} target colour, {r} relation words.
_TEMPLATES: tuple[tuple[str, int], ...] = (
    ('There is a {a} ball; are there any {t} balls {r} it?', 0),
    ('There is a {a} rubber sphere; is there a {t} sphere {r} it?', 1),
    ('Push the {t} ball {r} the {a} ball.', 1),
    ('Move the {t} sphere so that it is {r} the {a} sphere.', 2),
    ('Can you get the matte {t} ball {r} the matte {a} ball?', 0),
    ('I want the {t} rubber ball {r} the {a} rubber ball.', 2),
    ('Find the {a} sphere and put the {t} sphere {r} it.', 0),
    ('Is the {t} ball {r} the {a} ball? Make it so.', 1),
)


class Goal(NamedTuple):
    """Get the `target` ball `relation` the `anchor` ball (colour and relation names)."""

    anchor: str
    target: str
    relation: str


class GoalError(ValueError):
    """A goal names an unknown colour or relation, or the same ball twice."""


class InstructionError(ValueError):
    """An instruction does not match any known phrasing of a goal."""


class SplitError(ValueError):
    """An unknown split name."""


def make_goal(anchor: str, target: str, relation: str) -> Goal:
    """Validate names and build a Goal; raise GoalError saying what is wrong."""
    for role, name in (('anchor', anchor), ('target', target)):
        if name not in COLOURS:
            raise GoalError(f'unknown {role} colour {name!r}; expected one of {COLOURS}')
    if relation not in RELATIONS:
        raise GoalError(f'unknown relation {relation!r}; expected one of {RELATIONS}')
    if anchor == target:
        raise GoalError(f'anchor and target are both {anchor!r}; expected two different colours')
    return Goal(anchor, target, relation)


ALL_GOALS: tuple[Goal, ...] = tuple(
    Goal(a, t, r) for a in COLOURS for t in COLOURS if t != a for r in RELATIONS)


def goal_indices(goal: Goal) -> tuple[int, int, int]:
    """Return (anchor ball index, target ball index, relation index)."""
    return COLOURS.index(goal.anchor), COLOURS.index(goal.target), RELATIONS.index(goal.relation)


def encode_goal(goal: Goal) -> np.ndarray:
    """Return the 14-number goal code: anchor one-hot 5, target one-hot 5, relation one-hot 4."""
    anchor, target, relation = goal_indices(goal)
    code = np.zeros(2 * len(COLOURS) + len(RELATIONS), dtype=np.float32)
    code[anchor] = 1.0
    code[len(COLOURS) + target] = 1.0
    code[2 * len(COLOURS) + relation] = 1.0
    return code


def relation_matrix(positions: np.ndarray) -> np.ndarray:
    """
    Return a (5, 5, 4) bool array: [a, t, r] says ball t is relation r of ball a.

    `positions` is (5, 2) ball centres (x, y). The diagonal is always False.
    """
    offsets = positions[None, :, :] - positions[:, None, :]
    distances = np.linalg.norm(offsets, axis=-1)
    safe = np.where(distances > 0.0, distances, 1.0)
    alignment = (offsets / safe[..., None]) @ RELATION_DIRECTIONS.T
    close = (distances > 0.0) & (distances < MAX_DISTANCE)
    return (alignment > MIN_ALIGNMENT) & close[..., None]


def relation_holds(positions: np.ndarray, goal: Goal) -> bool:
    """Return True when the goal's target ball is in the goal's relation to its anchor ball."""
    anchor, target, relation = goal_indices(goal)
    offset = positions[target] - positions[anchor]
    distance = float(np.hypot(offset[0], offset[1]))
    if not 0.0 < distance < MAX_DISTANCE:
        return False
    return float(offset @ RELATION_DIRECTIONS[relation]) > MIN_ALIGNMENT * distance


def instruction_for(goal: Goal, phrasing: int) -> str:
    """Phrase a goal with template number `phrasing` (0..7)."""
    if not 0 <= phrasing < NUM_PHRASINGS:
        raise ValueError(f'phrasing {phrasing} is out of range; expected 0..{NUM_PHRASINGS - 1}')
    template, wording = _TEMPLATES[phrasing]
    words = _RELATION_WORDS[goal.relation][wording]
    return template.format(a=goal.anchor, t=goal.target, r=words)


def _compile_template(template: str, wording: int) -> 're.Pattern[str]':
    colours = '|'.join(COLOURS)
    relations = '|'.join(
        f'(?P<{name}>{re.escape(words[wording])})' for name, words in _RELATION_WORDS.items())
    pieces = re.split(r'(\{[atr]\})', template)
    slots = {'{a}': f'(?P<anchor>{colours})', '{t}': f'(?P<target>{colours})',
             '{r}': f'(?:{relations})'}
    body = ''.join(slots.get(p, re.escape(p)) for p in pieces)
    return re.compile(body.replace(r'\ ', r'\s+'), re.IGNORECASE)


_PATTERNS = tuple(_compile_template(t, w) for t, w in _TEMPLATES)


def parse_instruction(instruction: str) -> Goal:
    """Return the goal an instruction states; raise InstructionError if it is malformed."""
    if not isinstance(instruction, str):
        raise InstructionError(
            f'instruction must be a str, got {type(instruction).__name__}')
    text = instruction.strip()
    for pattern in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            relation = next(r for r in RELATIONS if match.group(r))
            try:
                return make_goal(match['anchor'].lower(), match['target'].lower(), relation)
            except GoalError as error:
                raise InstructionError(f'instruction {instruction!r}: {error}') from None
    raise InstructionError(
        f'cannot parse instruction {instruction!r}; expected one of the 8 CLEVR-Robot '
        f'phrasings, e.g. {instruction_for(ALL_GOALS[0], 0)!r}, naming two different colours '
        f'from {COLOURS} and a relation (left, right, front, behind)')


def all_instructions() -> list[tuple[str, Goal]]:
    """Return all 640 (instruction, goal) pairs."""
    return [(instruction_for(g, p), g) for g in ALL_GOALS for p in range(NUM_PHRASINGS)]


def split_contents(split: str) -> tuple[tuple[Goal, ...], tuple[int, ...]]:
    """
    Return the goals and phrasing indices a split draws from.

    'train'/'test' share all 80 goals and differ in phrasings; 'systematic_train'/'systematic_test'
    use all phrasings and split the goals on whether the anchor is the held-out colour.
    """
    if split == 'train':
        return ALL_GOALS, TRAIN_PHRASINGS
    if split == 'test':
        return ALL_GOALS, TEST_PHRASINGS
    every = tuple(range(NUM_PHRASINGS))
    if split == 'systematic_train':
        return tuple(g for g in ALL_GOALS if g.anchor != SYSTEMATIC_HELD_OUT_ANCHOR), every
    if split == 'systematic_test':
        return tuple(g for g in ALL_GOALS if g.anchor == SYSTEMATIC_HELD_OUT_ANCHOR), every
    raise SplitError(f'unknown split {split!r}; expected one of {SPLITS}')


def as_goal(value: Sequence[str]) -> Goal:
    """Coerce an (anchor, target, relation) triple of names to a validated Goal."""
    items = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(items) != 3:
        raise GoalError(
            f'goal must be an (anchor, target, relation) triple of names, got {value!r}')
    return make_goal(*items)
