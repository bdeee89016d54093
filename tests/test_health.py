from __future__ import annotations

from dataclasses import replace

from boxes import create_app


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_fails_when_redis_is_down(config, clean_db, redis, tmp_path):
    app = create_app(replace(config, redis_url=f"unix://{tmp_path}/nothing-here.sock"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["redis"] == "error"
    assert response.get_json()["database"] == "ok"
    app.extensions["boxes.engine"].dispose()


def test_every_response_has_a_request_id(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"


def test_plotly_served_locally(client):
    response = client.get("/assets/plotly.min.js")
    assert response.status_code == 200
    assert b"plotly" in response.data[:2000].lower()
    response.close()
