"""A dealer's admin manages memberships of their own dealer, never a user's global account.

The attack these tests replay (issue 11, item 1): dealer A's admin "adds" dealer B's user by email,
resets the password, logs in as the victim and is in at dealer B. Adding an existing user is an
invitation the user accepts; a password, the active flag and the sessions of a user who belongs to
another dealer (or is group-wide) are out of a dealer admin's reach.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from boxes.models import AuditLog, Membership, User
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every, one

ATTACKER_PASSWORD = "attacker-chose-this"
NEW_PASSWORD = "a-new-long-password"


def login(client, email: str, password: str):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token_of(client)})


def roles_at(db, user, dealer) -> list[str]:
    db.expire_all()
    return sorted(db.scalars(select(Membership.role).where(Membership.user_id == user.id,
                                                          Membership.dealer_id == dealer.id)))


@pytest.fixture
def admin_a(client, login_as, dealers):
    ar, _ = dealers
    admin = login_as("admin", ar)
    return admin, csrf_token_of(client, f"/d/{ar.code}/admin/users")


@pytest.fixture
def shared(db, dealers):
    """A user who belongs elsewhere: B's caller (shared@test.example), also a caller here at A."""
    ar, br = dealers
    user = factories.user(db, role="caller", dealer=br, email="shared@test.example")
    db.add(Membership(user_id=user.id, dealer_id=ar.id, role="caller"))
    db.commit()
    return user


def post_user(client, dealer, token, user_id, **data):
    return client.post(f"/d/{dealer.code}/admin/users/{user_id}", data={"csrf_token": token, **data})


def add(client, dealer, token, email, password=NEW_PASSWORD, roles=("caller",), name="Someone", **extra):
    return client.post(f"/d/{dealer.code}/admin/users", data={
        "csrf_token": token, "name": name, "email": email, "password": password, "roles": list(roles), **extra})


def test_the_takeover_of_another_dealers_user_fails(app, client, db, dealers, admin_a):
    """Add B's user by email, reset the password, log in as them: none of it reaches B."""
    ar, br = dealers
    _, token = admin_a
    victim = factories.user(db, role="manager", dealer=br, email="victim@test.example")
    add(client, ar, token, "victim@test.example", password=ATTACKER_PASSWORD)
    assert roles_at(db, victim, ar) == []  # not a member of A until they accept
    # ... so A's admin cannot reach them at all, and the password is theirs.
    assert post_user(client, ar, token, victim.id, operation="password", password=ATTACKER_PASSWORD).status_code == 404
    attacker = app.test_client()
    assert login(attacker, "victim@test.example", ATTACKER_PASSWORD).status_code == 401
    assert attacker.get(f"/d/{br.code}/board/deliveries").status_code == 302  # to the login page
    assert login(app.test_client(), "victim@test.example", factories.PASSWORD).status_code == 302


def test_adding_an_existing_user_is_an_invitation_they_accept(app, client, db, dealers, admin_a):
    ar, br = dealers
    _, token = admin_a
    invitee = factories.user(db, role="caller", dealer=br, email="invitee@test.example", name="Invitada Bravo")
    response = add(client, ar, token, "Invitee@Test.example", roles=("caller", "manager"))
    assert response.status_code == 303
    page = client.get(f"/d/{ar.code}/admin/users").get_data(as_text=True)
    assert one(page, "#invitations") and "invitee@test.example" in page
    assert "Invitada Bravo" not in page  # the admin typed the email; the name is B's business
    assert roles_at(db, invitee, ar) == []
    them = app.test_client()
    assert login(them, "invitee@test.example", factories.PASSWORD).status_code == 302
    # The invitation is the first thing they see, with the inviting dealer's name.
    home = them.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/invitations")
    listing = them.get("/invitations").get_data(as_text=True)
    assert ar.name in listing
    invitation_id = int(listing.split('data-invitation="')[1].split('"')[0])
    assert them.get(f"/d/{ar.code}/board/deliveries").status_code == 404  # not yet
    accepted = them.post(f"/invitations/{invitation_id}/accept",
                         data={"csrf_token": csrf_token_of(them, "/invitations")})
    assert accepted.status_code == 303 and accepted.headers["Location"].endswith(f"/d/{ar.code}/")
    assert roles_at(db, invitee, ar) == ["caller", "manager"]
    assert them.get(f"/d/{ar.code}/reports").status_code == 200
    assert not every(client.get(f"/d/{ar.code}/admin/users"), "#invitations")
    actions = set(db.scalars(select(AuditLog.action).where(AuditLog.entity_id.is_not(None))))
    assert {"invitation.create", "invitation.accept"} <= actions


