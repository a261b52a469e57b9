# Job.State.CANCELLED and Job.cancel_requested_at; NOTIFY triggers for the worker and waiters.

from django.db import migrations, models

#: A job row changed (a step, its state): tell whoever waits for it (payload: its id).
JOB_NOTIFY = """
CREATE OR REPLACE FUNCTION checkpoints_job_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('checkpoints_job', NEW.id::text);
  RETURN NULL;
END $$;
CREATE TRIGGER checkpoints_job_notify AFTER UPDATE ON checkpoints_job
  FOR EACH ROW EXECUTE FUNCTION checkpoints_job_notify();
"""
#: A task was enqueued: wake an idle worker (sent when the enqueue commits).
QUEUE_NOTIFY = """
CREATE OR REPLACE FUNCTION checkpoints_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('checkpoints_queue', '');
  RETURN NULL;
END $$;
CREATE TRIGGER checkpoints_queue_notify AFTER INSERT ON django_tasks_database_dbtaskresult
  FOR EACH STATEMENT EXECUTE FUNCTION checkpoints_queue_notify();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("checkpoints", "0003_lifecycle"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="cancel_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="job",
            name="state",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                default="queued",
                max_length=20,
            ),
        ),
        migrations.RunSQL(
            JOB_NOTIFY,
            "DROP TRIGGER IF EXISTS checkpoints_job_notify ON checkpoints_job;"
            " DROP FUNCTION IF EXISTS checkpoints_job_notify();",
        ),
        migrations.RunSQL(
            QUEUE_NOTIFY,
            "DROP TRIGGER IF EXISTS checkpoints_queue_notify ON django_tasks_database_dbtaskresult;"
            " DROP FUNCTION IF EXISTS checkpoints_queue_notify();",
        ),
    ]
