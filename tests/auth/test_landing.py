"""Where a user lands after logging in: the dealer they used last, else their first dealer."""

from __future__ import annotations

from sqlalchemy import delete, select

from boxes.auth.service import create_user
from boxes.dms.simulator.demo import DEMO_DEALERS, DEMO_PASSWORD
from boxes.models import AuditLog, Dealer, Membership, User
from tests.conftest import csrf_token_of


def _login(client, email: str) -> str:
    """Log in as a fresh visitor would; returns where ``/`` sends them."""
    client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": csrf_token_of(client)})
    return client.get("/").headers["Location"]


def _logout(client, path: str) -> None:
    client.post("/logout", data={"csrf_token": csrf_token_of(client, path)})


def test_demo_caller_lands_on_the_first_demo_dealer_then_on_the_one_used_last(client, db, clean_db):
    ar, br = (Dealer(**values) for values in DEMO_DEALERS)
    db.add_all([ar, br])
    db.flush()
    assert br.name < ar.name  # "Auto Sul Veículos" sorts before "Autos del Sur": not the order that decides
    create_user(db, email="caller@demo.boxes", name="Lucía", password=DEMO_PASSWORD,
                memberships=[(ar, "caller"), (br, "caller")])

    assert _login(client, "caller@demo.boxes").endswith(f"/d/{ar.code}/")
    html = client.get(f"/d/{ar.code}/board/opportunities").get_data(as_text=True)
    assert '<html lang="es">' in html

    # The caller works the Brazilian dealer, logs out; the next login (a new session) lands there.
    assert client.get(f"/d/{br.code}/board/opportunities").status_code == 200
    _logout(client, f"/d/{br.code}/board/opportunities")
    assert _login(client, "caller@demo.boxes").endswith(f"/d/{br.code}/")
    user = db.scalar(select(User).where(User.email == "caller@demo.boxes"))
    assert db.scalar(select(AuditLog).where(AuditLog.action == "user.last_dealer", AuditLog.entity_id == user.id))

    # No longer a member there: back to the first dealer, never a 404.
    db.execute(delete(Membership).where(Membership.user_id == user.id, Membership.dealer_id == br.id))
    db.commit()
    _logout(client, f"/d/{ar.code}/board/opportunities")
    assert _login(client, "caller@demo.boxes").endswith(f"/d/{ar.code}/")
