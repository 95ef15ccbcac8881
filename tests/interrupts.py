"""A trainer callback for the resume tests: Ctrl-C at the end of a chosen mini-epoch."""

from __future__ import annotations

from cyclegan.core.callbacks import Callback


class InterruptAfter(Callback):
    def __init__(self, mini_epoch: int):
        self.mini_epoch = mini_epoch

    def on_mini_epoch_end(self, record):
        if record.mini_epoch == self.mini_epoch:
            raise KeyboardInterrupt
