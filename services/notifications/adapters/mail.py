"""E-mail: French templates (jinja2) and SMTP delivery (aiosmtplib).

Delivery is at least once. The Message-ID is derived from the reminder's dedup key only (never
from the attempt or the time), so a message sent again after a crash carries the same Message-ID
and ``X-Jumelage-Dedup-Key``: clients and gateways that dedupe on Message-ID show it once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any, Sequence
from zoneinfo import ZoneInfo

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from jumelage_contracts.notifications import Recipient

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def french_date(value: datetime | date | None, tz: str = "Europe/Paris", with_time: bool = True) -> str:
    """``mardi 18 novembre 2025 à 10 h 00`` (``mercredi 1er octobre 2025``) in the school's time
    zone (a date: the day alone)."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        value, with_time = datetime.combine(value, datetime.min.time(), tzinfo=ZoneInfo(tz)), False
    local = value.astimezone(ZoneInfo(tz))
    day = "1er" if local.day == 1 else str(local.day)
    text = f"{DAYS[local.weekday()]} {day} {MONTHS[local.month - 1]} {local.year}"
    if with_time and (local.hour, local.minute) != (0, 0):
        text += f" à {local.hour} h {local.minute:02d}"
    return text


def message_id_for(dedup_key: str, reminder_id: str, domain: str) -> str:
    """``<rule.subject.date.<id>@domain>``: readable, RFC 5322-safe, and the same on every attempt."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", ".", dedup_key).strip(".")[:180]
    return f"<{readable}.{reminder_id.removeprefix('rem-')[:16]}@{domain}>"


def one_line(value: str) -> str:
    """A header made from user data on one line: the email library refuses CR/LF in a header (so
    no header can be injected), but a refused header would fail the reminder forever; a name
    typed over two lines reads as well with a space."""
    return " ".join(value.split())


@dataclass(frozen=True)
class OutgoingMail:
    reminder_id: str
    dedup_key: str
    message_id: str
    recipients: tuple[Recipient, ...]
    subject: str
    text: str
    html: str | None = None


@dataclass
class DeliveryOutcome:
    ok: bool
    error: str = ""
    refused: dict[str, Any] = field(default_factory=dict)


class Renderer:
    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        self.env = Environment(loader=FileSystemLoader(str(templates_dir)), undefined=StrictUndefined,
                               # ``layout.html.j2`` ends in ``.j2``: match the double extension, or
                               # the HTML part is rendered unescaped. Plain-text templates stay raw.
                               autoescape=select_autoescape(["html", "html.j2"], default=False),
                               trim_blocks=True, lstrip_blocks=True,
                               keep_trailing_newline=True, auto_reload=False)  # shipped with the code
        self.env.filters["date_fr"] = french_date

    def render(self, template: str, context: dict[str, Any]) -> tuple[str, str]:
        text = self.env.get_template(f"{template}.txt.j2").render(**context)
        html = self.env.get_template("layout.html.j2").render(body=text, **context)
        return text, html


class SmtpMailer:
    """Sends a batch over one SMTP session; each message's outcome is reported, never raised."""

    label = "smtp"

    def __init__(self, host: str, port: int, sender: str, sender_name: str = "Jumelage - notifications",
                 timeout: float = 10.0, username: str | None = None, password: str | None = None,
                 start_tls: bool | None = None) -> None:
        self.host, self.port, self.sender, self.sender_name = host, port, sender, sender_name
        self.timeout, self.username, self.password, self.start_tls = timeout, username, password, start_tls

    def build(self, mail: OutgoingMail, now: datetime) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = formataddr((self.sender_name, self.sender))
        msg["To"] = ", ".join(formataddr((one_line(r.name), r.email)) for r in mail.recipients)
        msg["Subject"] = one_line(mail.subject)
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = mail.message_id
        msg["X-Jumelage-Dedup-Key"] = mail.dedup_key
        msg["X-Jumelage-Reminder-Id"] = mail.reminder_id
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(mail.text)
        if mail.html:
            msg.add_alternative(mail.html, subtype="html")
        return msg

    async def send_many(self, mails: Sequence[OutgoingMail], now: datetime) -> list[DeliveryOutcome]:
        if not mails:
            return []
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout, start_tls=self.start_tls)
        try:
            await client.connect()
            if self.username:
                await client.login(self.username, self.password or "")
        except Exception as exc:  # noqa: BLE001 - every message of the batch fails with the reason
            return [DeliveryOutcome(False, f"{type(exc).__name__}: {exc}") for _ in mails]
        outcomes = []
        try:
            for mail in mails:
                try:
                    refused, _ = await client.send_message(self.build(mail, now))
                    outcomes.append(DeliveryOutcome(True, refused={k: str(v) for k, v in refused.items()}))
                except Exception as exc:  # noqa: BLE001
                    outcomes.append(DeliveryOutcome(False, f"{type(exc).__name__}: {exc}"))
                    if not client.is_connected:
                        outcomes += [DeliveryOutcome(False, "SMTP connection lost") for _ in mails[len(outcomes):]]
                        break
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except Exception:  # noqa: BLE001 - the messages are already handed over
                    client.close()
        return outcomes


class NullMailer:
    """Accepts everything and sends nothing. For benchmarks that measure the timers alone; it is
    labelled as such in their output, never used by the service itself."""

    label = "null transport (nothing sent)"

    def __init__(self) -> None:
        self.count = 0

    async def send_many(self, mails: Sequence[OutgoingMail], now: datetime) -> list[DeliveryOutcome]:
        self.count += len(mails)
        return [DeliveryOutcome(True) for _ in mails]
