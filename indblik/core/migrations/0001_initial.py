from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="RateCounter",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("bucket", models.CharField(max_length=20)),
                ("client", models.CharField(max_length=45)),
                ("window_start", models.BigIntegerField(help_text="seconds since the epoch")),
                ("hits", models.PositiveIntegerField(default=0)),
            ],
            options={
                "indexes": [models.Index(fields=["window_start"], name="core_ratecounter_window")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("bucket", "client", "window_start"), name="core_ratecounter_unique"
                    )
                ],
            },
        ),
    ]
