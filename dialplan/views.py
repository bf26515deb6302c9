from django.shortcuts import render

from extensions.views import ExtensionDetailView
from sip.dialcheck import dial_check

from .forms import DialCheckForm


class ExtensionDialCheckView(ExtensionDetailView):
    """ "Kiểm tra quyền gọi" on the extension page: what the SIP server would do if this
    extension dialled a number (allowed or not, the rule that decided, the caller ID shown).
    A GET: it changes nothing, and the result can be linked to."""

    def get(self, request, pk):
        extension = self.get_extension(request, pk)
        form = DialCheckForm(request.GET or None)
        context = self.context(extension)
        context["dial_check_form"] = form
        if form.is_valid():
            context["dial_check"] = dial_check(
                extension=extension, dialled=form.cleaned_data["number"], at=form.cleaned_data["at"]
            )
        return render(request, self.template_name, context, status=400 if form.errors else 200)
