"""Scheduler scripts for a study's workers: a SLURM job array (:mod:`.slurm`) and a Kubernetes Job
(:mod:`.kubernetes`). Plain text from templates, standard library only: nothing here talks to a
store or a scheduler (the command line submits). docs/cluster.md says what each needs."""
