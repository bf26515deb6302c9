from django.urls import path

from . import views

app_name = "extensions"
urlpatterns = [
    path("hotlines/<int:hotline_pk>/extensions/", views.ExtensionListView.as_view(),
         name="extension_list"),
    path("hotlines/<int:hotline_pk>/extensions/add/", views.ExtensionCreateView.as_view(),
         name="extension_add"),
    path("extensions/mine/", views.MyExtensionView.as_view(), name="my_extension"),
    path("extensions/<int:pk>/", views.ExtensionDetailView.as_view(), name="extension_detail"),
    path("extensions/<int:pk>/reveal/", views.ExtensionRevealView.as_view(),
         name="extension_reveal"),
    path("extensions/<int:pk>/edit/", views.ExtensionUpdateView.as_view(), name="extension_edit"),
    path("extensions/<int:pk>/delete/", views.ExtensionDeleteView.as_view(),
         name="extension_delete"),
]
