"""The reporting HTTP API on SQLite: scopes, as_of, pagination, CSV, timeline, school view, lag."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from reporting_app import EXAMPLES, example_envelope, reporting_app, story

NOW = datetime(2027, 1, 15, 12, tzinfo=timezone.utc)


@pytest.fixture
async def api(sqlite_url):
    app = await reporting_app(sqlite_url, NOW)
    await app.apply(story())
    yield app
    await app.client.aclose()
    await app.store.close()


async def test_the_thin_slice_counts_the_campaigns_an_academie_opened(api) -> None:
    response = await api.client.get("/academies/paris/campaigns", headers=api.auth())
    assert response.status_code == 200
    assert response.json()["campaigns_opened"] == 1


async def test_an_academie_cannot_read_another_academie(api) -> None:
    assert (await api.client.get("/academies/paris/campaigns", headers=api.auth("academie", "lille"))).status_code == 403
    assert (await api.client.get("/indicators?academie=paris", headers=api.auth("academie", "lille"))).status_code == 403
    assert (await api.client.get("/dashboard/paris", headers=api.auth("academie", "lille"))).status_code == 403


async def test_an_academie_token_without_filter_reads_its_own_academie_only(api) -> None:
    own = (await api.client.get("/indicators", headers=api.auth("academie", "lille"))).json()
    assert own["filters"] == {"academie": "lille"}
    assert own["indicators"]["campaigns_opened"] == 0


async def test_national_reads_every_academie_and_a_school_reads_no_indicator(api) -> None:
    national = await api.client.get("/indicators", headers=api.auth("national", "*"))
    assert national.json()["indicators"]["partnerships_active"] == 1  # one partnership, in its year 2
    assert (await api.client.get("/indicators", headers=api.auth("school", "0750655E"))).status_code == 403


async def test_no_token_is_401_and_a_bad_token_is_401(api) -> None:
    assert (await api.client.get("/indicators")).status_code == 401
    assert (await api.client.get("/indicators", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_indicators_answer_as_of_a_past_date(api) -> None:
    before = (await api.client.get("/indicators?as_of=2025-07-01", headers=api.auth())).json()["indicators"]
    after = (await api.client.get("/indicators", headers=api.auth())).json()["indicators"]
    assert before["campaigns_opened"] == 0 and before["partnerships_active"] == 0
    assert after["candidatures_attributed"] == 1 and after["attribution_rate"] == 1.0
    assert after["pupils_reached"] > 0 and after["schools_reached"] == 1
    assert after["bilans_recorded"] == 1 and after["satisfaction_avg"] is not None
    assert after["renewal_rate"] == 1.0 and after["reminders_sent"] == 1


async def test_an_admin_moves_the_manual_clock_and_today_follows_it(api) -> None:
    assert (await api.client.post("/admin/clock", json={"now": "2025-07-01T08:00:00+00:00"},
                                  headers=api.auth())).status_code == 403
    moved = await api.client.post("/admin/clock", json={"now": "2025-07-01T08:00:00+00:00"},
                                  headers=api.auth("admin", "*"))
    assert moved.status_code == 200
    today = (await api.client.get("/indicators", headers=api.auth())).json()
    assert today["as_of"] == "2025-07-01" and today["indicators"]["campaigns_opened"] == 0


async def test_an_invalid_as_of_is_a_422_naming_the_field(api) -> None:
    response = await api.client.get("/indicators?as_of=tomorrow", headers=api.auth())
    assert response.status_code == 422
    assert "as_of" in response.json()["detail"]


async def test_a_breakdown_by_education_prioritaire_is_paginated(api) -> None:
    body = (await api.client.get("/indicators/by/ep?limit=1", headers=api.auth())).json()
    assert body["limit"] == 1 and len(body["items"]) == 1 and body["total"] >= 1
    groups = (await api.client.get("/indicators/by/ep", headers=api.auth())).json()["items"]
    assert {g["group"]: g["partnerships_active"] for g in groups}.get("REP+") == 1


async def test_the_csv_export_opens_in_a_french_spreadsheet(api) -> None:
    response = await api.client.get("/indicators.csv", headers=api.auth())
    assert response.headers["content-type"].startswith("text/csv")
    raw = response.content
    assert raw.startswith("\ufeff".encode("utf-8"))
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "Indicateur;Valeur"
    assert "Campagnes ouvertes;1" in lines
    assert any(line.startswith("Satisfaction moyenne (1-5);") and "," in line for line in lines)
    by = (await api.client.get("/indicators.csv?by=dispositif", headers=api.auth())).content.decode("utf-8-sig")
    assert by.splitlines()[0].startswith("Dispositif;Campagnes ouvertes")


async def test_the_partnership_list_is_paginated_and_exported(api) -> None:
    body = (await api.client.get("/partnerships?limit=10", headers=api.auth())).json()
    assert body["total"] == 1
    partnership = body["items"][0]
    assert partnership["uai"] == "0750655E" and [y["year_index"] for y in partnership["years"]] == [1, 2]
    csv_text = (await api.client.get("/partnerships.csv", headers=api.auth())).content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("Jumelage;UAI;École")
    assert "Domaines EAC" in csv_text.splitlines()[0]


async def test_an_offer_with_several_eac_domains_counts_in_each_and_once_in_the_total(api) -> None:
    from jumelage_contracts.reference import EacDomain

    (partnership,) = (await api.client.get("/partnerships", headers=api.auth())).json()["items"]
    assert partnership["domains"] == [5, 13]
    total = (await api.client.get("/indicators", headers=api.auth())).json()["indicators"]
    assert total["partnerships_active"] == 1
    for domain in (5, 13):
        one = (await api.client.get(f"/indicators?domain={domain}", headers=api.auth())).json()["indicators"]
        assert one["partnerships_active"] == 1 and one["candidatures_submitted"] == 1
    assert (await api.client.get("/indicators?domain=1", headers=api.auth())).json()["indicators"][
        "partnerships_active"] == 0
    rows = (await api.client.get("/indicators/by/domain", headers=api.auth())).json()["items"]
    assert {r["group"]: r["partnerships_active"] for r in rows if r["partnerships_active"]} == {5: 1, 13: 1}
    csv_text = (await api.client.get("/partnerships.csv", headers=api.auth())).content.decode("utf-8-sig")
    assert f"{EacDomain(5).label}, {EacDomain(13).label}" in csv_text
    by_csv = (await api.client.get("/indicators.csv?by=domain", headers=api.auth())).content.decode("utf-8-sig")
    assert any(line.startswith(EacDomain(13).label + ";") for line in by_csv.splitlines())


async def test_two_partnerships_may_use_the_same_action_id(api) -> None:
    """Clients choose action ids, unique within their partnership only: another partnership's
    'same' action is its own, counted in its own month."""
    def by_month(items: list[dict]) -> dict:
        return {r["group"]: (r["actions_planned"], r["actions_cancelled"]) for r in items}

    before = by_month((await api.client.get("/indicators/by/month", headers=api.auth())).json()["items"])
    action_id = json.loads((EXAMPLES / "ActionScheduled.v1.json").read_text("utf-8"))["action_id"]
    other, at = "0c0ffee0-0000-5000-8000-000000000002", datetime(2026, 2, 1, tzinfo=timezone.utc)
    await api.apply([
        example_envelope("PartnershipAttributed", at, 101, partnership_id=other, candidature_id="cand-autre"),
        example_envelope("ProgrammeYearOpened", at, 102, partnership_id=other),
        example_envelope("ActionScheduled", at, 103, partnership_id=other, action_id=action_id,
                         starts_at="2026-02-10T09:00:00Z"),
        example_envelope("ActionCancelled", at, 104, partnership_id=other, action_id=action_id)])
    after = by_month((await api.client.get("/indicators/by/month", headers=api.auth())).json()["items"])
    planned, cancelled = before.get("2026-02", (0, 0))
    assert after.pop("2026-02") == (planned + 1, cancelled + 1)
    before.pop("2026-02", None)
    assert after == before


async def test_a_partnership_timeline_as_of_a_date_shows_only_what_had_happened(api) -> None:
    pid = (await api.client.get("/partnerships", headers=api.auth())).json()["items"][0]["partnership_id"]
    full = (await api.client.get(f"/partnerships/{pid}/timeline", headers=api.auth())).json()
    early = (await api.client.get(f"/partnerships/{pid}/timeline?as_of=2025-07-10", headers=api.auth())).json()
    assert len(early["timeline"]) < len(full["timeline"])
    # the candidature's history comes first: submitted, amended, avis, then the attribution
    assert [e["type"] for e in early["timeline"]][:4] == [
        "CandidatureSubmitted", "CandidatureAmended", "CandidatureReviewed", "PartnershipAttributed"]
    assert [e["about"] for e in early["timeline"]][:4] == ["candidature"] * 3 + ["partnership"]
    assert any(c["realised"] == 1 for c in full["classes"])
    other = await api.client.get(f"/partnerships/{pid}/timeline", headers=api.auth("academie", "lille"))
    assert other.status_code == 403
    assert (await api.client.get("/partnerships/nope/timeline", headers=api.auth())).status_code == 404


async def test_the_school_view_lists_every_partnership_of_a_uai_across_dispositifs(api) -> None:
    second = example_envelope("PartnershipAttributed", datetime(2026, 7, 5, tzinfo=timezone.utc), 99,
                              partnership_id="p-second", candidature_id="c-second", dispositif="mercredi",
                              school_year="2026-2027")
    await api.apply([second])
    school = (await api.client.get("/schools/0750655E", headers=api.auth())).json()
    assert {p["dispositif"] for p in school["partnerships"]} == {"culture", "mercredi"}
    (cand,) = school["candidatures"]
    assert cand["status"] == "attributed" and cand["partnership_id"] in {p["partnership_id"] for p in school["partnerships"]}
    assert [e["type"] for e in cand["history"]] == ["CandidatureSubmitted", "CandidatureAmended", "CandidatureReviewed"]
    before = (await api.client.get("/schools/0750655E?as_of=2025-07-07", headers=api.auth())).json()
    assert before["partnerships"] == [] and before["candidatures"][0]["status"] == "submitted"
    assert len(before["candidatures"][0]["history"]) == 2
    mine = await api.client.get("/schools/0750655E", headers=api.auth("school", "0750655E"))
    assert mine.status_code == 200
    assert (await api.client.get("/schools/0750655E", headers=api.auth("school", "0130001A"))).status_code == 403


async def test_the_lag_endpoint_gives_the_last_position_applied_per_source(api) -> None:
    body = (await api.client.get("/lag", headers=api.auth("admin", "*"))).json()
    positions = {s["source"]: s["last_position"] for s in body["sources"]}
    assert positions["notifications"] == len(story()) and set(positions) == {"candidatures", "programmes", "notifications"}
    assert body["generation"] == 1


async def test_the_lag_endpoint_is_for_operators_only(api) -> None:
    assert (await api.client.get("/lag")).status_code == 401
    for role, scope in (("academie", "paris"), ("national", "*"), ("school", "0750655E"), ("partner", "p-1")):
        refused = await api.client.get("/lag", headers=api.auth(role, scope))
        assert refused.status_code == 403, role
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_an_academie_asking_for_a_school_of_another_academie_is_refused(api) -> None:
    other = await api.client.get("/schools/0130001F", headers=api.auth("academie", "paris"))  # aix-marseille
    assert other.status_code == 403
    assert other.headers["content-type"].startswith("application/problem+json")
    assert (await api.client.get("/schools/0130001F", headers=api.auth("academie", "aix-marseille"))).status_code == 200
    assert (await api.client.get("/schools/0750655E", headers=api.auth("academie", "paris"))).status_code == 200


async def test_the_dashboard_accepts_the_token_in_the_query_and_keeps_it_in_a_cookie(api) -> None:
    token = api.token("academie", "paris")
    response = await api.client.get(f"/dashboard/paris?token={token}")
    assert response.status_code == 200
    assert "jumelage_token" in response.headers.get("set-cookie", "")
    html = response.text
    assert "<svg" in html and "Jumelages attribués par dispositif" in html and "http" not in html.split("<body>")[1].replace("http://www.w3.org/2000/svg", "")
    assert api.client.cookies.get("jumelage_token") == token  # what a browser keeps
    again = await api.client.get("/dashboard/paris")
    assert again.status_code == 200


async def test_the_openapi_document_describes_the_reporting_routes(api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    assert {"/indicators", "/indicators/by/{dimension}", "/indicators.csv", "/partnerships/{partnership_id}/timeline",
            "/schools/{uai}", "/dashboard/{academie}", "/lag"} <= set(paths)
    assert any(p["name"] == "as_of" for p in paths["/indicators"]["get"]["parameters"])


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T10:00:00+00:00")


async def test_a_school_counts_under_its_classification_as_it_stood_at_each_date(api) -> None:
    """The school leaves no figure behind when its éducation prioritaire changes: its candidature
    counts where it stands as of the date asked, each partnership-year where the school stood that
    year, and a class that left the programme is no longer reached."""
    school = (await api.client.get("/schools/0750655E", headers=api.auth())).json()["partnerships"][0]
    base = {"school": None, "candidature_id": "c-moved"}

    def as_(ep: str) -> dict:
        return {**base, "school": {"uai": "0750655E", "name": school["school_name"], "academie": "paris",
                                   "departement": "75", "education_prioritaire": ep, "ruralite": "petites_villes"}}

    await api.apply([
        example_envelope("CandidatureSubmitted", _at("2025-08-01"), 101, **as_("none")),
        example_envelope("CandidatureAmended", _at("2025-08-20"), 102, **as_("REP")),
        example_envelope("PartnershipAttributed", _at("2025-09-01"), 103, partnership_id="p-moved", **as_("REP")),
        example_envelope("RenewalGranted", _at("2026-07-10"), 104, partnership_id="p-moved", **as_("none")),
        # programmes learns the year's school and classes from its own ProgrammeYearOpened
        example_envelope("ProgrammeYearOpened", _at("2026-07-11"), 105, partnership_id="p-moved",
                         school_year="2026-2027", year_index=2, **as_("none"),
                         classes=[{"class_id": "cm2-a", "label": "CM2 A", "level": "CM2", "pupils": 25}]),
        example_envelope("ClassCancelled", _at("2026-09-20"), 106, partnership_id="p-moved", class_id="cm2-a",
                         school_year="2026-2027", year_index=2, cancelled_action_ids=[]),
    ])

    async def value(name: str, as_of: str, **flt: str) -> int:
        query = "&".join(f"{k}={v}" for k, v in {"as_of": as_of, **flt}.items())
        return (await api.client.get(f"/indicators?{query}", headers=api.auth())).json()["indicators"][name]

    assert await value("candidatures_submitted", "2025-08-10", ep="none", ruralite="petites_villes") == 1
    assert await value("candidatures_submitted", "2025-08-25", ep="none", ruralite="petites_villes") == 0
    assert await value("candidatures_submitted", "2025-08-25", ep="REP", ruralite="petites_villes") == 1
    # year 1 stays in REP after the school left it; year 2 counts outside, from its school year on
    assert await value("partnerships_active", "2026-08-01", ep="REP", ruralite="petites_villes") == 1
    assert await value("partnerships_active", "2026-08-01", ep="none", ruralite="petites_villes") == 0
    assert await value("partnerships_active", "2026-08-01", ep="none", school_year="2026-2027") == 1
    assert await value("partnerships_active", "2026-09-10", ep="none", ruralite="petites_villes") == 1
    assert await value("partnerships_active", "2026-09-10", ep="REP", ruralite="petites_villes") == 0
    assert await value("partnerships_active", "2026-09-10", ep="REP", school_year="2025-2026") == 1
    assert await value("partnerships_active", "2026-01-01", ep="none", ruralite="petites_villes") == 0

    async def listed(as_of: str, ep: str) -> list:
        body = (await api.client.get(f"/partnerships?as_of={as_of}&ep={ep}", headers=api.auth())).json()
        return [p for p in body["items"] if p["partnership_id"] == "p-moved"]

    (then,) = await listed("2026-01-01", "REP")
    assert then["ep"] == "REP" and [y["school_year"] for y in then["years"]] == ["2025-2026"]
    assert await listed("2026-08-01", "REP") == []
    (now,) = await listed("2026-08-01", "none")
    assert [(y["school_year"], y["ep"]) for y in now["years"]] == [("2025-2026", "REP"), ("2026-2027", "none")]
    assert now["years"][1]["classes"] == 1
    (later,) = await listed("2026-10-01", "none")
    assert later["years"][1]["classes"] == 0 and later["years"][1]["pupils"] == 0
    timeline = (await api.client.get("/partnerships/p-moved/timeline?as_of=2026-10-01", headers=api.auth())).json()
    assert timeline["partnership"]["ep"] == "none"
    assert [c["in_programme"] for c in timeline["classes"] if c["school_year"] == "2026-2027"] == [False]
    assert [e["type"] for e in timeline["timeline"]][:2] == ["CandidatureSubmitted", "CandidatureAmended"]
    old = (await api.client.get("/partnerships/p-moved/timeline?as_of=2026-01-01", headers=api.auth())).json()
    assert old["partnership"]["ep"] == "REP"


async def test_a_partnership_is_active_in_one_year_at_a_time_from_its_school_year_until_it_ends(api) -> None:
    """Without a school year asked, partnerships, schools, classes and pupils are those of the
    years active on the date (Sept–Aug school years, from the later of their start and their
    opening); with one, every year of that school year attributed by the date."""

    async def get(path: str) -> dict:
        return (await api.client.get(path, headers=api.auth())).json()

    async def figures(as_of: str, extra: str = "") -> tuple:
        v = (await get(f"/indicators?as_of={as_of}{extra}"))["indicators"]
        return v["partnerships_active"], v["schools_reached"], v["classes_reached"], v["pupils_reached"]

    async def by(dimension: str, as_of: str) -> dict:
        rows = (await get(f"/indicators/by/{dimension}?as_of={as_of}"))["items"]
        return {r["group"]: r["partnerships_active"] for r in rows if r["partnerships_active"]}

    # attributed in July 2025 for 2025-2026: not active before the school year starts
    assert await figures("2025-08-15") == (0, 0, 0, 0)
    assert await figures("2025-08-15", "&school_year=2025-2026") == (1, 1, 2, 46)
    assert await figures("2025-10-01") == (1, 1, 2, 46)
    assert await by("year_index", "2025-10-01") == {1: 1}
    # year 2 (granted in July 2025 for 2026-2027) takes over on September 1, 2026: still one partnership
    assert await figures("2026-08-31") == (1, 1, 2, 46)
    assert await figures("2026-10-01") == (1, 1, 1, 25)
    assert await by("year_index", "2026-10-01") == {2: 1}
    assert await by("school_year", "2026-10-01") == {"2025-2026": 1, "2026-2027": 1}

    stop = {"partnership_id": "p-c0f5c2a2-6f1e-4c8e-9d55-1f2e3a4b5c6d", "school_year": "2026-2027", "year_index": 2}
    await api.apply([
        example_envelope("ProgrammeYearClosed", _at("2026-12-01"), 201, **stop, outcome="ended",
                         closed_at="2026-12-01T10:00:00Z", bilan_recorded=False),
        example_envelope("PartnershipEnded", _at("2026-12-01"), 202, **stop, reason="withdrawn", detail=None,
                         ended_at="2026-12-01T10:00:00Z", years=2)])
    assert await figures("2026-11-30") == (1, 1, 1, 25)
    assert await figures("2026-12-15") == (0, 0, 0, 0)
    # the figures of the school year keep it: it was active in 2026-2027
    assert await figures("2026-12-15", "&school_year=2026-2027") == (1, 1, 1, 25)


async def test_an_offer_without_eac_domain_shows_no_domain_and_counts_under_none(sqlite_url) -> None:
    from datetime import timedelta

    app = await reporting_app(sqlite_url, NOW)
    try:
        start = datetime(2025, 7, 4, 10, tzinfo=timezone.utc)
        await app.apply([example_envelope(t, start + timedelta(days=i), i + 1,
                                          **({"eac_domains": []} if t == "OfferPublished" else {}))
                         for i, t in enumerate(["CampaignOpened", "OfferPublished", "CandidatureSubmitted",
                                                "PartnershipAttributed"])])
        (partnership,) = (await app.client.get("/partnerships?as_of=2025-10-01", headers=app.auth())).json()["items"]
        assert partnership["domains"] == []
        rows = (await app.client.get("/indicators/by/domain?as_of=2025-10-01", headers=app.auth())).json()["items"]
        assert {r["group"]: r["partnerships_active"] for r in rows if r["partnerships_active"]} == {0: 1}
        text = (await app.client.get("/partnerships.csv?as_of=2025-10-01", headers=app.auth())).content.decode("utf-8-sig")
        assert ";Aucun domaine;" in text.splitlines()[1]
    finally:
        await app.client.aclose()
        await app.store.close()


async def test_csv_exports_and_timelines_speak_french_and_the_json_keeps_the_codes(api) -> None:
    async def csv_rows(path: str) -> list[list[str]]:
        text = (await api.client.get(path, headers=api.auth())).content.decode("utf-8-sig")
        return [line.split(";") for line in text.splitlines()]

    totals = dict(await csv_rows("/indicators.csv?as_of=2026-10-01"))
    assert totals["Jumelages actifs (à la date)"] == "1" and "Élèves touchés (à la date)" in totals
    year = dict(await csv_rows("/indicators.csv?as_of=2026-10-01&school_year=2025-2026"))
    assert year["Jumelages actifs (année scolaire 2025-2026)"] == "1"
    by_ep = await csv_rows("/indicators.csv?by=ep&as_of=2026-10-01")
    assert {row[0] for row in by_ep[1:]} <= {"REP", "REP+", "Hors éducation prioritaire", "Non renseigné"}
    by_kind = await csv_rows("/indicators.csv?by=kind")
    assert {"Visite", "École", "Partenaire"} & {row[0] for row in by_kind[1:]}
    assert not {"visit", "school", "partner", "pupils", "work", "favourable", "action_j_minus_7"} & {
        row[0] for row in by_kind[1:]}
    (header, row) = await csv_rows("/partnerships.csv")
    values = dict(zip(header, row))
    assert values["Académie"] == "Paris" and values["Dispositif"] == "Culture"
    assert values["Éducation prioritaire"] in ("REP", "REP+", "Hors éducation prioritaire")
    assert "_" not in values["Ruralité"]

    (partnership,) = (await api.client.get("/partnerships", headers=api.auth())).json()["items"]
    assert partnership["dispositif"] == "culture"  # the JSON API answers the codes
    timeline = (await api.client.get(f"/partnerships/{partnership['partnership_id']}/timeline",
                                     headers=api.auth())).json()["timeline"]
    summaries = " ".join(e["summary"] for e in timeline)
    assert "Réunion de travail" in summaries or "Réunion de bilan" in summaries
    assert not any(f"({code})" in summaries for code in ("school", "partner", "renewed", "completed"))
    assert "Avis favourable" not in summaries and "Réunion work" not in summaries


async def test_late_attributions_and_places_given_back_to_the_offer_show_in_json_csv_and_dashboard(api) -> None:
    """A second school attributed after the attribution date (a place freed up) counts as a late
    attribution; a class leaving its first year gives its place back, once, dated the release."""
    cand = "7c1d9e00-0000-4000-8000-000000000002"
    late = {"candidature_id": cand, "partnership_id": f"p-{cand}"}
    await api.apply([
        example_envelope("CandidatureSubmitted", _at("2025-06-01"), 301, candidature_id=cand),
        example_envelope("PartnershipAttributed", _at("2025-09-20"), 302, **late, late=True,
                         late_reason="Désistement d'une école"),
        example_envelope("OfferPlacesReleased", _at("2025-11-03"), 303, **late, class_ids=["cm2-b"], classes=1,
                         remaining_classes=1, reason="class_cancelled", detail=None),
        example_envelope("OfferPlacesReleased", _at("2025-11-04"), 304, **late, class_ids=["cm2-b"], classes=1,
                         remaining_classes=1, reason="class_cancelled", detail=None),  # repeated: once
    ])

    async def figures(query: str) -> tuple:
        v = (await api.client.get(f"/indicators?{query}", headers=api.auth())).json()["indicators"]
        return v["candidatures_attributed"], v["attributions_late"], v["places_released"]

    assert await figures("as_of=2025-09-19") == (1, 0, 0)
    assert await figures("as_of=2025-10-01") == (2, 1, 0)
    assert await figures("as_of=2025-11-10") == (2, 1, 1)
    assert await figures("as_of=2025-11-10&dispositif=mercredi") == (0, 0, 0)
    rows = (await api.client.get("/indicators/by/academie?as_of=2025-11-10", headers=api.auth())).json()["items"]
    assert [(r["group"], r["attributions_late"], r["places_released"]) for r in rows] == [("paris", 1, 1)]
    timeline = (await api.client.get(f"/partnerships/p-{cand}/timeline?as_of=2025-11-10",
                                     headers=api.auth())).json()
    summaries = [e["summary"] for e in timeline["timeline"]]
    assert any("tardivement : Désistement d'une école" in s for s in summaries)
    assert any(s.startswith("Places rendues à l'offre : 1 classe(s) (classe retirée") for s in summaries)
    csv_lines = (await api.client.get("/indicators.csv?as_of=2025-11-10", headers=api.auth())
                 ).content.decode("utf-8-sig").splitlines()
    assert "Attributions tardives;1" in csv_lines and "Places rendues aux offres (classes);1" in csv_lines
    page = (await api.client.get("/dashboard/paris?as_of=2025-11-10", headers=api.auth())).text
    assert 'data-indicator="attributions_late"' in page and "Places rendues aux offres (classes)" in page


async def test_a_candidature_returned_for_correction_shows_as_returned_until_it_is_resubmitted(api) -> None:
    cand = "7c1d9e00-0000-4000-8000-000000000003"
    await api.apply([
        example_envelope("CandidatureSubmitted", _at("2025-05-02"), 401, candidature_id=cand),
        example_envelope("CandidatureReturnedForCorrection", _at("2025-05-10"), 402, candidature_id=cand),
        example_envelope("CandidatureResubmitted", _at("2025-05-20"), 403, candidature_id=cand),
        example_envelope("CandidatureReturnedForCorrection", _at("2025-05-25"), 404, candidature_id=cand,
                         reason="Encore une pièce manquante"),
    ])

    async def status(as_of: str) -> str:
        school = (await api.client.get(f"/schools/0750655E?as_of={as_of}", headers=api.auth())).json()
        return {c["candidature_id"]: c["status"] for c in school["candidatures"]}[cand]

    assert [await status(d) for d in ("2025-05-09", "2025-05-10", "2025-05-19", "2025-05-20", "2025-05-25")] == [
        "submitted", "returned", "returned", "submitted", "returned"]
    await api.apply([example_envelope("CandidatureWithdrawn", _at("2025-06-01"), 405, candidature_id=cand,
                                      reason=None)])
    assert await status("2025-06-02") == "withdrawn"
    # a return is no outcome: the candidature counted once as submitted, then as withdrawn
    v = (await api.client.get("/indicators?as_of=2025-06-02", headers=api.auth())).json()["indicators"]
    assert (v["candidatures_submitted"], v["candidatures_withdrawn"]) == (1, 1)


async def test_a_year_stops_being_overdue_when_its_school_year_is_over_or_it_was_closed(api) -> None:
    """Overdue follows "active at the date": past its window with nothing held, while its school
    year runs and it is neither ended nor closed without renewal."""
    second = {"partnership_id": "p-late-2", "candidature_id": "c-late-2"}
    third = {"partnership_id": "p-late-3", "candidature_id": "c-late-3"}
    await api.apply([
        example_envelope("PartnershipAttributed", _at("2025-07-05"), 501, **second),
        example_envelope("PartnershipAttributed", _at("2025-07-05"), 502, **third),
        example_envelope("ProgrammeYearClosed", _at("2026-02-02"), 503, **third, school_year="2025-2026",
                         year_index=1, outcome="not_renewed", closed_at="2026-02-02T10:00:00Z", bilan_recorded=False),
    ])

    async def overdue(as_of: str, extra: str = "") -> tuple:
        v = (await api.client.get(f"/indicators?as_of={as_of}{extra}", headers=api.auth())).json()["indicators"]
        return v["overdue_work_meeting"], v["overdue_bilan"]

    assert await overdue("2025-10-17") == (0, 0)  # the window closes that day
    assert await overdue("2025-10-18") == (2, 0)  # neither newcomer held its work meeting
    assert await overdue("2026-02-02") == (1, 0)  # closed without renewal: no longer expected
    assert await overdue("2026-06-30") == (1, 1)  # (the story's partnership recorded its bilan)
    assert await overdue("2026-08-31", "&school_year=2025-2026") == (1, 1)
    assert await overdue("2026-09-01") == (0, 0)  # 2025-2026 is over
    assert await overdue("2026-09-01", "&school_year=2025-2026") == (0, 0)


async def test_the_dashboard_year_hint_follows_the_service_clock_across_the_first_of_september(api) -> None:
    admin = api.auth("admin", "*")
    # 31 August 23:30 in Paris is still 2026-2027's last day; 22:30 UTC is 00:30 on 1 September there
    for now, hint in (("2027-08-31T21:30:00+00:00", "2026-2027"), ("2027-08-31T22:30:00+00:00", "2027-2028")):
        assert (await api.client.post("/admin/clock", json={"now": now}, headers=admin)).status_code == 200
        page = (await api.client.get("/dashboard/paris", headers=api.auth())).text
        assert f'placeholder="{hint}"' in page
        assert "2025-2026" not in page


async def test_without_an_identity_provider_a_browser_without_a_token_gets_a_page_saying_how_to_sign_in(api) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    page = await api.client.get("/dashboard/paris?school_year=2025-2026&token=not-a-token", headers=browser)
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert page.headers["www-authenticate"] == "Bearer"
    assert "/dashboard/paris?school_year=2025-2026&amp;token=" in page.text  # the bad token left out
    assert "jumelage token --role" in page.text and "not-a-token" not in page.text
    answer = await api.client.get("/dashboard/paris", headers={"Accept": "application/json"})
    assert answer.status_code == 401 and answer.headers["content-type"].startswith("application/problem+json")


async def test_cnr_projects_are_counted_by_each_step_they_reached(sqlite_url) -> None:
    """Issue 12: CNR projects by step reached. The steps are optional and distinct (seed 003): a
    project counts once under each step it reached, in any order; plan mercredi's steps count nothing."""
    from datetime import timedelta

    app = await reporting_app(sqlite_url, NOW)
    try:
        start, cnr = datetime(2025, 7, 4, 10, tzinfo=timezone.utc), {"dispositif": "concertation"}
        events = [example_envelope(t, start + timedelta(days=i), i + 1, **cnr) for i, t in enumerate(
            ["CampaignOpened", "CandidatureSubmitted", "PartnershipAttributed", "ProgrammeYearOpened"])]

        def step(name: str, number: int, day: int, track: str = "concertation"):
            return example_envelope("StepCompleted", start + timedelta(days=day), day, track=track, step=name,
                                    step_number=number)

        before_projet = start + timedelta(days=30)
        events += [step("projet_pedagogique", 2, 20), step("concertation", 1, 40), step("concertation", 1, 41),
                   step("formalisation", 3, 42, track="mercredi")]
        await app.apply(events)
        figures = (await app.client.get("/indicators?dispositif=concertation", headers=app.auth())).json()["indicators"]
        assert (figures["cnr_concertation"], figures["cnr_projet_pedagogique"], figures["cnr_financement"]) == (1, 1, 0)
        then = (await app.client.get(f"/indicators?as_of={before_projet.date()}", headers=app.auth())).json()
        assert (then["indicators"]["cnr_concertation"], then["indicators"]["cnr_projet_pedagogique"]) == (0, 1)
        exported = (await app.client.get("/indicators.csv", headers=app.auth())).content.decode("utf-8-sig")
        assert "Projets CNR ayant tenu leur concertation;1" in exported
    finally:
        await app.client.aclose()
        await app.store.close()
