"""`{% fast_form form %}`: a form's fields as crispy-forms' Bootstrap 5 pack renders them (the
markup of `{% crispy form %}` without its second CSRF input), built in Python.

crispy renders every field through a dozen nested templates (field.html, the label, the help
text, the errors, each checkbox of a list): 3.5–3.8 ms for the extension form (its choices
already read), whose page is one request in ten of the load bench's mix and cost as much CPU as
Django admin's change page. Here the same markup costs 1.6–1.8 ms (docs/performance.md, "Load"):
the inputs still come from Django's widgets (`BoundField.as_widget`, with the attributes
crispy's `crispy_field` gives them), only the wrappers are written here.

It knows the widgets our forms use — text-like inputs, selects, textareas, a checkbox, lists of
checkboxes, hidden inputs — and the defaults of crispy's pack the extension form runs with
(labels shown, errors inline, no horizontal layout). extensions/tests/test_form_rendering.py
holds it to crispy's own output for that form, so a difference fails a test, not a page.
"""

from crispy_forms.templatetags.crispy_forms_filters import optgroups
from django import forms, template
from django.forms.boundfield import BoundField
from django.template.loader import render_to_string
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


def _widget_class(widget: forms.Widget, extra: str) -> str:
    """The class crispy's `crispy_field` gives a widget: its own, its type's name, `extra`."""
    name = widget.__class__.__name__.lower()
    css = widget.attrs.get("class", "")
    css = (css if name in css else f"{css} {name}") if css else name
    for word in extra.split():
        if word not in css.split():
            css += f" {word}"
    return css


def _help_text(field: BoundField) -> SafeString:
    if not field.help_text:
        return mark_safe("")  # noqa: S308  (empty)
    # crispy marks help texts safe: they are the code's own strings, not user input.
    text = mark_safe(field.help_text)  # noqa: S308
    return format_html('<div id="{}_helptext" class="form-text">{}</div>', field.auto_id, text)


def _errors(field: BoundField, tag: str) -> SafeString:
    if not field.errors:
        return mark_safe("")  # noqa: S308  (empty)
    items = format_html_join(
        " ",
        "<" + tag + ' id="error_{}_{}"><strong>{}</strong></' + tag + ">",
        ((i, field.auto_id, error) for i, error in enumerate(field.errors, 1)),
    )
    # Django 5.2's ErrorList.field_id (the field's id), which django-stubs does not declare yet.
    field_id = field.errors.field_id  # type: ignore[attr-defined]
    return format_html('<div id="{}_error" class="invalid-feedback"> {} </div>', field_id, items)


def _label(field: BoundField, tag: str, css: str) -> SafeString:
    required = field.field.required
    for_attr = format_html(' for="{}"', field.id_for_label) if field.id_for_label else ""
    return format_html(
        '<{tag}{for_attr} class="{css}{req}">{label}{star}</{tag}>',
        tag=mark_safe(tag),  # noqa: S308  (label or legend)
        for_attr=for_attr,
        css=css,
        req=" requiredField" if required else "",
        label=field.label,
        star=mark_safe('<span class="asteriskField">*</span>') if required else "",  # noqa: S308
    )


def _attrs(attrs: dict) -> SafeString:
    """Attributes as bootstrap5/layout/attrs.html writes them (True: the name alone; False: none)."""
    return format_html_join(
        "",
        " {}{}",
        (
            (name, "" if value is True else format_html('="{}"', value))
            for name, value in attrs.items()
            if value is not False
        ),
    )


