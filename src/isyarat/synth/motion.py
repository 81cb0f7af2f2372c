"""Landmark sequences of letters made from still handshapes: moving letters travel their
vocabulary's path (vocab.Motion), every other letter is held the way a real hand holds it.

No openly licensed recordings of the moving letters (SIBI J and Z, BISINDO J and R) exist, so
they are drawn: a real still hand (from the licensed photos or landmark frames) follows its
letter's waypoints with a random size, speed, direction, wrist twist and tremor. Still letters
are never perfectly still either: they drift, tremble, enter and leave the view and sometimes
shake, so a sequence model must learn each letter's path, not "the hand moved".
All distances are in hand sizes (wrist to middle knuckle) of the source hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isyarat.features.hand import MIDDLE_MCP, WRIST, hand_size
from isyarat.landmarks.arrays import LEFT, RIGHT, Landmarks
from isyarat.vocab import Motion


@dataclass(frozen=True)
class SynthSettings:
    """Ranges the synthesizer draws from (uniform unless said otherwise)."""

    move_frames: tuple[int, int] = (14, 28)      # frames the path takes (~0.5-0.9 s at 30 fps)
    hold_frames: tuple[int, int] = (2, 10)       # still frames before and after a path
    held_frames: tuple[int, int] = (24, 40)      # length of a held (still) letter's sequence
    size: tuple[float, float] = (0.7, 1.4)       # path scale
    stretch: float = 0.2                         # independent x / y scale of the path, +-
    direction_deg: float = 15.0                  # rotation of the whole path, +-
    waypoint_noise: float = 0.12                 # per waypoint, hand sizes
    twist: tuple[float, float] = (0.6, 1.3)      # fraction of the letter's twist and roll
    jitter: float = 0.03                         # per landmark and frame, hand sizes
    tremor: float = 0.03                         # per frame wrist wobble, hand sizes
    drift: float = 0.25                          # slow wander of a held hand over its sequence
    entry: float = 0.35                          # chance a held letter enters the view moving
    exit: float = 0.25                           # chance it leaves moving at the end
    shake: float = 0.15                          # chance of a small shake (some signers' still letters)
    left_handed: float = 0.2                     # chance the sequence is mirrored (a left-handed signer)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues: the 3x3 rotation by `angle` radians about unit `axis`."""
    x, y, z = axis
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def turn_hand(hand: np.ndarray, twist_deg: float, roll_deg: float) -> np.ndarray:
    """(21, 3) -> the same hand turned about its wrist: `twist_deg` about the forearm axis
    (wrist to middle knuckle), then `roll_deg` in the image plane."""
    wrist = hand[WRIST]
    axis = hand[MIDDLE_MCP] - wrist
    axis = axis / (np.linalg.norm(axis) + 1e-9)
    out = (hand - wrist) @ _rotation(axis, np.deg2rad(twist_deg)).T
    out = out @ _rotation(np.array([0.0, 0.0, 1.0]), np.deg2rad(roll_deg)).T
    return (out + wrist).astype(np.float32)


def signing_slot(hands: np.ndarray) -> int:
    """The slot of the hand that moves: the larger one when both show."""
    present = ~np.isnan(hands).any(axis=(1, 2))
    if present.all():
        return RIGHT if hand_size(hands[RIGHT]) >= hand_size(hands[LEFT]) else LEFT
    return LEFT if present[LEFT] else RIGHT


