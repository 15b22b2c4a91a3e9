"""Checking lists of URLs before a job is created: each reason, the encoding ESA needs, the caps."""

from __future__ import annotations

import pytest

from prefetch_ui.planning.url_lists import (
    MAX_LISTED_REJECTIONS,
    MAX_SHOWN_LINE,
    OssUrlError,
    RejectedLine,
    UrlFileError,
    check_oss_url,
    check_url_list,
    normalize_url,
    read_url_file,
)


def _check(text: str, max_urls: int = 50_000, **options: int) -> tuple[list[str], list[tuple[int, str]]]:
    report = check_url_list(text, site_domain="example.com", max_urls=max_urls, **options)
    return report.valid, [(line.line_number, line.reason) for line in report.rejected]


def test_non_ascii_is_percent_encoded_as_utf8() -> None:
    valid, rejected = _check("https://example.com/路径?q=ü")
    assert valid == ["https://example.com/%E8%B7%AF%E5%BE%84?q=%C3%BC"]
    assert rejected == []


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("HTTPS://Example.COM/A.js", "https://example.com/A.js"),  # the path keeps its case
        ("https://example.com", "https://example.com/"),
        ("https://example.com?a=1", "https://example.com/?a=1"),
        ("https://example.com/a b.png", "https://example.com/a%20b.png"),
        (
            "https://example.com/<script>alert(1)</script>",
            "https://example.com/%3Cscript%3Ealert(1)%3C/script%3E",
        ),
        ('https://example.com/"quoted"', "https://example.com/%22quoted%22"),
        ("https://example.com/%e8%b7%af", "https://example.com/%E8%B7%AF"),  # escapes stay, upper-cased
        ("https://example.com/100%", "https://example.com/100%25"),  # a lone % is a percent sign
        ("https://example.com/a?x=1&y=a/b:c", "https://example.com/a?x=1&y=a/b:c"),
        ("https://example.com/page#section", "https://example.com/page"),  # the fragment stays in the browser
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://bücher.example.com/ä", "https://xn--bcher-kva.example.com/%C3%A4"),
        ("https://example.com./a", "https://example.com/a"),
    ],
)
def test_urls_are_normalized_for_esa(typed: str, sent: str) -> None:
    assert normalize_url(typed) == sent
    assert _check(typed)[0] == [sent]


def test_an_internationalised_site_domain_matches_its_punycode() -> None:
    report = check_url_list("https://shop.bücher.de/a", site_domain="bücher.de", max_urls=10)
    assert report.valid == ["https://shop.xn--bcher-kva.de/a"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("ftp://example.com/a.js", "Only http and https URLs can be prefetched, not ftp."),
        ("javascript:alert(1)", "Only http and https URLs can be prefetched, not javascript."),
        ("mailto:ops@example.com", "Only http and https URLs can be prefetched, not mailto."),
        ("example.com/a.js", "Not a URL: it should start with http:// or https://."),
        ("example.com:8080/a.js", "Not a URL: it should start with http:// or https://."),
        ("https:example.com/a.js", "Not a URL: it should start with http:// or https://."),
        ("C:\\urls\\a.js", "Not a URL: it should start with http:// or https://."),
        ("just some words", "Not a URL: it should start with http:// or https://."),
        ("https:///a.js", "Not a URL: it has no valid host name."),
        ("https://exa<mple.com/a", "Not a URL: it has no valid host name."),
        ("https://-bad-.example.com/a", "Not a URL: it has no valid host name."),
        ("https://example.com:99999/a", "Not a URL: its port is not a number from 0 to 65535."),
        ("https://user:secret@example.com/a", "Not a URL to prefetch: it holds a user name or password."),
        ("https://example.com/a\x07", "Not a URL: it contains a control character (U+0007)."),
        (
            "https://example.com/caf\ufffd.js",
            "Not a URL: it contains U+FFFD (\ufffd), what is left of bytes that were not UTF-8 text.",
        ),
        (
            "https://example.com/a https://example.com/b",
            "Not a URL: this line holds more than one URL; put one URL per line.",
        ),
        ("https://example.net/a", "The host example.net is not example.com or one of its subdomains."),
        ("https://notexample.com/a", "The host notexample.com is not example.com or one of its subdomains."),
        (
            "https://example.com.evil.net/a",
            "The host example.com.evil.net is not example.com or one of its subdomains.",
        ),
        (
            "https://münchen.de/a",
            "The host münchen.de (xn--mnchen-3ya.de) is not example.com or one of its subdomains.",
        ),
        ("https://[::1]/a", "The host [::1] is not example.com or one of its subdomains."),
        ("https://10.0.0.1/a", "The host 10.0.0.1 is not example.com or one of its subdomains."),
    ],
)
def test_each_rejected_line_says_why(line: str, reason: str) -> None:
    assert _check(line) == ([], [(1, reason)])


