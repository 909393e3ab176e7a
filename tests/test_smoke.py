import pytest
from django.test import Client


@pytest.mark.django_db
def test_it_answers_liveness_and_readiness(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
