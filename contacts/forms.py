"""The contact form: its fields follow the schema variant the database holds."""

from __future__ import annotations

from django import forms

from contacts.repository import Contact, Schema

EMAIL_TAKEN = "A contact with this email already exists."
TAG_TOO_LONG = "Each tag can have at most {max} characters."
TOO_MANY_TAGS = "At most {max} tags."
MAX_TAG_LENGTH = 40
MAX_TAGS = 20


def tags_parse(text: str) -> list[str]:
    """Comma-separated tags, trimmed, empty ones dropped, duplicates (any case) removed."""
    seen: set[str] = set()
    tags: list[str] = []
    for raw in text.split(","):
        tag = " ".join(raw.split())
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200)
    email = forms.EmailField(max_length=254)
    role = forms.CharField(max_length=100, required=False)
    company = forms.CharField(max_length=200, required=False)
    tags = forms.CharField(
        max_length=1000,
        required=False,
        help_text="Separate tags with commas.",
        widget=forms.TextInput(attrs={"placeholder": "friend, math, pioneer"}),
    )

    def __init__(self, *args, schema: Schema, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        for name in list(self.fields):
            if name not in schema.fields:
                del self.fields[name]
        self.fields["name"].widget.attrs.setdefault("autocomplete", "off")

    @classmethod
    def for_contact(cls, contact: Contact, *, schema: Schema) -> ContactForm:
        initial = {
            "name": contact.name,
            "email": contact.email,
            "role": contact.role or "",
            "company": contact.company or "",
            "tags": ", ".join(contact.tags),
        }
        return cls(initial=initial, schema=schema)

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean_tags(self) -> list[str]:
        tags = tags_parse(self.cleaned_data.get("tags") or "")
        if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
            raise forms.ValidationError(TAG_TOO_LONG.format(max=MAX_TAG_LENGTH))
        if len(tags) > MAX_TAGS:
            raise forms.ValidationError(TOO_MANY_TAGS.format(max=MAX_TAGS))
        return tags

    def add_email_taken(self) -> None:
        self.add_error("email", EMAIL_TAKEN)