def test_subdomains_are_accepted() -> None:
    valid, rejected = _check("https://example.com/a\nhttps://cdn.example.com/a\nhttps://a.b.example.com/a")
    assert valid == ["https://example.com/a", "https://cdn.example.com/a", "https://a.b.example.com/a"]
    assert rejected == []


def test_duplicates_name_the_first_line_and_compare_once_encoded() -> None:
    text = "\n".join(
        [
            "https://example.com/路径",
            "https://example.com/a",
            "HTTPS://EXAMPLE.COM/%e8%b7%af%e5%be%84",  # the first line, encoded by hand
            "https://example.com/a#top",
            "http://example.com/a",  # another scheme is another URL
        ]
    )
    valid, rejected = _check(text)
    assert valid == [
        "https://example.com/%E8%B7%AF%E5%BE%84",
        "https://example.com/a",
        "http://example.com/a",
    ]
    assert rejected == [(3, "Duplicate of line 1."), (4, "Duplicate of line 2.")]


def test_blank_and_comment_lines_are_skipped_and_line_numbers_follow_the_text() -> None:
    text = "# spring sale\r\n\r\n   \r\nhttps://example.com/a\r\n\t# indented comment\nftp://example.com/b\n"
    report = check_url_list(text, site_domain="example.com", max_urls=10)
    assert report.valid == ["https://example.com/a"]
    assert report.rejected == [
        RejectedLine(6, "ftp://example.com/b", "Only http and https URLs can be prefetched, not ftp.")
    ]
    assert report.line_count == 6
    assert report.problem == ""


def test_surrounding_whitespace_is_not_part_of_the_url() -> None:
    assert _check("  https://example.com/a \u3000")[0] == ["https://example.com/a"]


def test_a_url_longer_than_the_limit_is_rejected_after_encoding() -> None:
    fits = "https://example.com/" + "a" * 80  # 100 characters
    grows = "https://example.com/" + "é" * 30  # 50 characters typed, 200 once encoded
    valid, rejected = _check(f"{fits}\n{fits}b\n{grows}", max_url_length=100)
    assert valid == [fits]
    assert rejected == [
        (2, "Longer than 100 characters."),
        (3, "Longer than 100 characters (200 once encoded)."),
    ]
    assert _check("https://example.com/" + "a" * 2029)[1] == [(1, "Longer than 2,048 characters.")]


def test_the_report_says_why_a_list_cannot_be_sent() -> None:
    def problem(text: str) -> str:
        return check_url_list(text, site_domain="example.com", max_urls=3).problem

    assert problem("") == "There are no URLs: every line is blank or a comment."
    assert problem("\n# only a comment\n") == "There are no URLs: every line is blank or a comment."
    assert problem("ftp://example.com/a") == (
        "The only line is not a URL ESA can prefetch for this site: see why below."
    )
    assert problem("ftp://example.com/a\nhttps://example.net/") == (
        "None of the 2 lines is a URL ESA can prefetch for this site: see why below."
    )
    assert problem("https://example.com/1\nftp://example.com/a") == ""


def test_more_valid_urls_than_a_job_takes_stops_the_check_and_names_the_limit() -> None:
    text = "\n".join(f"https://example.com/{number}" for number in range(100_000))
    report = check_url_list(text, site_domain="example.com", max_urls=50_000)
    assert report.too_many
    assert report.stopped_at_line == 50_001
    assert report.problem == (
        "The list has more than 50,000 valid URLs, the most one job can take "
        "(checking stopped at line 50,001 of 100,000): split it into several jobs."
    )
    exactly = check_url_list(
        "\n".join(text.splitlines()[:50_000]), site_domain="example.com", max_urls=50_000
    )
    assert (exactly.too_many, exactly.problem, len(exactly.valid)) == (False, "", 50_000)


