"""The Python select renderer must produce exactly what Django's templates produce."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates

from tierdesk.common.forms import FormRenderer
from tierdesk.orgs.models import Organisation

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