def _checkbox_list(field: BoundField) -> SafeString:
    """bootstrap5/layout/radio_checkbox_select.html: a checkbox per choice, the errors inside the
    last one, then the help text."""
    invalid = " is-invalid" if field.errors else ""
    groups = list(optgroups(field))
    parts = []
    for group_no, (group, options, _index) in enumerate(groups):
        if group:
            parts.append(format_html("<strong>{}</strong>", group))
        for option_no, option in enumerate(options):
            last = group_no == len(groups) - 1 and option_no == len(options) - 1
            parts.append(
                format_html(
                    '<div class="form-check"> <input type="{}" class="form-check-input{}" name="{}"'
                    ' value="{}"{}> <label for="{}" class="form-check-label">{}</label> {}</div>',
                    option["type"],
                    invalid,
                    field.html_name,
                    str(option["value"]),
                    _attrs(option["attrs"]),
                    option["attrs"].get("id", ""),
                    str(option["label"]),
                    _errors(field, "p") if last else "",
                )
            )
    return format_html("<div > {} </div> {}", mark_safe(" ".join(parts)), _help_text(field))  # noqa: S308


def render_field(field: BoundField) -> SafeString:
    """One field as bootstrap5/field.html renders it."""
    widget = field.field.widget
    if field.is_hidden:
        return SafeString(str(field))
    wrapper_css = f" {field.css_classes()}" if field.css_classes() else ""
    if isinstance(widget, forms.CheckboxInput):
        css = _widget_class(widget, "form-check-input is-invalid" if field.errors else "form-check-input")
        return format_html(
            '<div class="mb-3"> <div id="div_{}" class="form-check{}"> {}'
            ' <label for="{}" class="form-check-label{}">{}{}</label> {} {} </div> </div>',
            field.auto_id,
            wrapper_css,
            field.as_widget(attrs={"class": css}),
            field.id_for_label,
            " requiredField" if field.field.required else "",
            field.label,
            mark_safe('<span class="asteriskField">*</span>') if field.field.required else "",  # noqa: S308
            _errors(field, "span"),
            _help_text(field),
        )
    fieldset = field.use_fieldset
    if isinstance(widget, forms.CheckboxSelectMultiple):
        body = _checkbox_list(field)
    else:
        extra = "form-select" if isinstance(widget, forms.Select) else "form-control"
        css = _widget_class(widget, f"{extra} is-invalid" if field.errors else extra)
        body = format_html(
            "{} {} {}", field.as_widget(attrs={"class": css}), _errors(field, "span"), _help_text(field)
        )
    label = ""
    if field.label:
        label = _label(
            field, "legend" if fieldset else "label", "form-label fs-6" if fieldset else "form-label"
        )
    if fieldset and field.label:
        described = (
            format_html(' aria-describedby="{}"', field.aria_describedby) if field.aria_describedby else ""
        )
        return format_html(
            '<div id="div_{}" class="mb-3{}"> <fieldset{}> {} {} </fieldset> </div>',
            field.auto_id,
            wrapper_css,
            described,
            label,
            body,
        )
    return format_html(
        '<div id="div_{}" class="mb-3{}"> {} {} </div>', field.auto_id, wrapper_css, label, body
    )


@register.simple_tag
def fast_form(form: forms.Form) -> SafeString:
    """The form's error summary, its fields and its FormHelper's buttons, as `{% crispy form %}`
    renders them (bootstrap5/display_form.html, field.html, inputs.html)."""
    parts = []
    if form.errors:
        # What crispy includes at the top (templates/bootstrap5/errors.html): our error summary.
        parts.append(render_to_string("partials/form_errors.html", {"form": form}))
    parts += [render_field(field) for field in form]
    helper = getattr(form, "helper", None)
    inputs = list(getattr(helper, "inputs", []))
    if inputs:
        buttons = format_html_join(
            " ",
            '<input type="{}" name="{}" value="{}" class="{}" id="{}" {} />',
            (
                (
                    b.input_type,
                    b.name,
                    b.value,
                    b.field_classes,
                    b.id or f"{b.input_type}-id-{b.name}",
                    b.flat_attrs,
                )
                for b in inputs
            ),
        )
        parts.append(format_html('<div class="mb-3"> <div class=""> {} </div> </div>', buttons))
    return mark_safe(" ".join(conditional_escape(p) for p in parts))  # noqa: S308  (each part is escaped)
