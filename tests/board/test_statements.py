"""Board statements are built once per shape: each builder is cached on exactly the filter choices
that change its SQL (boxes/board/statements.py), and an unknown filter falls back to its default
before the cache is asked, so the cache never holds more than one statement per shape."""

from __future__ import annotations

from boxes.board import appointments, badges, completed, deliveries, in_process, opportunities


def sql(stmt) -> str:
    """The statement's SQL with the values built into it (an origin is a literal of the shape, bound
    as ``:origin_1``); the parameters filled in at execution (dealer, windows, campaign) have none."""
    compiled = stmt.compile()
    return f"{compiled} {sorted((k, v) for k, v in compiled.params.items() if v is not None)}"


def test_opportunity_filter_shapes_get_their_own_statements():
    shapes = [opportunities._shape(origin, campaign) for origin in (None, "manual", "campaign")
              for campaign in (None, 7)]
    statements = [opportunities._list(*shape) for shape in shapes]
    assert len({sql(s.page) for s in statements}) == len(shapes)
    assert len({sql(opportunities._groups(*shape)) for shape in shapes}) == len(shapes)
    assert len({sql(opportunities._list_and_groups(*shape).page) for shape in shapes}) == len(shapes)
    # The campaign's id and the dealer are parameters, not part of the shape.
    assert opportunities._list(*opportunities._shape("manual", 7)) is opportunities._list(
        *opportunities._shape("manual", 8))
    assert ":campaign_id" in sql(opportunities._list(None, True).page)
    assert ":campaign_id" not in sql(opportunities._list(None, False).page)
    assert ":dealer_id" in sql(opportunities._list(None, False).page)


def test_equal_shapes_share_one_statement_object():
    assert opportunities._list(*opportunities._shape("manual", None)) is opportunities._list(
        *opportunities._shape("manual", None))
    assert opportunities._groups(None, True) is opportunities._groups(None, True)
    assert appointments._list("no_shows") is appointments._list("no_shows")
    assert deliveries._query("done") is deliveries._query("done")
    assert in_process._query("week") is in_process._query("week")
    assert completed._query("pending") is completed._query("pending")
    assert badges._badges() is badges._badges()


def test_each_filter_choice_is_its_own_shape():
    for query, choices in ((deliveries._query, deliveries.WELCOME_FILTERS),
                           (in_process._query, in_process.OPENED_FILTERS),
                           (completed._query, completed.COURTESY_FILTERS),
                           (appointments._list, appointments.SUB_VIEWS)):
        statements = [query(choice) for choice in choices]
        assert len({id(s) for s in statements}) == len(choices)
        assert len({sql(s.page) for s in statements}) == len(choices)


def test_unknown_filters_fall_back_to_the_default_shape_before_the_cache():
    assert opportunities._shape("nonsense", None) == (None, False)
    assert deliveries._query("nonsense") is deliveries._query("all")
    assert in_process._query("nonsense") is in_process._query("all")
    assert completed._query("nonsense") is completed._query("all")
    opportunities._list(None, False)
    deliveries._query("all")
    sizes = opportunities._list.cache_info().currsize, deliveries._list.cache_info().currsize
    for junk in ("x", "' OR 1=1", "z" * 500, "", None):
        opportunities._list(*opportunities._shape(junk, None))
        deliveries._query(junk)
    assert (opportunities._list.cache_info().currsize, deliveries._list.cache_info().currsize) == sizes
