"""Names typed by users reach e-mails as text, never as markup or headers: the HTML part is
escaped, the plain-text part shows the name as typed, and a line break in a name cannot add a
header. Read back from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from tests.integration.notifications.notif_events import EXAMPLES, example, referents

UTC = timezone.utc
SCHOOL = '<script>alert("x")</script> École d\'Anna'
PARTNER = '<a href="http://evil.example/">Musée</a> & \'Cie\''


async def _work_meeting_mail(harness, school_name: str, partner_name: str):
    harness.clock.set(datetime(2025, 7, 4, 10, 0, tzinfo=UTC))
    await harness.play(example("CampaignOpened"))
    data = json.loads((EXAMPLES / "PartnershipAttributed.v1.json").read_text())
    school, partner = dict(data["school"], name=school_name), dict(data["partner"], name=partner_name)
    await harness.play(example("PartnershipAttributed", school=school, partner=partner))
    for event in referents():
        await harness.play(event)
    await harness.move_to(datetime(2025, 9, 15, 6, 0, tzinfo=UTC))
    (message,) = harness.mailbox.messages
    return message


async def test_a_hostile_school_or_partner_name_is_escaped_in_html_and_literal_in_text(harness) -> None:
    message = await _work_meeting_mail(harness, SCHOOL, PARTNER)

    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<script" not in html and "<a href=\"http://evil" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; École d&#39;Anna" in html
    assert "&lt;a href=&#34;http://evil.example/&#34;&gt;Musée&lt;/a&gt; &amp; &#39;Cie&#39;" in html

    text = harness.mailbox.body(message)
    assert f"Le jumelage entre {SCHOOL} et {PARTNER} commence" in " ".join(text.split("\n"))
    assert "&lt;" not in text and "&amp;" not in text and "&#" not in text


async def test_a_line_break_in_a_name_cannot_inject_a_header(harness) -> None:
    message = await _work_meeting_mail(harness, "Ecole\r\nBcc: espion@evil.example", "Musee\nX-Evil: 1")

    assert message["Bcc"] is None and message["X-Evil"] is None
    assert harness.mailbox.subject(message) == (
        "Jumelage Ecole Bcc: espion@evil.example / Musee X-Evil: 1 : fixez votre réunion de travail")
    ((_, rcpts),) = harness.mailbox.envelopes
    assert "espion@evil.example" not in rcpts
