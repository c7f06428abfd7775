"""Email: SMTP settings and sender, MIME message building, default texts per language."""

from invoicing.mail.message import Attachment as Attachment
from invoicing.mail.message import OutgoingMail as OutgoingMail
from invoicing.mail.message import build_message as build_message
from invoicing.mail.message import message_id_for as message_id_for
from invoicing.mail.sender import MailPermanentError as MailPermanentError
from invoicing.mail.sender import MailTransientError as MailTransientError
from invoicing.mail.sender import SmtpSender as SmtpSender
from invoicing.mail.settings import SmtpSettings as SmtpSettings
from invoicing.mail.texts import MailTexts as MailTexts
