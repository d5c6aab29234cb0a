# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Natural-language instructions for the Meta-World tasks, with a fixed train/test split.

Each task has eight paraphrases. Phrasings 3 and 7 (every fourth, counting from 0) are held out
as the 'test' split, so a prior fine-tuned on 'train' instructions can be checked on wordings it
has never seen. The split depends only on a phrasing's position in its tuple, never on a seed.
"""

import numpy as np

from lago_ros.envs.tasks import get_task

SPLITS: tuple[str, ...] = ('train', 'test')
# Every fourth phrasing (indices 3 and 7 of 8) belongs to the 'test' split.
TEST_EVERY = 4

METAWORLD_INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    'reach-v3': (
        'Reach the goal position with the gripper.',
        'Move the robot hand to the target point.',
        'Bring the end effector to the goal.',
        'Put your gripper at the marked target location.',
        'Guide the arm until its hand touches the goal spot.',
        'Go to the target position in the air.',
        'Position the gripper exactly on the goal.',
        'Extend the arm so the hand arrives at the target.',
    ),
    'push-v3': (
        'Push the puck to the goal.',
        'Slide the puck across the table to the target.',
        'Move the puck to the goal position without lifting it.',
        'Nudge the small cylinder until it reaches the target spot.',
        'Shove the puck over to the marked goal.',
        'Use the gripper to push the puck onto the target.',
        'Drive the puck along the table to the goal location.',
        'Get the puck to the target by pushing it.',
    ),
    'pick-place-v3': (
        'Pick up the puck and place it at the goal.',
        'Grasp the puck, lift it and put it down at the target.',
        'Move the puck to the goal position in the air.',
        'Pick the object up and carry it to the target location.',
        'Grab the puck and hold it at the goal.',
        'Lift the puck off the table and bring it to the target.',
        'Take the puck and transport it to the marked goal.',
        'Seize the cylinder and deliver it to the target point.',
    ),
    'button-press-v3': (
        'Press the button.',
        'Push the button on the box in with the gripper.',
        'Hit the button from the front.',
        'Press the red button until it clicks in.',
        'Move forward and push the button down.',
        'Activate the button by pressing it.',
        'Poke the button on the front of the box.',
        'Depress the button all the way.',
    ),
    'door-unlock-v3': (
        'Unlock the door.',
        'Turn the lock on the door to open it.',
        'Rotate the door lock to the unlocked position.',
        'Twist the lock knob so the door is unlocked.',
        'Release the door lock.',
        'Move the lock lever until the door unlocks.',
        'Open the lock on the door.',
        'Push the lock handle down to unlock the door.',
    ),
    'door-open-v3': (
        'Open the door.',
        'Pull the door open by its handle.',
        'Swing the door open.',
        'Grab the door handle and open the door wide.',
        'Rotate the door on its hinge until it is open.',
        'Pull the handle to open the cabinet door.',
        'Get the door open.',
        'Draw the door towards you until it opens.',
    ),
    'window-open-v3': (
        'Open the window.',
        'Slide the window open.',
        'Push the window handle sideways to open it.',
        'Move the window pane until the window is open.',
        'Slide the window to the left to open it.',
        'Open the sliding window by its handle.',
        'Get the window open.',
        'Shift the window sash until it is fully open.',
    ),
    'faucet-open-v3': (
        'Open the faucet.',
        'Turn the faucet handle to open it.',
        'Rotate the tap to turn the water on.',
        'Twist the faucet handle until it is open.',
        'Turn on the faucet.',
        'Swing the faucet handle to the open side.',
        'Open the tap.',
        'Rotate the faucet knob to the open position.',
    ),
    'coffee-push-v3': (
        'Push the mug under the coffee machine.',
        'Slide the cup to the coffee machine.',
        'Move the mug across the table to the coffee maker.',
        'Push the coffee cup to the goal under the spout.',
        'Shove the mug over to the coffee machine.',
        'Put the mug under the coffee machine by pushing it.',
        'Nudge the cup until it sits below the coffee spout.',
        'Slide the mug into place beneath the coffee maker.',
    ),
    'coffee-button-v3': (
        'Press the coffee machine button.',
        'Push the button on the coffee maker.',
        'Start the coffee machine by pressing its button.',
        'Hit the button on the front of the coffee machine.',
        'Press the start button of the coffee maker.',
        'Push in the coffee machine button.',
        'Turn on the coffee machine with its button.',
        'Press the button to make coffee.',
    ),
    'drawer-open-v3': (
        'Open the drawer.',
        'Pull the drawer open by its handle.',
        'Slide the drawer out.',
        'Grab the drawer handle and pull it towards you.',
        'Pull out the drawer.',
        'Open the drawer all the way.',
        'Draw the drawer out of the cabinet.',
        'Pull the handle to open the drawer.',
    ),
}


class InstructionError(ValueError):
    """An unknown split name, or a task that has no Meta-World instructions."""


def instructions_for(task: str, split: str = 'train') -> tuple[str, ...]:
    """Return the paraphrases of Meta-World `task` in `split` ('train' or 'test')."""
    if split not in SPLITS:
        raise InstructionError(f'unknown split {split!r}; expected one of {SPLITS}')
    get_task(task)
    if task not in METAWORLD_INSTRUCTIONS:
        raise InstructionError(f'task {task!r} has no Meta-World instructions (its env phrases '
                               f'its own); expected one of {", ".join(METAWORLD_INSTRUCTIONS)}')
    phrasings = METAWORLD_INSTRUCTIONS[task]
    held_out = split == 'test'
    return tuple(p for i, p in enumerate(phrasings) if (i % TEST_EVERY == TEST_EVERY - 1)
                 == held_out)


def canonical_instruction(task: str) -> str:
    """Return the plainest phrasing of Meta-World `task` (for deployment and reports)."""
    return instructions_for(task, 'train')[0]


def sample_instruction(task: str, split: str, rng: np.random.Generator) -> str:
    """Draw one paraphrase of `task` from `split` with `rng` (so a seed fixes the choice)."""
    choices = instructions_for(task, split)
    return choices[int(rng.integers(len(choices)))]
