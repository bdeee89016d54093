"""The ORM's state objects on CPython 3.11 (see the comment in boxes/db.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from sqlalchemy import select
from sqlalchemy.orm.base import instance_state

from boxes.models import Customer
from tests import factories

# The interpreter bug itself, in plain Python: a store that turns an object's inline attribute
# values into a dict allocates, the allocation runs the collector, and a weakref callback stores
# attributes on the same object. SQLAlchemy's InstanceState._cleanup is such a callback.
INTERPRETER_BUG = textwrap.dedent("""
    import gc, weakref

    class State:
        def __init__(self, obj):
            self.a = 1
            self.obj = weakref.ref(obj, self._cleanup)

        def _cleanup(self, ref):
            for i in range(40):
                setattr(self, f"c{i}", None)

    class Obj:
        pass

    for n in range(20000):
        o = Obj()
        o.cycle = o
        s = State(o)
        del o
        gc.set_threshold(1)
        for i in range(8):
            setattr(s, f"k{n}_{i}", i)
        gc.set_threshold(700)
    print("survived")
""")


# Attributes only the state's own __dict__ holds (its committed_state, a dict too, holds columns).
STATE_ATTRIBUTES = {"modified", "session_id", "key", "runid", "_strong_obj", "_instance_dict"}


def has_own_dict(state) -> bool:
    """Whether ``state`` keeps its attributes in a real dict, read without creating one: the
    collector sees that dict as one referent; inline values show up as the values themselves."""
    return any(type(r) is dict and STATE_ATTRIBUTES & r.keys() for r in gc.get_referents(state))


def test_every_loaded_or_new_object_state_has_its_own_dict_on_python_311(db, dealers):
    dealer, _ = dealers
    factories.customer(db, dealer, name="Ana Díaz")
    db.expunge_all()
    affected = sys.version_info < (3, 12)

    # Checked before the session touches the state (adding it stores attributes, which can give it
    # a dict on its own): the constructor alone must have done it.
    created = Customer(dealer_id=dealer.id, dms_id="C-NEW", name="Bruno Paz")
    assert has_own_dict(instance_state(created)) is affected

    loaded = db.scalars(select(Customer)).one()
    assert has_own_dict(instance_state(loaded)) is affected


def test_the_interpreter_bug_the_guard_avoids_is_real_on_python_311():
    """Guards against removing the guard on the belief that the bug is gone: on 3.11 the plain
    Python above still crashes the interpreter; 3.12 rewrote that code and survives it."""
    run = subprocess.run([sys.executable, "-c", INTERPRETER_BUG], capture_output=True, text=True, timeout=120)
    if sys.version_info < (3, 12):
        assert run.returncode != 0 and "survived" not in run.stdout
    else:
        assert run.returncode == 0 and "survived" in run.stdout
