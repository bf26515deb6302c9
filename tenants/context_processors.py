from .selectors import membership_for


def membership(request):
    """The signed-in user's membership, for the navigation bar."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"membership": None}
    return {"membership": membership_for(user)}
