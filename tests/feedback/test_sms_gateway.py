"""The HTTP SMS gateway client and backend against a real HTTP server on loopback that can fail (500),
time out, refuse (400) and succeed."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from feedback.lib.sms_gateway import SmsGatewayClient, SmsRejected, SmsTemporaryError


class Gateway:
    """Answers each request with the next planned behaviour: an int status, "timeout", or "ok"."""

    def __init__(self) -> None:
        self.plan: list[object] = []
        self.requests: list[dict] = []
        self.delivered: dict[str, dict] = {}
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                gateway.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                action = gateway.plan.pop(0) if gateway.plan else "ok"
                if action == "timeout":
                    time.sleep(1.0)
                    action = "ok"
                if action == "ok":
                    key = self.headers["Idempotency-Key"]
                    gateway.delivered.setdefault(key, body)  # a deduplicating gateway
                    payload = json.dumps({"id": f"gw-{len(gateway.delivered)}"}).encode()
                    self.send_response(202)
                else:
                    payload = b'{"error": "nope"}'
                    self.send_response(int(action))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    with Gateway() as running:
        yield running


def _client(gateway: Gateway, **options) -> tuple[SmsGatewayClient, list[float]]:
    delays: list[float] = []
    options = {"timeout": 0.3, "attempts": 3, "backoff": 0.01, **options}
    return SmsGatewayClient(url=gateway.url, api_key="k-123", sleep=delays.append, **options), delays


def test_success_sends_json_with_the_key_in_a_header_not_the_url(gateway):
    client, delays = _client(gateway)
    assert client.send(to="+4791234567", text="Passord: abc", reference="pw-1-202611-0") == "gw-1"
    [request] = gateway.requests
    assert request["path"] == "/sms" and "k-123" not in request["path"]
    assert request["headers"]["Authorization"] == "Bearer k-123"
    assert request["headers"]["Idempotency-Key"] == "pw-1-202611-0"
    assert request["body"] == {
        "to": "+4791234567",
        "text": "Passord: abc",
        "sender": "FHI",
        "reference": "pw-1-202611-0",
    }
    assert delays == []


def test_server_errors_and_timeouts_are_retried_with_backoff(gateway):
    gateway.plan = [500, "timeout"]
    client, delays = _client(gateway)
    assert client.send(to="+4791234567", text="x", reference="r1").startswith("gw-")
    assert len(gateway.requests) == 3
    assert len(delays) == 2 and all(0 <= d <= 0.02 for d in delays)
    assert list(gateway.delivered) == ["r1"]  # the timed-out attempt and its retry: one SMS at the gateway


def test_retries_are_bounded(gateway):
    gateway.plan = [500, 503, 502, 500]
    client, delays = _client(gateway)
    with pytest.raises(SmsTemporaryError):
        client.send(to="+4791234567", text="x", reference="r2")
    assert len(gateway.requests) == 3 and len(delays) == 2


def test_a_refusal_is_not_retried(gateway):
    gateway.plan = [400]
    client, _ = _client(gateway)
    with pytest.raises(SmsRejected):
        client.send(to="+4791234567", text="x", reference="r3")
    assert len(gateway.requests) == 1


def test_an_unreachable_gateway_is_a_temporary_error():
    client = SmsGatewayClient(url="http://127.0.0.1:9/sms", api_key="k", attempts=2, sleep=lambda s: None, timeout=0.5)
    with pytest.raises(SmsTemporaryError):
        client.send(to="+4791234567", text="x", reference="r4")


def test_backoff_grows_and_is_capped():
    client = SmsGatewayClient(url="https://sms.example/send", api_key="k", backoff=1.0, max_backoff=5.0)
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 5.0)]:
        assert all(0 <= client._delay(attempt) <= cap for _ in range(50))


@pytest.mark.django_db
def test_the_http_backend_sends_the_password_sms_through_the_outbox(gateway, settings, people, enqueued):
    from feedback import services
    from feedback.models import FeedbackReport, SmsOutbox
    from tests.feedback.conftest import finding, make_submission

    settings.FEEDBACK_SMS_BACKEND = "feedback.sms.backends.http.SmsBackend"
    settings.FEEDBACK_SMS_GATEWAY_URL = gateway.url
    settings.FEEDBACK_SMS_GATEWAY_KEY = "k-123"
    settings.FEEDBACK_SMS_TIMEOUT = 0.3
    submission = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    services.feedback_for_submission(submission_id=submission.pk)
    services.report_produce(report_id=FeedbackReport.objects.get(submission=submission).pk)
    row = SmsOutbox.objects.get(contact=people.technical)

    gateway.plan = [500, 500, 500]  # every attempt of the first task fails: the row waits for a retry
    with pytest.raises(SmsTemporaryError):
        services.sms_send(outbox_id=row.pk)
    row.refresh_from_db()
    assert row.status == SmsOutbox.Status.PENDING and row.attempts == 1

    assert services.sms_send(outbox_id=row.pk)
    row.refresh_from_db()
    assert row.status == SmsOutbox.Status.SENT and row.gateway_id.startswith("gw-")
    text = gateway.requests[-1]["body"]["text"]
    assert people.submitter.org_number in text
    assert not services.sms_send(outbox_id=row.pk)
    assert len(gateway.delivered) == 1
