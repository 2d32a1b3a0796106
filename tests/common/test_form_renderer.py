"""The Python select renderer must produce exactly what Django's templates produce."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils import translation

from tierdesk.accounts.models import User
from tierdesk.common.forms import CachedModelSelect, FormRenderer, StaticSelect
from tierdesk.orgs.models import Organisation
from tierdesk.tickets.choices import Status

HOSTILE = '<script>alert("x")</script> & "quotes"'


class Everything(forms.Form):
    plain = forms.ChoiceField(choices=[("a", "Alpha"), ("b", HOSTILE), (HOSTILE, "value escaped")])
    grouped = forms.ChoiceField(
        choices=[("Fruit", [("apple", "Apple"), ("pear", "Pear")]), ("Other", [("x", "X & Y")]), ("z", "Zed")]
    )
    many = forms.MultipleChoiceField(choices=[(1, "One"), (2, "Two"), (3, "Three")], required=False)
    number = forms.TypedChoiceField(choices=[(1, "One"), (2, "Two")], coerce=int, required=False)
    with_attrs = forms.ChoiceField(
        choices=[("", "—"), ("a", "A")],
        required=False,
        widget=forms.Select(attrs={"class": "c", "data-x": HOSTILE, "disabled": True, "hidden": False}),
    )
    radio = forms.ChoiceField(choices=[("a", "A"), ("b", "B")], widget=forms.RadioSelect)


def render_both(form: forms.Form) -> list[tuple[str, str]]:
    pairs = []
    for name in form.fields:
        field = form[name]
        fast = field.as_widget(attrs=None)
        form.renderer = DjangoTemplates()
        slow = form[name].as_widget(attrs=None)
        form.renderer = FormRenderer()
        pairs.append((fast, slow))
    return pairs


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"plain": "b", "grouped": "pear", "many": ["1", "3"], "number": "2", "with_attrs": "a", "radio": "b"},
        {"plain": HOSTILE, "grouped": "z", "many": [], "number": "", "with_attrs": "", "radio": "a"},
    ],
)
def test_selects_render_exactly_as_djangos_templates(data: dict[str, Any] | None) -> None:
    form = Everything(data=data, renderer=FormRenderer())
    for fast, slow in render_both(form):
        assert fast == slow
    assert "<script>" not in str(form["plain"])


@pytest.mark.django_db
def test_model_choices_render_exactly_as_djangos_templates(world: Any) -> None:
    class Pick(forms.Form):
        organisation = forms.ModelChoiceField(queryset=Organisation.objects.order_by("name"))
        several = forms.ModelMultipleChoiceField(queryset=Organisation.objects.all(), required=False)

    form = Pick(data={"organisation": world.org_b.pk, "several": [world.org_a.pk]}, renderer=FormRenderer())
    for fast, slow in render_both(form):
        assert fast == slow
    assert f'<option value="{world.org_b.pk}" selected>' in str(form["organisation"])


def test_the_project_uses_the_fast_renderer() -> None:
    from django.forms.renderers import get_default_renderer

    assert isinstance(get_default_renderer(), FormRenderer)


class Static(forms.Form):
    plain = forms.ChoiceField(
        choices=[("", "—"), ("a", "Alpha"), ("b", HOSTILE), (HOSTILE, "value escaped")],
        required=False,
        widget=StaticSelect(attrs={"class": "c", "data-x": HOSTILE}),
    )
    number = forms.TypedChoiceField(
        choices=[(1, "One"), (2, "Two"), (2, "Two again")], coerce=int, required=False, widget=StaticSelect
    )
    status = forms.ChoiceField(choices=Status.choices, widget=StaticSelect)


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize(
    "data",
    [
        None,
        {"plain": "b", "number": "2", "status": "resolved"},
        {"plain": HOSTILE, "number": "", "status": "nonsense"},
    ],
)
def test_static_selects_render_exactly_as_djangos_select(data: dict[str, Any] | None, language: str) -> None:
    with translation.override(language):
        for _round in range(2):  # the second round comes from the cache
            form = Static(data=data, renderer=FormRenderer())
            for name in form.fields:
                fast = form[name].as_widget()
                widget = form.fields[name].widget
                form.renderer = DjangoTemplates()  # Django's own select, through its templates
                slow = form[name].as_widget(widget=forms.Select(attrs=widget.attrs, choices=widget.choices))
                form.renderer = FormRenderer()
                assert fast == slow
        assert "<script>" not in str(form["plain"])
    with translation.override("ru"):
        assert ">Решена</option>" in str(Static()["status"])


class Cached(forms.Form):
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.order_by("name"), required=False, widget=CachedModelSelect
    )
    person = forms.ModelChoiceField(
        queryset=User.objects.order_by("username"), empty_label=None, widget=CachedModelSelect
    )


@pytest.mark.django_db
def test_cached_model_selects_render_as_django_and_keep_their_options(
    world: Any, django_assert_num_queries: Any
) -> None:
    def both(data: dict[str, Any] | None) -> list[tuple[str, str]]:
        form = Cached(data=data, renderer=FormRenderer())
        pairs = []
        for name in form.fields:
            fast = form[name].as_widget()
            field = form.fields[name]
            form.renderer = DjangoTemplates()
            slow = form[name].as_widget(widget=forms.Select(choices=field.widget.choices))
            form.renderer = FormRenderer()
            pairs.append((fast, slow))
        return pairs

    for fast, slow in both({"organisation": world.org_b.pk, "person": world.l1.pk}):
        assert fast == slow
    assert f'<option value="{world.l1.pk}" selected>' in str(Cached(data={"person": world.l1.pk})["person"])
    with django_assert_num_queries(0):  # kept: no query (an unbound form: no validation either)
        page = str(Cached(initial={"organisation": world.org_a.pk})["organisation"])
    assert f'<option value="{world.org_a.pk}" selected>' in page

    # A new organisation saved in this process shows at once; in another, within the TTL.
    from tierdesk.orgs.services import create_organisation

    create_organisation(actor=world.admin, name="Gamma <script>", short_name="gamma")
    fresh = str(Cached()["organisation"])
    assert "Gamma &lt;script&gt;" in fresh and "<script>" not in fresh
    with translation.override("ru"):  # each language its own options (the empty label)
        assert str(Cached()["organisation"]).count("<option") == fresh.count("<option")


@pytest.mark.django_db
def test_cached_model_options_expire(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tierdesk.common import process_cache

    str(Cached()["organisation"])
    Organisation.objects.filter(pk=world.org_b.pk).update(name="Beta renamed elsewhere")  # no signal
    assert "Beta renamed elsewhere" not in str(Cached()["organisation"])  # still the kept options
    later = process_cache.time.monotonic() + 6
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: later)
    assert "Beta renamed elsewhere" in str(Cached()["organisation"])


def test_a_fields_help_is_linked_to_it_for_screen_readers() -> None:
    """Django points the widget's ``aria-describedby`` at ``<id>_helptext``; our field template
    must give the help text that id, or assistive technology never reads it with the field."""
    import re

    from django.template.loader import render_to_string

    class WithHelp(forms.Form):
        email = forms.EmailField(help_text="We never share it.")

    html = render_to_string("common/field.html", {"field": WithHelp()["email"]})
    described_by = re.search(r'aria-describedby="([^"]+)"', html)
    assert described_by is not None
    assert f'id="{described_by.group(1)}">We never share it.</small>' in html
