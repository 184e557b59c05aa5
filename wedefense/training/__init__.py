"""Training (stage 3) as a library: ``wedefense.training.trainer.train(args, overrides)`` runs
what ``python -m wedefense.bin.train`` does; the task (detection) plugs in through
:mod:`wedefense.training.task`."""
