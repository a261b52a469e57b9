from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("checkpoints", "0005_share_links")]

    operations = [
        migrations.AlterField(
            model_name="activity",
            name="kind",
            field=models.CharField(
                choices=[
                    ("start", "Start"),
                    ("create", "Create version"),
                    ("rollback", "Roll back"),
                    ("preview", "Preview"),
                    ("discard", "Discard preview"),
                    ("expire", "Preview expired"),
                    ("delete", "Delete"),
                    ("start_over", "Start over"),
                    ("failed", "Failed"),
                    ("cleanup", "Clean up"),
                    ("repair", "Role repaired"),
                    ("rotate", "Password rotated"),
                ],
                max_length=20,
            ),
        ),
    ]
