from django.contrib import admin

from checkpoints.models import Activity, AgentProject, Job, Membership, Preview, Team, Version


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "personal_for", "created_at"]
    inlines = [MembershipInline]


@admin.register(AgentProject)
class AgentProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "engine_name", "engine_project_id", "current_version"]
    list_filter = ["engine_name"]


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "name", "snapshot_id", "created_at", "deleted_at"]


@admin.register(Preview)
class PreviewAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "branch_id", "expires_at", "discarded_at"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["project", "kind", "state", "created_at", "finished_at"]
    list_filter = ["kind", "state"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["project", "kind", "actor", "duration_ms", "created_at"]
    list_filter = ["kind"]
