"""The composition root of a run: its config (:class:`~agents.training.settings.RunConfig`) and the runner that
builds the env, the method, the agent, the callbacks and the run-directory services from it
(:mod:`agents.training.runner`)."""
