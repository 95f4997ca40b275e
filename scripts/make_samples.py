"""Writes the demo's sample inquiries to data/samples/ (run once; the .eml files are committed)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "samples"
DESK = "Design Registry Help Desk <helpdesk@registry.example.org>"
BASE = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

SAMPLES = [
    ("01-en-renewal", "Anna Schmidt <a.schmidt@schmidt-ip.example.de>", "Renewal of DM/212 345",
     "Dear Sir or Madam,\n\nOur client's international registration DM/212 345 expires on 15 March 2027. "
     "Could you confirm the renewal fee and whether we can still renew for only some of the designated "
     "contracting parties?\n\nKind regards,\nAnna Schmidt\nSchmidt IP, Munich", {}),
    ("02-en-fees", "Tom Baker <tom@bakerdesigns.example.co.uk>", "Refund of overpayment",
     "Hello,\n\nWe paid CHF 1,234.50 on 3 October 2026 for application A1234567 but the invoice says the "
     "amount due was only CHF 934.50. How do we get the difference refunded to our current account?\n\n"
     "Thanks,\nTom", {}),
    ("03-fr-irregularity", "Claire Dubois <c.dubois@cabinet-dubois.example.fr>",
     "Notification d'irrégularité - demande HA12345678",
     "Madame, Monsieur,\n\nNous avons reçu une notification d'irrégularité concernant la demande HA12345678 : "
     "les reproductions seraient de qualité insuffisante. Pourriez-vous nous indiquer le délai pour y remédier "
     "et le format attendu pour les nouvelles vues ?\n\nBien cordialement,\nClaire Dubois\nCabinet Dubois", {}),
    ("04-fr-correction", "Luc Martin <luc.martin@atelier-martin.example.ch>", "Erreur dans le certificat DM/223 410",
     "Bonjour,\n\nLe nom du titulaire est mal orthographié sur le certificat d'enregistrement DM/223 410 "
     "(« Atelier Martn » au lieu de « Atelier Martin »). Merci de corriger l'inscription.\n\nLuc Martin", {}),
    ("05-es-publication", "María López <mlopez@lopez-asociados.example.es>", "Fecha de publicación",
     "Buenos días:\n\n¿Podrían indicarme en qué fecha se publicará el registro DM/214 887 en el Boletín? "
     "Solicitamos un aplazamiento de la publicación de 12 meses y no sabemos si se tuvo en cuenta.\n\n"
     "Un saludo,\nMaría López", {}),
    ("06-es-priority", "Jorge Ramírez <jramirez@patentes.example.mx>", "Documento de prioridad",
     "Estimados señores:\n\nNecesitamos presentar el documento de prioridad de nuestra solicitud mexicana "
     "a través del servicio DAS. ¿Cuál es el código de acceso y en qué plazo debe enviarse?\n\n"
     "Atentamente,\nJorge Ramírez", {}),
    ("07-en-eservices-complaint", "Peter Novak <p.novak@novak.example.cz>", "URGENT: portal broken AGAIN",
     "This is the third time this week that the e-filing portal crashes when I upload the reproductions. "
     "I have a deadline on Friday and nobody answers the phone. This is unacceptable, I want to speak to a "
     "manager.\n\nPeter Novak", {}),
    ("08-de-general", "Klaus Weber <k.weber@weber.example.at>", "Frage zum Haager System",
     "Sehr geehrte Damen und Herren,\n\nkönnen Sie mir bitte erklären, welche Länder ich mit einer "
     "internationalen Anmeldung benennen kann? Vielen Dank im Voraus.\n\nMit freundlichen Grüßen\nKlaus Weber",
     {}),
    ("09-en-auto-reply", "Sandra Lee <s.lee@leelaw.example.com>", "Automatic reply: Renewal of DM/212 345",
     "I am out of the office until 20 November with limited access to email.", {"Auto-Submitted": "auto-replied"}),
    ("10-es-decision", "Ana Torres <atorres@torres.example.cl>", "Denegación de protección",
     "Hola,\n\nHemos recibido una notificación de denegación de la oficina de Japón para el registro "
     "DM/230 112. ¿Cómo podemos responder y cuál es el plazo?\n\nGracias,\nAna Torres", {}),
    ("11-en-recording", "Li Wei <li.wei@wei-legal.example.sg>", "Change of holder name",
     "Dear Help Desk,\n\nOur client ACME Design Pte Ltd has changed its name to ACME Studio Pte Ltd. "
     "Which form do we use to record the change for DM/201 556 and DM/201 557?\n\nBest regards,\nLi Wei", {}),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ids = {}
    for index, (name, sender, subject, body, extra) in enumerate(SAMPLES):
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = DESK
        msg["Subject"] = subject
        msg["Date"] = format_datetime(BASE + timedelta(hours=index * 5))
        msg["Message-ID"] = ids.setdefault(name, make_msgid(domain="mail.example.net"))
        for key, value in extra.items():
            msg[key] = value
        msg.set_content(body)
        (OUT / f"{name}.eml").write_bytes(bytes(msg))

    # An HTML-only message, as many webmail clients send.
    msg = EmailMessage()
    msg["From"] = "Sophie Laurent <sophie@laurent-design.example.be>"
    msg["To"] = DESK
    msg["Subject"] = "Première demande internationale"
    msg["Date"] = format_datetime(BASE + timedelta(days=3))
    msg["Message-ID"] = make_msgid(domain="webmail.example.be")
    msg.set_content(
        "<html><body><p>Bonjour,</p><p>Je souhaite déposer ma <b>première demande internationale</b> pour "
        "trois dessins de lampes. Combien de vues faut-il fournir et puis-je désigner l'Union européenne "
        "et la Suisse ?</p><p>Merci,<br>Sophie Laurent</p></body></html>",
        subtype="html",
    )
    (OUT / "12-fr-application-html.eml").write_bytes(bytes(msg))

    # A reply in the thread of the first message, quoting it.
    first = (OUT / "01-en-renewal.eml").read_bytes()
    first_id = next(line.split(b":", 1)[1].strip().decode() for line in first.splitlines()
                    if line.lower().startswith(b"message-id:"))
    msg = EmailMessage()
    msg["From"] = "Anna Schmidt <a.schmidt@schmidt-ip.example.de>"
    msg["To"] = DESK
    msg["Subject"] = "Re: Renewal of DM/212 345"
    msg["Date"] = format_datetime(BASE + timedelta(days=4))
    msg["Message-ID"] = make_msgid(domain="mail.example.net")
    msg["In-Reply-To"] = first_id
    msg["References"] = first_id
    msg.set_content(
        "Sorry, one more question: is the 6-month grace period still available if we miss the date?\n\n"
        "Anna\n\nOn Mon, 2 Nov 2026 at 09:00, Anna Schmidt <a.schmidt@schmidt-ip.example.de> wrote:\n"
        "> Dear Sir or Madam,\n> Our client's international registration DM/212 345 expires on 15 March 2027.\n"
    )
    (OUT / "13-en-renewal-reply.eml").write_bytes(bytes(msg))


if __name__ == "__main__":
    main()