def test_a_huge_bad_list_is_listed_up_to_a_cap_and_counted_up_to_another() -> None:
    text = "\n".join(f"ftp://example.com/{number}" for number in range(1_000))
    report = check_url_list(text, site_domain="example.com", max_urls=10)
    assert report.rejected_count == 1_000
    assert len(report.rejected) == MAX_LISTED_REJECTIONS
    assert report.rejected_not_listed == 1_000 - MAX_LISTED_REJECTIONS
    junk = check_url_list("x\n" * 5_000_000, site_domain="example.com", max_urls=10, max_rejected=1_000)
    assert junk.too_many_rejected
    assert junk.problem == (
        "More than 1,000 lines are rejected (checking stopped at line 1,001 of 5,000,000): "
        "this is not a list of URLs for this site."
    )


def test_a_long_rejected_line_is_shown_cut() -> None:
    report = check_url_list("ftp://example.com/" + "a" * 5_000, site_domain="example.com", max_urls=10)
    (line,) = report.rejected
    assert len(line.text) == MAX_SHOWN_LINE
    assert line.text.endswith("…")


# -- files ------------------------------------------------------------------------------------


def test_a_utf8_file_is_read_with_or_without_its_byte_order_mark() -> None:
    text = "https://example.com/路径\r\nhttps://example.com/b\r\n"
    assert read_url_file(text.encode()) == text
    assert read_url_file(b"\xef\xbb\xbf" + text.encode()) == text


@pytest.mark.parametrize(
    ("data", "size", "message"),
    [
        (b"", None, "The file is empty: it holds no URLs."),
        (
            b"a" * (10 * 1024 * 1024 + 1),
            None,
            "The file is larger than 10 MB: it is 10,485,761 bytes. Split it into several jobs.",
        ),
        # A caller reads only the beginning of a huge upload and gives its full size.
        (b"a" * 16, 3 * 1024**3, "The file is larger than 10 MB: it is 3,221,225,472 bytes."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "The file is not text: it contains NUL bytes"),
        ("https://example.com/a".encode("utf-16"), None, "The file is UTF-16 text: save it as UTF-8"),
        (
            "https://example.com/a\nhttps://example.com/ü".encode("latin-1"),
            None,
            "The file is not UTF-8 text: byte 0xfc on line 2 cannot be read.",
        ),
    ],
)
def test_a_file_that_is_not_a_list_of_urls_says_why(data: bytes, size: int | None, message: str) -> None:
    with pytest.raises(UrlFileError) as error:
        read_url_file(data, size=size)
    assert str(error.value).startswith(message)


def test_the_file_limit_is_inclusive() -> None:
    assert read_url_file(b"a" * 1024, max_bytes=1024) == "a" * 1024
    with pytest.raises(UrlFileError, match=r"larger than 1,024 bytes: it is 1,025 bytes"):
        read_url_file(b"a" * 1025, max_bytes=1024)


# -- OSS --------------------------------------------------------------------------------------


def test_an_oss_url_is_checked_and_normalized() -> None:
    assert check_oss_url(" https://bucket.oss-cn-hangzhou.aliyuncs.com/列表.txt ") == (
        "https://bucket.oss-cn-hangzhou.aliyuncs.com/%E5%88%97%E8%A1%A8.txt"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter the URL of the OSS object that lists the URLs."),
        ("oss://bucket/urls.txt", "The OSS URL must start with http:// or https://"),
        ("bucket/urls.txt", "The OSS URL must start with http:// or https://"),
        ("https://", "The OSS URL is not usable. Not a URL: it has no valid host name."),
        ("https://bucket.example.com/a b https://x", "The OSS URL is not usable. Not a URL: this line holds"),
    ],
)
def test_an_oss_url_that_is_not_a_url_says_why(text: str, message: str) -> None:
    with pytest.raises(OssUrlError) as error:
        check_oss_url(text)
    assert str(error.value).startswith(message)
