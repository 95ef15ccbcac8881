"""The exit statuses of ``cyclegan worker``, for the scheduler scripts that start it again or not
(docs/cluster.md, "Worker exit codes"). Standard library only: the run layer (which relaunches
workers) and the command line both read them."""

from __future__ import annotations

FINISHED = 0
"""No cell of the study is waiting or running: nothing is left for any worker."""
BUG = 1
"""An unexpected error (its traceback is printed); what Python exits with on an uncaught exception."""
USAGE = 2
"""Bad input: a config, data, weights or store problem, named in one line."""
WORK_LEFT = 3
"""Stopped after ``--max-cells`` cells while cells still wait or run: start a fresh worker."""
STOPPED = 4
"""Stopped by SIGTERM (a scheduler's time limit, preemption, ``scancel``): the cell it was training
is checkpointed and back in the queue, where the next worker resumes it."""
DISK_FULL = 28
"""A write failed because a device is full (ENOSPC's number); the message names the device. Free
space and start the worker again: the cell it was training is back in the queue."""
INTERRUPTED = 130
"""Ctrl-C (SIGINT), the shell's convention; the cell is checkpointed and requeued as for SIGTERM."""
