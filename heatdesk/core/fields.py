"""Model fields for personal data: stored encrypted, read back as plain text."""

from typing import Any

from django.db import models

from heatdesk.core import crypto


class EncryptedTextField(models.TextField):
    """A text column holding AES-GCM ciphertext; Python code only ever sees the plain text.

    The column cannot be searched: pair it with a blind-index column (``crypto.blind_index``)
    written by the service that sets the value.
    """

    description = "Encrypted text"

    def __init__(self, *args: Any, context: str = "", **kwargs: Any) -> None:
        self.context = context
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.context:
            kwargs["context"] = self.context
        return name, path, args, kwargs

    def _context(self) -> str:
        return self.context or f"{self.model._meta.label_lower}.{self.name}"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(value, context=self._context())

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value), context=self._context())

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in {"isnull"}:
            raise TypeError(
                f"{self.name} is encrypted: look it up by its blind index, not by {lookup_name}"
            )
        return super().get_lookup(lookup_name)