def test_a_declined_or_revoked_invitation_gives_nothing(app, client, db, dealers, admin_a):
    ar, br = dealers
    _, token = admin_a
    one = factories.user(db, role="caller", dealer=br, email="one@test.example")
    two = factories.user(db, role="caller", dealer=br, email="two@test.example")
    add(client, ar, token, "one@test.example")
    add(client, ar, token, "two@test.example")
    assert add(client, ar, token, "two@test.example").status_code == 422  # already invited
    them = app.test_client()
    login(them, "one@test.example", factories.PASSWORD)
    invitation_id = int(them.get("/invitations").get_data(as_text=True).split('data-invitation="')[1].split('"')[0])
    declined = them.post(f"/invitations/{invitation_id}/decline",
                         data={"csrf_token": csrf_token_of(them, "/invitations")})
    assert declined.status_code == 303
    assert roles_at(db, one, ar) == []
    page = client.get(f"/d/{ar.code}/admin/users").get_data(as_text=True)
    assert "one@test.example" not in page
    revoke_url = page.split('id="invitations"')[1].split('action="')[1].split('"')[0]
    assert client.post(revoke_url, data={"csrf_token": token}).status_code == 303
    other = app.test_client()
    login(other, "two@test.example", factories.PASSWORD)
    assert 'data-invitation="' not in other.get("/invitations").get_data(as_text=True)
    assert other.get("/").headers["Location"].endswith(f"/d/{br.code}/")
    assert roles_at(db, two, ar) == []
    # Someone else's invitation is not yours to accept.
    add(client, ar, token, "two@test.example")
    listing = other.get("/invitations").get_data(as_text=True)
    invitation_id = int(listing.split('data-invitation="')[1].split('"')[0])
    stranger = app.test_client()
    login(stranger, "one@test.example", factories.PASSWORD)
    assert stranger.post(f"/invitations/{invitation_id}/accept",
                         data={"csrf_token": csrf_token_of(stranger, "/invitations")}).status_code == 404
    assert roles_at(db, one, ar) == []


def test_a_new_email_still_creates_the_user_here(client, db, dealers, admin_a):
    ar, _ = dealers
    _, token = admin_a
    assert add(client, ar, token, "brand.new@test.example", roles=("caller",)).status_code == 303
    user = db.scalar(select(User).where(User.email == "brand.new@test.example"))
    assert roles_at(db, user, ar) == ["caller"]


def test_password_of_a_user_who_belongs_elsewhere_stays_theirs(app, client, db, dealers, admin_a, shared):
    ar, _ = dealers
    _, token = admin_a
    before = shared.password_hash
    refused = post_user(client, ar, token, shared.id, operation="password", password=ATTACKER_PASSWORD)
    assert refused.status_code == 422
    error = refused.get_data(as_text=True).split(f'data-error="user_{shared.id}_password">')[1].split("<")[0]
    assert "solo un administrador del grupo puede restablecer su contraseña" in error
    db.expire_all()
    assert db.get(User, shared.id).password_hash == before
    assert login(app.test_client(), "shared@test.example", ATTACKER_PASSWORD).status_code == 401


def test_password_of_a_user_only_here_is_reset_and_their_sessions_end(app, client, db, dealers, admin_a):
    ar, _ = dealers
    _, token = admin_a
    local = factories.user(db, role="caller", dealer=ar, email="local@test.example")
    theirs = app.test_client()
    login(theirs, "local@test.example", factories.PASSWORD)
    assert theirs.get(f"/d/{ar.code}/board/deliveries").status_code == 200
    assert post_user(client, ar, token, local.id, operation="password", password="the-new-password").status_code == 303
    assert theirs.get(f"/d/{ar.code}/board/deliveries").status_code == 302
    assert login(app.test_client(), "local@test.example", "the-new-password").status_code == 302


def test_group_admin_may_reset_a_shared_users_password_audited(app, client, db, dealers, login_as, shared):
    ar, _ = dealers
    group_admin = factories.user(db, role="admin", dealer=ar, email="group@test.example")
    db.get(User, group_admin.id).group_admin = True
    db.commit()
    login_as("admin", ar, user=group_admin)
    token = csrf_token_of(client, f"/d/{ar.code}/admin/users")
    assert post_user(client, ar, token, shared.id, operation="password", password="reset-by-group").status_code == 303
    assert login(app.test_client(), "shared@test.example", "reset-by-group").status_code == 302
    audit = db.scalar(select(AuditLog).where(AuditLog.action == "user.password_reset"))
    assert audit.user_id == group_admin.id and audit.entity_id == shared.id and audit.data["group_admin"] is True


def test_group_admin_flag_is_nothing_an_admin_can_set(client, db, dealers, admin_a):
    ar, _ = dealers
    admin, token = admin_a
    page = client.get(f"/d/{ar.code}/admin/users").get_data(as_text=True)
    assert "group_admin" not in page
    add(client, ar, token, "sneaky@test.example", group_admin="1")
    post_user(client, ar, token, admin.id, operation="roles", roles=["admin"], group_admin="1")
    db.expire_all()
    assert not any(u.group_admin for u in db.scalars(select(User)))


