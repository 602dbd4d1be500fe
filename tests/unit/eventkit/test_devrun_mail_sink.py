"""The embedded runner's mail sink keeps what a service sends, as the notifications service sends it."""

from __future__ import annotations

import email
import socket
from email.message import EmailMessage
from email.policy import default

import aiosmtplib

from eventkit.devrun import start_mail_sink
from tests.waiting import eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_mail_sink_keeps_each_message_as_an_eml_file(tmp_path) -> None:
    port, folder = free_port(), tmp_path / "mail"
    start_mail_sink(folder, port)
    messages = []
    for n in range(2):
        msg = EmailMessage()
        msg["From"], msg["To"] = "jumelage@ac-paris.fr", "ce.0750655e@ac-paris.fr"
        msg["Subject"] = f"Rappel n°{n} : réunion de travail"
        msg.set_content("Première ligne\n.une ligne qui commence par un point\nFin")
        messages.append(msg)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5)
    await client.connect()
    for msg in messages:
        await client.send_message(msg)
    await client.quit()
    kept = await eventually(lambda: len(found := sorted(folder.glob("*.eml"))) == 2 and found, timeout=5,
                            what="two .eml files in the sink")
    read = [email.message_from_bytes(f.read_bytes(), policy=default) for f in kept]
    assert [m["Subject"] for m in read] == ["Rappel n°0 : réunion de travail", "Rappel n°1 : réunion de travail"]
    assert read[0].get_content().splitlines() == ["Première ligne", ".une ligne qui commence par un point", "Fin"]