def _smooth_path(points: np.ndarray, n: int = 200, corner: int = 15) -> np.ndarray:
    """A polyline resampled to `n` points evenly by length, corners rounded by a moving mean."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    u = np.linspace(0.0, arc[-1], n)
    dense = np.stack([np.interp(u, arc, points[:, d]) for d in range(2)], axis=1)
    padded = np.concatenate([np.repeat(dense[:1], corner, 0), dense, np.repeat(dense[-1:], corner, 0)])
    kernel = np.ones(2 * corner + 1) / (2 * corner + 1)
    return np.stack([np.convolve(padded[:, d], kernel, mode="valid") for d in range(2)], axis=1)


def _speed_profile(frames: int, rng: np.random.Generator) -> np.ndarray:
    """Progress 0..1 over `frames`: slow start and end (a hand accelerates), a random skew."""
    t = np.linspace(0.0, 1.0, frames)
    t = t ** rng.uniform(0.75, 1.33)
    return (1 - np.cos(np.pi * t)) / 2


def draw_path(motion: Motion, frames: int, settings: SynthSettings, rng: np.random.Generator) -> np.ndarray:
    """(frames, 2) wrist offsets in hand sizes: the letter's waypoints, randomly scaled,
    stretched, turned and nudged, travelled with a human speed profile."""
    points = np.asarray(motion.path, np.float64)
    points = points + rng.normal(0, settings.waypoint_noise, points.shape) * (np.arange(len(points)) > 0)[:, None]
    points = points * rng.uniform(*settings.size) * rng.uniform(1 - settings.stretch, 1 + settings.stretch, 2)
    angle = np.deg2rad(rng.uniform(-settings.direction_deg, settings.direction_deg))
    c, s = np.cos(angle), np.sin(angle)
    points = points @ np.array([[c, -s], [s, c]]).T
    path = _smooth_path(points)
    progress = _speed_profile(frames, rng)
    idx = progress * (len(path) - 1)
    return np.stack([np.interp(idx, np.arange(len(path)), path[:, d]) for d in range(2)], axis=1)


def _wander(frames: int, amount: float, rng: np.random.Generator) -> np.ndarray:
    """(frames, 2) a slow random walk, at most about `amount` from where it starts."""
    steps = rng.normal(0, 1, (frames, 2)).cumsum(axis=0)
    steps -= steps[0]
    peak = np.abs(steps).max() or 1.0
    return steps / peak * amount * rng.uniform(0.2, 1.0)


def _tremor(frames: int, amount: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0, amount, (frames + 2, 2))
    return (noise[:-2] + noise[1:-1] + noise[2:]) / 3 * np.sqrt(3)


def _shake(frames: int, rng: np.random.Generator) -> np.ndarray:
    """A small back-and-forth shake, 2-5 times a second at 30 fps, 0.1-0.35 hand sizes."""
    direction = rng.normal(0, 1, 2)
    direction /= np.linalg.norm(direction) + 1e-9
    phase = 2 * np.pi * rng.uniform(2, 5) / 30 * np.arange(frames) + rng.uniform(0, 2 * np.pi)
    return np.sin(phase)[:, None] * direction * rng.uniform(0.1, 0.35)


def _travel(frames: int, rng: np.random.Generator, arriving: bool) -> np.ndarray:
    """(frames, 2) entering (from 1.5-3 hand sizes away, mostly from below) or leaving."""
    angle = rng.uniform(np.pi / 4, 3 * np.pi / 4)  # downward in image coordinates (y grows down)
    start = np.array([np.cos(angle), np.sin(angle)]) * rng.uniform(1.5, 3.0)
    progress = _speed_profile(frames, rng)
    offsets = (1 - progress)[:, None] * start if arriving else progress[:, None] * start
    return offsets


def _render(hands: np.ndarray, offsets: np.ndarray, twist: np.ndarray, roll: np.ndarray,
            settings: SynthSettings, rng: np.random.Generator) -> np.ndarray:
    """One still frame (2, 21, 3) -> (T, 2, 21, 3): every present hand moved by offsets (T, 2)
    hand sizes, the signing hand turned by twist / roll (T,) degrees, landmark jitter added."""
    slot = signing_slot(hands)
    size = hand_size(hands[slot])
    present = ~np.isnan(hands).any(axis=(1, 2))
    out = np.repeat(hands[None], len(offsets), axis=0).astype(np.float32)
    for t in range(len(offsets)):
        if twist[t] or roll[t]:
            out[t, slot] = turn_hand(hands[slot], twist[t], roll[t])
        out[t, :, :, :2] += (offsets[t] * size).astype(np.float32)
    out[:, present] += rng.normal(0, settings.jitter * size, out[:, present].shape).astype(np.float32)
    return out


def _maybe_mirror(hands: np.ndarray, settings: SynthSettings, rng: np.random.Generator) -> np.ndarray:
    if rng.random() >= settings.left_handed:
        return hands
    mirrored = hands[:, ::-1].copy()
    mirrored[..., 0] = 1.0 - mirrored[..., 0]
    return mirrored


def moving_sequence(hands: np.ndarray, motion: Motion, rng: np.random.Generator,
                    settings: SynthSettings = SynthSettings()) -> Landmarks:
    """A still frame of the motion's start handshape (2, 21, 3) tracing the letter's path:
    a short hold, the path (with the wrist turning), a short hold at its end."""
    move = int(rng.integers(settings.move_frames[0], settings.move_frames[1] + 1))
    before, after = (int(rng.integers(settings.hold_frames[0], settings.hold_frames[1] + 1)) for _ in range(2))
    path = draw_path(motion, move, settings, rng)
    offsets = np.concatenate([np.repeat(path[:1], before, 0), path, np.repeat(path[-1:], after, 0)])
    frames = len(offsets)
    offsets = offsets + _tremor(frames, settings.tremor, rng) + _wander(frames, settings.drift / 3, rng)
    turn = np.concatenate([np.zeros(before), _speed_profile(move, rng), np.ones(after)])
    twist = turn * motion.twist * rng.uniform(*settings.twist)
    roll = turn * motion.roll * rng.uniform(*settings.twist)
    return Landmarks(_maybe_mirror(_render(hands, offsets, twist, roll, settings, rng), settings, rng))


def held_sequence(hands: np.ndarray, rng: np.random.Generator, settings: SynthSettings = SynthSettings()) -> Landmarks:
    """A still frame (2, 21, 3) held the way people hold a letter: drift, tremor, a slight
    turn, sometimes entering or leaving the view or shaking a little."""
    frames = int(rng.integers(settings.held_frames[0], settings.held_frames[1] + 1))
    offsets = _wander(frames, settings.drift, rng) + _tremor(frames, settings.tremor, rng)
    if rng.random() < settings.shake:
        offsets += _shake(frames, rng)
    if rng.random() < settings.entry:
        n = int(rng.integers(5, min(14, frames // 2) + 1))
        offsets[:n] += _travel(n, rng, arriving=True)
    if rng.random() < settings.exit:
        n = int(rng.integers(5, min(12, frames // 3) + 1))
        offsets[-n:] += _travel(n, rng, arriving=False)
    twist = np.linspace(0, rng.normal(0, 8), frames)
    roll = np.linspace(0, rng.normal(0, 6), frames)
    return Landmarks(_maybe_mirror(_render(hands, offsets, twist, roll, settings, rng), settings, rng))
