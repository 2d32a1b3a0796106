"""Form rendering shared by every app.

Django renders each ``<option>`` of a select through its own template include. The workspace's
queue page has a dozen selects (organisations, agents, categories, teams...) with ~400 options
in all, and rendering them that way took more than half of the page's time (~60 ms of ~100 ms
at 1M tickets). ``FormRenderer`` builds exactly the same markup for the stock select templates
in Python and leaves every other template to Django.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.forms.renderers import DjangoTemplates
from django.forms.widgets import Select
from django.utils import translation
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from tierdesk.common.process_cache import ProcessCache

SELECT_TEMPLATE = "django/forms/widgets/select.html"
OPTION_TEMPLATE = "django/forms/widgets/select_option.html"


def _attrs(attrs: dict[str, Any]) -> str:
    """django/forms/widgets/attrs.html: ``False`` drops the attribute, ``True`` writes it bare."""
    parts = []
    for name, value in attrs.items():
        if value is True:
            parts.append(f" {conditional_escape(name)}")
        elif value is not False:
            parts.append(f' {conditional_escape(name)}="{conditional_escape(str(value))}"')
    return "".join(parts)


def render_select(widget: dict[str, Any]) -> SafeString | None:
    """django/forms/widgets/select.html for ``widget`` (a widget's template context), or ``None``
    when an option uses a template of its own (then Django renders it)."""
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
        for option in options:
            if option["template_name"] != OPTION_TEMPLATE:
                return None
            parts.append(
                f'\n  <option value="{conditional_escape(str(option["value"]))}"{_attrs(option["attrs"])}>'
                f"{conditional_escape(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped


class FormRenderer(DjangoTemplates):
    """Django's template renderer, with selects built in Python (see the module docstring)."""

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if template_name == SELECT_TEMPLATE:
            html = render_select(context["widget"])
            if html is not None:
                return html
        return super().render(template_name, context, request)


class StaticSelect(Select):
    """A select whose choices are fixed in code (``TextChoices``, a module-level list): its
    options are escaped once per language and kept, instead of Django building a dictionary
    per option and translating every label on each render. The queue page has nine such
    selects; they were a fifth of its time. The markup is Django's, byte for byte (tested).

    Only for flat, unchanging choices: the cache is keyed by the identity of the choice
    objects (kept alive by the cache itself), never by model rows.
    """

    _options: ClassVar[dict[tuple[Any, ...], tuple[tuple[str, str], ...]]] = {}
    _keep: ClassVar[dict[tuple[Any, ...], Any]] = {}

    def _escaped_options(self) -> tuple[tuple[str, str], ...]:
        choices = list(self.choices)
        key = (translation.get_language(), *(id(pair) for pair in choices))
        found = self._options.get(key)
        if found is None:
            found = tuple(
                (
                    str(conditional_escape("" if value is None else str(value))),
                    str(conditional_escape(cast("str", label))),
                )
                for value, label in choices
            )
            if len(self._options) < 512:  # bounded: a handful of lists times the languages
                self._options[key] = found
                self._keep[key] = choices  # the ids above stay these objects'
        return found

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        wanted = {str(conditional_escape(v)) for v in self.format_value(value)}
        parts = [f'<select name="{conditional_escape(name)}"{_attrs(self.build_attrs(self.attrs, attrs))}>']
        chosen = False
        for option_value, label in self._escaped_options():
            selected = not chosen and option_value in wanted
            chosen = chosen or selected
            parts.append(
                f'\n  <option value="{option_value}"{" selected" if selected else ""}>{label}</option>\n'
            )
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped


# How long a process keeps the options of a select over model rows (seconds). Writes of the
# rows in this process drop them at once (the apps connect ``forget_model_options``); other
# processes show a new organisation or agent in the filters within this time.
MODEL_OPTIONS_TTL_SECONDS = 5.0

_model_options: ProcessCache[tuple[Any, ...], tuple[tuple[str, str], ...]] = ProcessCache(
    lambda: MODEL_OPTIONS_TTL_SECONDS, max_entries=2_000
)


def forget_model_options(**_signal_kwargs: Any) -> None:
    """Drop every kept list of options (a signal receiver for the rows' saves and deletes)."""
    _model_options.forget()


class CachedModelSelect(StaticSelect):
    """A select over model rows (organisations, agents, categories, lines) whose escaped
    options a process keeps for ``MODEL_OPTIONS_TTL_SECONDS``, keyed by the query's SQL (so each
    agent's scope has its own) and the language: the queue page's two agent lists, its
    organisations and categories then cost no query and no model instances. Same markup as
    Django's (tested)."""

    def _escaped_options(self) -> tuple[tuple[str, str], ...]:
        iterator = self.choices
        field = getattr(iterator, "field", None)
        if field is None:  # not a ModelChoiceField's choices: render them as they are
            return super()._escaped_options()
        key = (
            translation.get_language(),
            type(field),
            str(field.empty_label),
            str(field.queryset.query),
        )
        return _model_options.get(
            key,
            lambda: tuple(
                (str(conditional_escape(str(value))), str(conditional_escape(cast("str", label))))
                for value, label in iterator
            ),
        )
