"""Turn a stream of per-frame labels into spelled text, by time rather than by frame count, so a
slow device (one processed frame a second) spells the same words as a fast one (30 a second).

Every frame comes with the time it was captured, in seconds. A label (or "no sign") lasts from
the first frame that shows it to the latest one, so one stray frame lasts zero seconds and
changes nothing; a pause without a hand counts from halfway between the last frame with a hand
and the first without one.

- A label is written once it has lasted `hold_s` seconds (a frame may give its own hold: a
  moving letter is read from its whole path and needs little holding), and only while the
  frame says the hand has settled (`settled`: a stream says no while a hand sets off on a
  path). Holding it longer writes nothing more;
  writing the same label again needs a release first: `release_s` seconds of "no sign", of no
  hand or of other labels (another label is written directly, without a release).
- A word break (one space) is written once no hand has been in view for `space_after_s` seconds;
  a brief drop of the hand between letters writes nothing.
- A pause without a hand shorter than `bridge_s` is the tracker missing the hand for a frame or
  two (motion blur, a finger crossing the palm), not the signer letting go: the letter being held
  keeps its time, as if the hand had been seen. A longer pause counts from its start.
- `supersede` replaces the letter written just before the latest one (the still handshape that
  began a moving letter, written in the moment before the path set off).
- Letters join into words; multi-character labels (word signs) are written as words separated
  by spaces.
"""
from __future__ import annotations

import math

HOLD_S = 0.5
RELEASE_S = 0.3
SPACE_AFTER_S = 1.5
BRIDGE_S = 0.2  # ~6 frames at 30 a second; on a slow device (1 a second) one missing frame is already longer
EPS = 1e-6  # frame times like i / 30 add up with rounding errors


def lasted(since: float | None, now: float, seconds: float) -> bool:
    """Whether a state seen first at `since` has lasted `seconds` by `now`."""
    return since is not None and now - since >= seconds - EPS


class FingerspellingDecoder:
    def __init__(self, hold_s: float = HOLD_S, release_s: float = RELEASE_S,
                 space_after_s: float = SPACE_AFTER_S, bridge_s: float = BRIDGE_S) -> None:
        for name, value in (("hold_s", hold_s), ("release_s", release_s), ("space_after_s", space_after_s),
                            ("bridge_s", bridge_s)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        self.hold_s = float(hold_s)
        self.release_s = float(release_s)
        self.space_after_s = float(space_after_s)
        self.bridge_s = float(bridge_s)
        self.reset()

    def reset(self) -> None:
        self.text = ""
        self._now: float | None = None  # time of the latest frame
        self._candidate: str | None = None
        self._candidate_since = 0.0  # first frame of the current run of the candidate label
        self._held: str | None = None  # the last written label, until it is released
        self._away_since: float | None = None  # first frame without the held label
        self._last_hand: float | None = None  # the latest frame with a hand
        self._no_hand_since: float | None = None  # when the current pause without a hand began
        self._after_word = False  # the last label written was a word
        self._writes: list[tuple[str, float]] = []  # the last two (token, time) written

    def push(self, label: str | None, has_hand: bool = True, t: float = 0.0, settled: bool = True,
             hold_s: float | None = None) -> str | None:
        """Feed one frame's label (None: no sign), whether a hand was in view, and the frame's
        time in seconds; return the text it adds, if any. A time earlier than the previous
        frame's counts as the previous frame's time. `settled=False` (the hand is setting off)
        lets the label's time run on but writes nothing yet; `hold_s` replaces the decoder's
        hold for this frame."""
        t = float(t) if self._now is None else max(float(t), self._now)
        self._now = t
        self._track_hand(has_hand, t)
        if has_hand or lasted(self._no_hand_since, t, self.bridge_s):  # else a moment's miss: runs go on
            self._track_runs(label, t, t if has_hand else self._no_hand_since)
        if lasted(self._no_hand_since, t, self.space_after_s) and self.text and not self.text.endswith(" "):
            return self._write(" ")
        hold = self.hold_s if hold_s is None else hold_s
        if settled and label is not None and label != self._held and lasted(self._candidate_since, t, hold):
            self._held, self._away_since = label, None
            return self._write(self._token(label))
        return None

    def _track_hand(self, has_hand: bool, t: float) -> None:
        # The hand left somewhere between the last frame with it and the first without it: on a
        # slow device (1 frame a second) halfway is the best guess, and a 2 s pause still counts.
        if has_hand:
            self._last_hand, self._no_hand_since = t, None
        elif self._no_hand_since is None:
            self._no_hand_since = t if self._last_hand is None else (self._last_hand + t) / 2

    def _track_runs(self, label: str | None, t: float, since: float) -> None:
        """The label of the frame at `t`, seen since `since` (a pause without a hand: since it began)."""
        if label != self._candidate:
            self._candidate, self._candidate_since = label, since
        if label == self._held:
            self._away_since = None
            return
        if self._away_since is None:
            self._away_since = since
        if self._held is not None and lasted(self._away_since, t, self.release_s):
            self._held = None

    def _token(self, label: str) -> str:
        is_word = len(label) > 1
        after_word, self._after_word = self._after_word, is_word
        if (is_word or after_word) and self.text and not self.text.endswith(" "):
            return " " + label
        return label

    @property
    def now(self) -> float | None:
        """The latest frame's time (None before any frame)."""
        return self._now

    def supersede(self, earlier: str, since: float) -> bool:
        """When the token written before the latest one is the letter `earlier`, written at
        `since` seconds or later, remove it (the latest stays): the still handshape that began
        a moving letter is not a letter of its own. Returns whether it did."""
        if len(self._writes) < 2 or self._writes[-2][0] != earlier or self._writes[-2][1] < since:
            return False
        latest = self._writes[-1][0]
        if not self.text.endswith(earlier + latest):
            return False
        self.text = self.text[: len(self.text) - len(earlier + latest)] + latest
        self._writes = self._writes[-1:]
        return True

    def _write(self, token: str) -> str:
        self.text += token
        self._writes = [*self._writes[-1:], (token, self._now)]
        return token
