"""Turn a stream of per-frame labels into spelled text, by time rather than by frame count, so a
slow device (one processed frame a second) spells the same words as a fast one (30 a second).

Every frame comes with the time it was captured, in seconds. A label (or "no sign") lasts from
the first frame that shows it to the latest one, so one stray frame lasts zero seconds and
changes nothing; a pause without a hand counts from halfway between the last frame with a hand
and the first without one.

- A label is written once it has lasted `hold_s` seconds (or its own hold in `holds`: a moving
  letter is read from its whole path and needs little holding, a still letter that starts a
  moving one needs more), and only while the frame says the hand has settled (`settled`: a
  stream says no while a hand sets off on a path). Holding it longer writes nothing more;
  writing the same label again needs a release first: `release_s` seconds of "no sign", of no
  hand or of other labels (another label is written directly, without a release).
- A word break (one space) is written once no hand has been in view for `space_after_s` seconds;
  a brief drop of the hand between letters writes nothing.
- Letters join into words; multi-character labels (word signs) are written as words separated
  by spaces.
"""
from __future__ import annotations

import math

HOLD_S = 0.5
RELEASE_S = 0.3
SPACE_AFTER_S = 1.5
EPS = 1e-6  # frame times like i / 30 add up with rounding errors


def lasted(since: float | None, now: float, seconds: float) -> bool:
    """Whether a state seen first at `since` has lasted `seconds` by `now`."""
    return since is not None and now - since >= seconds - EPS


class FingerspellingDecoder:
    def __init__(self, hold_s: float = HOLD_S, release_s: float = RELEASE_S,
                 space_after_s: float = SPACE_AFTER_S, holds: dict[str, float] | None = None) -> None:
        holds = dict(holds or {})
        checked = [("hold_s", hold_s), ("release_s", release_s), ("space_after_s", space_after_s),
                   *((f"holds[{k!r}]", v) for k, v in holds.items())]
        for name, value in checked:
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        self.hold_s = float(hold_s)
        self.release_s = float(release_s)
        self.space_after_s = float(space_after_s)
        self.holds = {k: float(v) for k, v in holds.items()}  # label -> its own hold, seconds
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

    def push(self, label: str | None, has_hand: bool = True, t: float = 0.0, settled: bool = True) -> str | None:
        """Feed one frame's label (None: no sign), whether a hand was in view, and the frame's
        time in seconds; return the text it adds, if any. A time earlier than the previous
        frame's counts as the previous frame's time. `settled=False` (the hand is setting off)
        lets the label's time run on but writes nothing yet."""
        t = float(t) if self._now is None else max(float(t), self._now)
        self._now = t
        self._track_hand(has_hand, t)
        self._track_runs(label, t)
        if lasted(self._no_hand_since, t, self.space_after_s) and self.text and not self.text.endswith(" "):
            return self._write(" ")
        hold = self.holds.get(label, self.hold_s)
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

    def _track_runs(self, label: str | None, t: float) -> None:
        if label != self._candidate:
            self._candidate, self._candidate_since = label, t
        if label == self._held:
            self._away_since = None
            return
        if self._away_since is None:
            self._away_since = t
        if self._held is not None and lasted(self._away_since, t, self.release_s):
            self._held = None

    def _token(self, label: str) -> str:
        is_word = len(label) > 1
        after_word, self._after_word = self._after_word, is_word
        if (is_word or after_word) and self.text and not self.text.endswith(" "):
            return " " + label
        return label

    def _write(self, token: str) -> str:
        self.text += token
        return token
