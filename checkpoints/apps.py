from django.apps import AppConfig


class CheckpointsConfig(AppConfig):
    name = "checkpoints"
    verbose_name = "Checkpoints"

    def ready(self) -> None:
        # Imported once the models are: the deploy checks, the personal-team signals, and
        # the job runners, which register with the queue (`checkpoints.tasks`) below them.
        from checkpoints import checks, jobs, signals  # noqa: F401

        signals.connect()
