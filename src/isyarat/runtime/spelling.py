"""Turn a stream of per-frame labels into spelled text.

A label is written once it has been the prediction for `min_hold_frames` frames in a row.
Holding it longer writes nothing more; writing the same label again needs a release first:
`release_frames` frames of "no sign" or of other labels. A pause with no hand in view for
`space_after_frames` frames writes one space. Letters join into words; multi-character labels
(word signs) are written as words separated by spaces.
"""
from __future__ import annotations


class FingerspellingDecoder:
    def __init__(self, min_hold_frames: int = 5, release_frames: int = 3, space_after_frames: int = 15) -> None:
        if min(min_hold_frames, release_frames, space_after_frames) < 1:
            raise ValueError("min_hold_frames, release_frames and space_after_frames must be >= 1")
        self.min_hold_frames = min_hold_frames
        self.release_frames = release_frames
        self.space_after_frames = space_after_frames
        self.reset()

    def reset(self) -> None:
        self.text = ""
        self._candidate: str | None = None
        self._run = 0  # frames in a row with the candidate label
        self._held: str | None = None  # the last written label, until it is released
        self._away = 0  # frames in a row without the held label
        self._no_hand = 0  # frames in a row without a hand
        self._after_word = False  # the last label written was a word

    def push(self, label: str | None, has_hand: bool = True) -> str | None:
        """Feed one frame's label (None: no sign) and return the text it adds, if any."""
        self._track_hand(has_hand)
        self._track_runs(label)
        if self._no_hand == self.space_after_frames and self.text and not self.text.endswith(" "):
            return self._write(" ")
        if label is not None and self._run == self.min_hold_frames and label != self._held:
            self._held, self._away = label, 0
            return self._write(self._token(label))
        return None

    def _track_hand(self, has_hand: bool) -> None:
        self._no_hand = 0 if has_hand else self._no_hand + 1

    def _track_runs(self, label: str | None) -> None:
        self._run = self._run + 1 if label == self._candidate else 1
        self._candidate = label
        self._away = 0 if label == self._held else self._away + 1
        if self._away >= self.release_frames:
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
