"""Synthetic landmark sequences: moving letters drawn from their described paths, held letters."""
from isyarat.synth.dataset import SynthSequence, StillHand, split_hands, still_hands, synthesize, write_sequences
from isyarat.synth.motion import SynthSettings, held_sequence, moving_sequence

__all__ = ["SynthSequence", "StillHand", "SynthSettings", "held_sequence", "moving_sequence", "split_hands",
           "still_hands", "synthesize", "write_sequences"]
