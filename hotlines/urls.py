from django.urls import path

from . import views

app_name = "hotlines"
urlpatterns = [
    path("hotlines/", views.HotlineListView.as_view(), name="hotline_list"),
    path("hotlines/<int:pk>/", views.HotlineDetailView.as_view(), name="hotline_detail"),
    path("hotlines/<int:pk>/settings/", views.HotlineSettingsView.as_view(), name="hotline_settings"),
    path("number-groups/", views.NumberGroupListView.as_view(), name="numbergroup_list"),
    path("number-groups/add/", views.NumberGroupFormView.as_view(), name="numbergroup_add"),
    path("number-groups/<int:pk>/edit/", views.NumberGroupFormView.as_view(), name="numbergroup_edit"),
    path("number-groups/<int:pk>/delete/", views.NumberGroupDeleteView.as_view(), name="numbergroup_delete"),
    path("schedules/", views.ScheduleListView.as_view(), name="schedule_list"),
    path("schedules/add/", views.ScheduleFormView.as_view(), name="schedule_add"),
    path("schedules/<int:pk>/edit/", views.ScheduleFormView.as_view(), name="schedule_edit"),
    path("schedules/<int:pk>/delete/", views.ScheduleDeleteView.as_view(), name="schedule_delete"),
]
