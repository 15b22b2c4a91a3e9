"""A new job from the dashboard: URLs checked before anything is sent, then created through a worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.models import Job, Operation, Site
from prefetch_ui.prefetch.services.operations import operation_execute
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.factories import OperationFactory
from tests.polling import eventually

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
TOKEN = "0123456789abcdef01234567"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
)


def _url(query: str = "") -> str:
    return reverse("job-new", args=[DEMO_SITE_ID]) + query


def _form(**fields: object) -> dict[str, object]:
    return {"form_token": TOKEN, "name": "Spring sale", "source": "text", "urls_text": ""} | fields


def _file(data: bytes, name: str = "urls.txt") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/plain")


def _post(client: Client, data: dict[str, object], *, htmx: bool = True, query: str = "") -> Response:
    return client.post(_url(query), data, headers=HTMX if htmx else {})


def test_the_form_carries_a_fresh_token_and_offers_three_sources(site: Site, operator_client: Client) -> None:
    first, second = operator_client.get(_url()).content.decode(), operator_client.get(_url()).content.decode()
    token = first.split('name="form_token" value="')[1][:24]
    assert len(token) == 24 and int(token, 16) >= 0
    assert token not in second
    for source in ("text", "file", "oss"):
        assert f'name="source" value="{source}"' in first
    assert 'type="file" name="url_file"' in first
    assert 'hx-encoding="multipart/form-data"' in first


def test_the_site_page_links_to_the_form_for_operators_only(
    site: Site, operator_client: Client, viewer_client: Client
) -> None:
    site_url = reverse("site-detail", args=[DEMO_SITE_ID])
    assert _url() in operator_client.get(site_url).content.decode()
    assert _url() not in viewer_client.get(site_url).content.decode()


def test_read_only_users_get_403_and_change_nothing(site: Site, viewer_client: Client) -> None:
    valid = _form(urls_text="https://example.com/a")
    assert viewer_client.get(_url()).status_code == 403
    assert viewer_client.post(_url(), valid).status_code == 403
    assert viewer_client.post(_url("?check=1"), valid, headers=HTMX).status_code == 403
    assert Operation.objects.count() == 0


def test_an_unknown_site_is_404(operator_client: Client) -> None:
    assert operator_client.get(_url()).status_code == 404


# -- checking -----------------------------------------------------------------------------------


def test_check_shows_counts_and_each_rejected_line_without_touching_the_form(
    site: Site, operator_client: Client
) -> None:
    typed = "\n".join(
        [
            "https://example.com/路径?q=ü",
            "ftp://example.com/a",
            "https://shop.example.net/b",
            "https://example.com/路径?q=ü",
            "https://example.com/" + "a" * 2100,
            "not a url",
            "https://cdn.example.com/c.js",
        ]
    )
    response = _post(operator_client, _form(name="", urls_text=typed), query="?check=1")
    page = response.content.decode()
    assert response.status_code == 200
    # Only the report comes back (it replaces #url-report): what was typed stays as it is.
    assert page.lstrip().startswith('<div id="url-report"')
    assert "<form" not in page and "<textarea" not in page
    assert "2 valid URLs" in page and "5 rejected lines" in page
    for line, reason in [
        (2, "Only http and https URLs can be prefetched, not ftp."),
        (3, "The host shop.example.net is not example.com or one of its subdomains."),
        (4, "Duplicate of line 1."),
        (5, "Longer than 2,048 characters."),
        (6, "Not a URL: it should start with http:// or https://."),
    ]:
        assert f"<tr><td>{line}</td>" in page and reason in page
    assert "https://example.com/%E8%B7%AF%E5%BE%84?q=%C3%BC" in page
    assert "Give the job a name." not in page  # a check is about the URLs only
    assert Operation.objects.count() == 0


def test_check_without_javascript_renders_the_page_with_what_was_typed(
    site: Site, operator_client: Client
) -> None:
    typed = "https://example.com/a\r\nftp://example.com/b"
    page = _post(
        operator_client, _form(name="Sale <b>", urls_text=typed, check="1"), htmx=False
    ).content.decode()
    assert "<form" in page and TOKEN in page
    assert "https://example.com/a\r\nftp://example.com/b</textarea>" in page
    assert 'value="Sale &lt;b&gt;"' in page
    assert "1 valid URL" in page and "1 rejected line" in page
    assert Operation.objects.count() == 0


def test_check_reads_an_uploaded_file(site: Site, operator_client: Client) -> None:
    data = "\ufeff# list\r\nhttps://example.com/ä\r\nhttps://example.org/b\r\n".encode()
    page = _post(
        operator_client, _form(source="file", url_file=_file(data)), query="?check=1"
    ).content.decode()
    assert "1 valid URL" in page and "1 rejected line" in page
    assert "https://example.com/%C3%A4" in page
    assert "<tr><td>3</td>" in page


def test_check_of_an_oss_url(site: Site, operator_client: Client) -> None:
    oss = "https://bucket.oss-cn-hangzhou.aliyuncs.com/urls.txt"
    page = _post(operator_client, _form(source="oss", oss_url=oss), query="?check=1").content.decode()
    assert f"The OSS URL is well formed: <code>{oss}</code>" in page


def test_a_big_bad_list_lists_the_first_rejections_and_counts_the_rest(
    site: Site, operator_client: Client
) -> None:
    typed = "\n".join(f"https://example.org/{number}" for number in range(1_000))
    page = _post(operator_client, _form(urls_text=typed), query="?check=1").content.decode()
    assert page.count("<tr><td>") == 200
    assert "…and 800 more rejected lines, not listed." in page
    assert "None of the 1,000 lines is a URL ESA can prefetch for this site" in page


# -- bad input: a specific message, nothing created, never a server error ----------------------

TOO_BIG = b"https://example.com/a\n" * (10 * 1024 * 1024 // 22) + b"x" * (10 * 1024 * 1024 % 22 + 1)
HUNDRED_THOUSAND = "\n".join(f"https://example.com/{number}" for number in range(100_000)).encode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"name": ""}, "Give the job a name.", id="empty name"),
        pytest.param({"name": "   "}, "Give the job a name.", id="blank name"),
        pytest.param(
            {"name": "n" * 256}, "The name is 256 characters long; the limit is 255.", id="name 256"
        ),
        pytest.param(
            {"name": "Sale\x07"}, "The name contains a control character (U+0007); remove it.", id="bell"
        ),
        pytest.param(
            {"name": "Sale\nnext"}, "The name contains a control character (U+000A); remove it.", id="newline"
        ),
        pytest.param(
            {"name": "Sale\x00"}, "The name contains a control character (U+0000); remove it.", id="nul"
        ),
        pytest.param({"urls_text": ""}, "The text box is empty: paste the URLs, one per line.", id="no urls"),
        pytest.param(
            {"urls_text": "\n# just a comment\n   \n"},
            "There are no URLs: every line is blank or a comment.",
            id="only comments",
        ),
        pytest.param(
            {"urls_text": "ftp://example.com/a\nhttps://shop.example.net/b\nnot a url"},
            "None of the 3 lines is a URL ESA can prefetch for this site",
            id="only invalid urls",
        ),
        pytest.param(
            {"urls_text": "ftp://example.com/a.js"},
            "Only http and https URLs can be prefetched, not ftp.",
            id="non-http scheme",
        ),
        pytest.param(
            {"urls_text": "https://example.com/" + "a" * 3000},
            "Longer than 2,048 characters.",
            id="url too long",
        ),
        pytest.param(
            {"urls_text": "https://evil.example.net/<script>alert(1)</script>"},
            "The host evil.example.net is not example.com or one of its subdomains.",
            id="html in a foreign url",
        ),
        pytest.param(
            {"urls_text": "https://<script>alert(1)</script>/"},
            "Not a URL: it has no valid host name.",
            id="html in a host",
        ),
        pytest.param(
            {"name": "<script>alert(1)</script>", "urls_text": "ftp://example.com/a"},
            "The only line is not a URL ESA can prefetch for this site",
            id="html in the name",
        ),
        pytest.param({"source": "file"}, "Choose a .txt file with the URLs, one per line.", id="no file"),
        pytest.param(
            {"source": "file", "url_file": b""}, "The file is empty: it holds no URLs.", id="empty file"
        ),
        pytest.param(
            {"source": "file", "url_file": PNG}, "The file is not text: it contains NUL bytes", id="png file"
        ),
        pytest.param(
            {"source": "file", "url_file": "https://example.com/ü".encode("latin-1")},
            "The file is not UTF-8 text: byte 0xfc on line 1 cannot be read.",
            id="latin-1 file",
        ),
        pytest.param(
            {"source": "file", "url_file": TOO_BIG},
            "The file is larger than 10 MB: it is 10,485,761 bytes.",
            id="10 MB + 1 byte",
        ),
        pytest.param(
            {"source": "file", "url_file": HUNDRED_THOUSAND},
            "The list has more than 50,000 valid URLs, the most one job can take "
            "(checking stopped at line 50,001 of 100,000): split it into several jobs.",
            id="100,000 urls",
        ),
        pytest.param(
            {"source": "oss", "oss_url": ""},
            "Enter the URL of the OSS object that lists the URLs.",
            id="no oss",
        ),
        pytest.param(
            {"source": "oss", "oss_url": "oss://bucket/urls.txt"},
            "The OSS URL must start with http:// or https://",
            id="oss not a url",
        ),
        pytest.param(
            {"source": "oss", "oss_url": "https://"},
            "The OSS URL is not usable. Not a URL: it has no valid host name.",
            id="oss without a host",
        ),
        pytest.param(
            {"source": "ftp"},
            "Choose where the URLs come from: the text box, a .txt file or an OSS object.",
            id="unknown source",
        ),
        pytest.param(
            {"form_token": "", "urls_text": "https://example.com/a"},
            "This form had no valid token",
            id="no token",
        ),
        pytest.param(
            {"form_token": "<script>" * 3, "urls_text": "https://example.com/a"},
            "This form had no valid token",
            id="altered token",
        ),
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_bad_input_gets_a_specific_message_and_creates_nothing(
    site: Site, operator_client: Client, fields: dict[str, object], message: str, htmx: bool
) -> None:
    data = _form(urls_text="https://example.com/a") | fields
    if isinstance(upload := data.get("url_file"), bytes):
        data["url_file"] = _file(upload)
    response = _post(operator_client, data, htmx=htmx)
    page = response.content.decode()
    assert response.status_code == 200
    assert message in page
    assert Operation.objects.count() == 0
    assert Job.objects.count() == 0
    # What was typed comes back as text, never as markup.
    assert "<script>alert(1)" not in page and "<script><script>" not in page
    if "<script>" in str(fields.get("name", "")):
        assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in page


def test_a_text_box_larger_than_a_request_may_be_says_to_upload_a_file(
    site: Site, operator: User, settings: Settings
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    # As a browser sends it: the CSRF check reads the form before the view, and is refused there.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    token = browser.get(_url()).content.decode().split('"X-CSRFToken": "')[1].split('"')[0]
    typed = "\n".join(f"https://example.com/{number}" for number in range(5_000))  # about 120 kB
    for query in ("", "?check=1"):
        response = browser.post(_url(query), _form(urls_text=typed), headers=HTMX | {"X-CSRFToken": token})
        assert response.status_code == 413
        assert (
            "The form sent more than 0.0625 MB, more than the server reads from a form. A list of URLs "
            "that long goes in a .txt file (up to 10 MB)" in response.content.decode()
        )
    assert Operation.objects.count() == 0


# -- creating -------------------------------------------------------------------------------------


def test_a_valid_list_creates_one_job_with_the_valid_urls_only(
    operator_client: Client, esa: EsaClient, sim: RunningSimulator
) -> None:
    esa_sync(client=esa)
    typed = "\n".join(
        [
            "# spring sale",
            "https://example.com/路径?q=ü",
            "https://cdn.example.com/app.js",
            "ftp://example.com/a",
            "https://shop.example.net/b",
            "https://cdn.example.com/app.js",
        ]
    )
    response = _post(operator_client, _form(name="Spring <b>sale</b>", urls_text=typed))
    site_url = reverse("site-detail", args=[DEMO_SITE_ID])
    assert response.status_code == 200
    assert response["HX-Redirect"] == site_url
    operation = Operation.objects.get()
    assert (operation.kind, operation.status, operation.target_esa_id) == ("job_create", "pending", TOKEN)
    valid = ["https://example.com/%E8%B7%AF%E5%BE%84?q=%C3%BC", "https://cdn.example.com/app.js"]
    assert operation.params == {"name": "Spring <b>sale</b>", "urls": valid}

    # A second submit of the same form (a double click) joins the first.
    again = _post(operator_client, _form(name="Spring <b>sale</b>", urls_text=typed))
    assert again["HX-Redirect"] == site_url
    assert Operation.objects.count() == 1

    # The site page says so, escaped.
    page = operator_client.get(site_url).content.decode()
    assert "Creating job “Spring &lt;b&gt;sale&lt;/b&gt;” with 2 URLs (3 rejected lines left out)" in page
    assert "is already being created" in page

    # What the worker does.
    operation_execute(operation_id=operation.pk, client=esa)
    (call,) = sim.calls("CreateScheduledPreloadJob")
    assert call["params"]["UrlList"].split("\n") == valid
    assert (call["params"]["Name"], call["params"]["InsertWay"]) == ("Spring <b>sale</b>", "textBox")
    job = Job.objects.get()
    assert (job.name, job.url_count, job.site.esa_id) == ("Spring <b>sale</b>", 2, DEMO_SITE_ID)
    operation.refresh_from_db()
    assert (operation.status, operation.job) == ("succeeded", job)

    page = operator_client.get(site_url).content.decode()
    assert "Spring &lt;b&gt;sale&lt;/b&gt;" in page and "Spring <b>sale</b>" not in page

    # The same form once more after its job was made (Back, then Create): still one job.
    late = _post(operator_client, _form(name="Spring <b>sale</b>", urls_text=typed), htmx=False)
    assert (late.status_code, late["Location"]) == (302, site_url)
    assert Operation.objects.count() == 1
    assert "This form was already submitted" in operator_client.get(site_url).content.decode()


def test_an_uploaded_file_creates_a_job(
    operator_client: Client, esa: EsaClient, sim: RunningSimulator
) -> None:
    esa_sync(client=esa)
    data = b"\xef\xbb\xbfhttps://example.com/a.js\r\nhttps://example.com/b c.css\r\n"
    response = _post(operator_client, _form(source="file", url_file=_file(data)), htmx=False)
    assert (response.status_code, response["Location"]) == (302, reverse("site-detail", args=[DEMO_SITE_ID]))
    operation_execute(operation_id=Operation.objects.get().pk, client=esa)
    (call,) = sim.calls("CreateScheduledPreloadJob")
    assert call["params"]["UrlList"] == "https://example.com/a.js\nhttps://example.com/b%20c.css"
    assert Job.objects.get().url_count == 2


def test_an_oss_url_creates_a_job(operator_client: Client, esa: EsaClient, sim: RunningSimulator) -> None:
    esa_sync(client=esa)
    oss = "https://bucket.oss-cn-hangzhou.aliyuncs.com/urls.txt"
    response = _post(
        operator_client, _form(source="oss", oss_url=oss, urls_text="ignored: another source is chosen")
    )
    assert response["HX-Redirect"] == reverse("site-detail", args=[DEMO_SITE_ID])
    operation = Operation.objects.get()
    assert operation.params == {"name": "Spring sale", "oss_url": oss}
    operation_execute(operation_id=operation.pk, client=esa)
    (call,) = sim.calls("CreateScheduledPreloadJob")
    assert (call["params"]["InsertWay"], call["params"]["OssUrl"]) == ("oss", oss)
    assert Job.objects.get().insert_way == "oss"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_submitted_job_is_created_by_a_celery_worker(
    operator_client: Client, esa: EsaClient, sim: RunningSimulator
) -> None:
    esa_sync(client=esa)
    response = _post(operator_client, _form(name="Through Celery", urls_text="https://example.com/a"))
    assert response.status_code == 200
    # The worker writes the job into the mirror, then marks its operation done: wait for the second.
    eventually(lambda: Operation.objects.get().status == "succeeded")
    assert Job.objects.filter(name="Through Celery").exists()
    assert len(sim.calls("CreateScheduledPreloadJob")) == 1


def test_a_form_whose_create_failed_sends_nothing_again_until_submitted_anew(
    site: Site, operator_client: Client
) -> None:
    # One token rule for every create form: once its create has finished, the token is spent.
    OperationFactory.create(
        kind="job_create",
        status="failed",
        target_esa_id=TOKEN,
        target_label="Spring sale",
        plan=None,
        site=site,
        error_code="InvalidJob.JobCountOfSiteFull",
        error_message="The site has too many jobs.",
    )
    page = _post(operator_client, _form(urls_text="https://example.com/a")).content.decode()
    assert "This form was sent before and its job was not created (InvalidJob.JobCountOfSiteFull" in page
    # The cap in words, as the site page says it (no count was recorded with this refusal).
    assert "ESA holds no more jobs on this site: delete finished jobs to make room." in page
    assert Operation.objects.count() == 1
    assert "https://example.com/a" in page  # what was typed stays
    token = page.split('name="form_token" value="')[1][:24]
    assert token != TOKEN  # a new token: sending again is a deliberate second submit
    again = _post(operator_client, _form(form_token=token, urls_text="https://example.com/a"))
    assert again["HX-Redirect"] == reverse("site-detail", args=[DEMO_SITE_ID])
    assert Operation.objects.filter(target_esa_id=token, status="pending").exists()