def test_deactivating_a_user_who_belongs_elsewhere_removes_the_roles_here_only(app, client, db, dealers, admin_a,
                                                                             shared):
    ar, br = dealers
    _, token = admin_a
    theirs = app.test_client()
    login(theirs, "shared@test.example", factories.PASSWORD)
    assert theirs.get(f"/d/{ar.code}/board/deliveries").status_code == 200
    assert post_user(client, ar, token, shared.id, operation="deactivate").status_code == 303
    assert roles_at(db, shared, ar) == [] and roles_at(db, shared, br) == ["caller"]
    assert db.get(User, shared.id).active is True
    # Out of A at once, still at work at B in the same session.
    assert theirs.get(f"/d/{ar.code}/board/deliveries").status_code == 404
    assert theirs.get(f"/d/{br.code}/board/deliveries").status_code == 200


def test_a_deactivated_account_is_not_reactivated_by_another_dealers_admin(app, client, db, dealers, admin_a):
    ar, br = dealers
    _, token = admin_a
    gone = factories.user(db, role="caller", dealer=br, email="gone@test.example")
    db.get(User, gone.id).active = False
    db.query(Membership).filter(Membership.user_id == gone.id).delete()
    db.commit()
    refused = add(client, ar, token, "gone@test.example", password=ATTACKER_PASSWORD)
    assert refused.status_code == 422
    db.expire_all()
    assert db.get(User, gone.id).active is False and roles_at(db, gone, ar) == []
    assert login(app.test_client(), "gone@test.example", ATTACKER_PASSWORD).status_code == 401


def test_operator_grants_the_group_admin_role_and_resets_passwords_from_the_cli(config, db, dealers):
    import os
    import subprocess
    import sys

    ar, _ = dealers
    someone = factories.user(db, role="admin", dealer=ar, email="group@test.example")
    env = {**os.environ, "BOXES_DATABASE_URL": config.database_url, "BOXES_SECRET_KEY": "x",
           "BOXES_INSTANCE_DIR": str(config.instance_dir)}

    def boxes(*args):
        return subprocess.run([sys.executable, "-m", "boxes.cli", "user", *args], env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    granted = boxes("group-admin", "--email", "Group@Test.example ")
    assert granted.returncode == 0, granted.stderr
    db.expire_all()
    assert db.get(User, someone.id).group_admin is True
    assert boxes("group-admin", "--email", "group@test.example", "--revoke").returncode == 0
    db.expire_all()
    assert db.get(User, someone.id).group_admin is False
    assert "no user with this email" in boxes("group-admin", "--email", "nobody@test.example").stderr
    reset = boxes("reset-password", "--email", "group@test.example", "--password", "set-by-the-operator")
    assert reset.returncode == 0, reset.stderr
    db.expire_all()
    from boxes.auth.passwords import verify_password

    assert verify_password(db.get(User, someone.id).password_hash, "set-by-the-operator")
    actions = list(db.scalars(select(AuditLog.action).where(AuditLog.entity_id == someone.id)
                              .order_by(AuditLog.id)))
    assert actions == ["user.group_admin", "user.group_admin", "user.password_reset"]


def test_admin_manages_users_and_deactivation_ends_sessions(app, client, db, dealers, login_as):
    ar, _ = dealers
    login_as("admin", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/admin/users")
    created = client.post(f"/d/{ar.code}/admin/users", data={
        "csrf_token": token, "name": "Nuevo Agente", "email": "agente@test.example", "password": "una-clave-larga",
        "roles": ["caller"]})
    assert created.status_code == 303
    user = db.scalar(select(User).where(User.email == "agente@test.example"))
    assert user.password_hash.startswith("$argon2id$")
    # The new user works on the board in another browser...
    other = app.test_client()
    login_as("caller", ar, user=user, on=other)
    assert other.get(f"/d/{ar.code}/board/deliveries").status_code == 200
    client.post(f"/d/{ar.code}/admin/users/{user.id}", data={"csrf_token": token, "operation": "roles",
                                                             "roles": ["caller", "manager"]})
    db.expire_all()
    assert sorted(m.role for m in db.get(User, user.id).memberships) == ["caller", "manager"]
    # ...until the admin deactivates them: the very next request is logged out.
    client.post(f"/d/{ar.code}/admin/users/{user.id}", data={"csrf_token": token, "operation": "deactivate"})
    assert other.get(f"/d/{ar.code}/board/deliveries").status_code == 302
    db.expire_all()
    assert db.get(User, user.id).active is False
    assert db.scalar(select(AuditLog).where(AuditLog.action == "membership.deactivate")).entity_id == user.id


def test_admin_cannot_touch_users_of_other_dealers(client, db, dealers, login_as):
    ar, br = dealers
    login_as("admin", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/admin/users")
    outsider = factories.user(db, role="caller", dealer=br, name="Otro Concesionario")
    assert "Otro Concesionario" not in client.get(f"/d/{ar.code}/admin/users").get_data(as_text=True)
    response = client.post(f"/d/{ar.code}/admin/users/{outsider.id}", data={"csrf_token": token,
                                                                            "operation": "deactivate"})
    assert response.status_code == 404
    db.expire_all()
    assert db.get(User, outsider.id).active is True
