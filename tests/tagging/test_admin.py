"""The curators' tagging screens: edits re-apply at once, bad patterns are refused,
and the untagged popular models are listed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from registry.caching import content_generation
from registry.models import HubModel
from tagging.models import ModelTag, Tag, TagOverride, TagRule
from tagging.selectors import tags_for_models
from tagging.services import tags_apply
from tests.factories import T0, days, hub_record, published_snapshot

from .support import tag_slugs, tag_sources

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_seeded_tags")]


@pytest.fixture
def curator(client):
    user = User.objects.create_user("cora", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="curator"))
    client.force_login(user)
    return user


@pytest.fixture
def board(make_tag, make_models):
    """Two tags with one rule each, and three models tagged by them."""
    chat, code = make_tag("chat", position=10), make_tag("code", position=20)
    rules = {
        "chat": TagRule.objects.create(tag=chat, kind="pipeline_tag", value="text-generation"),
        "code": TagRule.objects.create(tag=code, kind="id_pattern", value="coder"),
    }
    models = make_models(
        {
            "acme/coder-7b": {},
            "acme/llm-7b": {},
            "acme/asr": {"pipeline_tag": "automatic-speech-recognition"},
        }
    )
    tags_apply()
    return {"chat": chat, "code": code, "rules": rules, **models}


def rule_form(rule: TagRule, **changes) -> dict:
    form = {"tag": rule.tag_id, "kind": rule.kind, "value": rule.value, "note": rule.note}
    if rule.is_active:
        form["is_active"] = "on"
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_the_curator_group_may_edit_tags_rules_and_overrides_and_view_applied_tags():
    perms = set(
        Group.objects.get(name="curator")
        .permissions.filter(content_type__app_label="tagging")
        .values_list("codename", flat=True)
    )
    for model in ("tag", "tagrule", "tagoverride"):
        assert {f"{verb}_{model}" for verb in ("view", "add", "change", "delete")} <= perms
    assert "view_modeltag" in perms
    assert not {"add_modeltag", "change_modeltag", "delete_modeltag"} & perms


def test_changing_a_rule_in_the_admin_retags_models_at_once(
    client, curator, board, django_capture_on_commit_callbacks
):
    rule = board["rules"]["chat"]
    before = content_generation()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/admin/tagging/tagrule/{rule.pk}/change/",
            rule_form(rule, value="automatic-speech-recognition"),
            follow=True,
        )
    assert response.status_code == 200
    assert b"Tags re-applied to 3 models" in response.content
    assert tag_slugs(board["acme/asr"]) == {"chat"}
    assert tag_slugs(board["acme/llm-7b"]) == set()
    assert tag_slugs(board["acme/coder-7b"]) == {"code"}
    ids = [board[h].pk for h in ("acme/asr", "acme/llm-7b", "acme/coder-7b")]
    assert {pk: [t.slug for t in tags] for pk, tags in tags_for_models(model_ids=ids).items()} == {
        ids[0]: ["chat"],
        ids[1]: [],
        ids[2]: ["code"],
    }
    assert content_generation() > before  # pages and API caches are invalidated


def test_adding_a_rule_in_the_admin_tags_the_models_it_matches(client, curator, board):
    response = client.post(
        "/admin/tagging/tagrule/add/",
        {"tag": board["code"].pk, "kind": "id_pattern", "value": r"LLM-\d+B", "is_active": "on"},
    )
    assert response.status_code == 302
    assert tag_slugs(board["acme/llm-7b"]) == {"chat", "code"}


def test_deactivating_rules_in_the_list_retags_once(client, curator, board):
    chat_rule, code_rule = board["rules"]["chat"], board["rules"]["code"]
    response = client.post(
        "/admin/tagging/tagrule/",
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": chat_rule.pk,
            "form-1-id": code_rule.pk,
            "form-1-is_active": "on",
            "_save": "Save",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert response.content.count(b"Tags re-applied") == 1
    assert not TagRule.objects.get(pk=chat_rule.pk).is_active
    assert set(ModelTag.objects.values_list("tag__slug", flat=True)) == {"code"}


def test_a_bad_pattern_is_refused_with_a_clear_error(client, curator, board):
    response = client.post(
        "/admin/tagging/tagrule/add/",
        {"tag": board["code"].pk, "kind": "id_pattern", "value": "coder(", "is_active": "on"},
    )
    assert response.status_code == 200
    assert b"Not a valid regular expression: missing ), unterminated subpattern" in (
        response.content
    )
    assert TagRule.objects.count() == 2


def test_a_pattern_that_matches_every_id_is_refused(client, curator, board):
    response = client.post(
        "/admin/tagging/tagrule/add/",
        {"tag": board["code"].pk, "kind": "id_pattern", "value": "coder|", "is_active": "on"},
    )
    assert response.status_code == 200
    assert b"matches every model id" in response.content
    assert TagRule.objects.count() == 2


def test_a_bad_pattern_in_a_tags_inline_rules_is_refused_too(client, curator, board):
    response = client.post(
        "/admin/tagging/tag/add/",
        {
            "slug": "reasoning",
            "name": "Reasoning",
            "description": "",
            "position": "30",
            "rules-TOTAL_FORMS": "1",
            "rules-INITIAL_FORMS": "0",
            "rules-0-kind": "id_pattern",
            "rules-0-value": "[think",
            "rules-0-is_active": "on",
        },
    )
    assert response.status_code == 200
    assert b"Not a valid regular expression" in response.content
    assert not Tag.objects.filter(slug="reasoning").exists()


def test_a_new_tag_with_inline_rules_is_applied_on_save(client, curator, board):
    response = client.post(
        "/admin/tagging/tag/add/",
        {
            "slug": "speech",
            "name": "Speech",
            "description": "",
            "position": "30",
            "rules-TOTAL_FORMS": "1",
            "rules-INITIAL_FORMS": "0",
            "rules-0-kind": "pipeline_tag",
            "rules-0-value": "Automatic-Speech-Recognition",
            "rules-0-is_active": "on",
        },
    )
    assert response.status_code == 302
    assert tag_slugs(board["acme/asr"]) == {"speech"}


def test_overrides_added_and_deleted_in_the_admin_win_at_once(client, curator, board):
    llm = board["acme/llm-7b"]
    response = client.post(
        "/admin/tagging/tagoverride/add/",
        {"tag": board["chat"].pk, "model": llm.pk, "action": "exclude", "note": "a base model"},
        follow=True,
    )
    assert b"Tags re-applied to 1 models" in response.content  # only the model it names
    assert tag_slugs(llm) == set()

    include = client.post(
        "/admin/tagging/tagoverride/add/",
        {"tag": board["code"].pk, "model": llm.pk, "action": "include", "note": ""},
    )
    assert include.status_code == 302
    assert tag_sources(llm) == {"code": "override"}

    exclude = TagOverride.objects.get(model=llm, action="exclude")
    client.post(f"/admin/tagging/tagoverride/{exclude.pk}/delete/", {"post": "yes"})
    assert tag_sources(llm) == {"chat": "rule", "code": "override"}


def test_moving_an_override_to_another_model_redecides_both(client, curator, board):
    llm, asr = board["acme/llm-7b"], board["acme/asr"]
    override = TagOverride.objects.create(tag=board["code"], model=llm, action="include")
    tags_apply()
    response = client.post(
        f"/admin/tagging/tagoverride/{override.pk}/change/",
        {"tag": board["code"].pk, "model": asr.pk, "action": "include", "note": ""},
    )
    assert response.status_code == 302
    assert tag_slugs(llm) == {"chat"}
    assert tag_slugs(asr) == {"code"}


def test_renaming_a_tag_invalidates_caches_though_no_model_changes(
    client, curator, board, django_capture_on_commit_callbacks
):
    tag = board["code"]
    before = content_generation()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/admin/tagging/tag/{tag.pk}/change/",
            {
                "slug": "code",
                "name": "Coding",
                "description": "",
                "position": "20",
                "rules-TOTAL_FORMS": "0",
                "rules-INITIAL_FORMS": "0",
            },
        )
    assert response.status_code == 302
    assert content_generation() == before + 1


def test_reapply_now_button_and_action_report_counts(client, curator, board):
    ModelTag.objects.all().delete()
    response = client.post("/admin/tagging/tag/reapply/", follow=True)
    assert b"Tags re-applied to 3 models" in response.content
    assert b"3 added, 0 removed" in response.content
    assert ModelTag.objects.count() == 3

    ModelTag.objects.filter(tag=board["code"]).delete()
    response = client.post(
        "/admin/tagging/tagrule/",
        {"action": "reapply_tags", "_selected_action": [board["rules"]["chat"].pk]},
        follow=True,
    )
    assert b"1 added, 0 removed" in response.content
    assert tag_slugs(board["acme/coder-7b"]) == {"chat", "code"}


def test_someone_who_may_only_view_tags_cannot_reapply(client, board):
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_tag"))
    client.force_login(user)
    listing = client.get("/admin/tagging/tag/")
    assert listing.status_code == 200 and b"Re-apply tags now" not in listing.content
    ModelTag.objects.all().delete()
    response = client.post("/admin/tagging/tag/reapply/", follow=True)
    assert b"may not re-apply tags" in response.content
    assert ModelTag.objects.count() == 0


def test_the_lists_have_search_filters_and_counts(client, curator, board):
    tags = client.get("/admin/tagging/tag/?q=cod")
    assert tags.status_code == 200
    assert b"Untagged popular models" in tags.content
    assert tags.context["cl"].result_count == 1
    tag = tags.context["cl"].result_list[0]
    assert (tag.slug, tag.n_rules, tag.n_models) == ("code", 1, 1)
    rules = client.get("/admin/tagging/tagrule/?kind__exact=id_pattern&is_active__exact=1")
    assert [r.value for r in rules.context["cl"].result_list] == ["coder"]
    applied = client.get("/admin/tagging/modeltag/?q=llm-7b")
    assert [(m.model.hub_id, m.tag.slug) for m in applied.context["cl"].result_list] == [
        ("acme/llm-7b", "chat")
    ]
    TagOverride.objects.create(tag=board["code"], model=board["acme/asr"], action="include")
    overrides = client.get("/admin/tagging/tagoverride/?action__exact=include&q=asr")
    assert [o.model.hub_id for o in overrides.context["cl"].result_list] == ["acme/asr"]


def test_the_untagged_view_lists_untagged_models_of_the_latest_snapshots_top(
    client, curator, make_tag
):
    chat = make_tag("chat")
    TagRule.objects.create(tag=chat, kind="pipeline_tag", value="text-generation")
    untagged = {"pipeline_tag": "fill-mask", "tags": ["fill-mask", "license:mit"]}
    # An older snapshot where "old/top" led: the view must use the latest one.
    published_snapshot([hub_record("old/top", downloads=10**9, **untagged)], taken_at=T0 - days(1))
    published_snapshot(
        [
            hub_record("a/llm", downloads=5000),
            hub_record("a/bert", downloads=4000, **untagged),
            hub_record("a/llm-2", downloads=3000),
            hub_record("a/roberta", downloads=2000, **untagged),
            hub_record("a/tail-bert", downloads=1000, **untagged),
        ]
    )
    tags_apply()
    response = client.get("/admin/tagging/tag/untagged/?limit=4")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(r["rank"], r["model"].hub_id) for r in rows] == [(2, "a/bert"), (4, "a/roberta")]
    assert rows[0]["hub_tags"] == ["fill-mask"]  # license noise hidden
    bert = HubModel.objects.get(hub_id="a/bert")
    assert f"/admin/tagging/tagoverride/add/?model={bert.pk}&amp;action=include".encode() in (
        response.content
    )
    form = client.get(f"/admin/tagging/tagoverride/add/?model={bert.pk}&action=include")
    assert form.context["adminform"].form.initial == {"model": str(bert.pk), "action": "include"}
    assert b"a/bert" in form.content  # the model is shown, preselected
    # Default: the top 200, which here is everyone in the latest snapshot.
    everyone = client.get("/admin/tagging/tag/untagged/")
    assert [r["model"].hub_id for r in everyone.context["rows"]] == [
        "a/bert",
        "a/roberta",
        "a/tail-bert",
    ]


def test_the_untagged_view_says_so_when_there_is_no_snapshot(client, curator):
    response = client.get("/admin/tagging/tag/untagged/")
    assert response.status_code == 200
    assert b"No complete snapshot yet" in response.content


def test_the_untagged_view_needs_the_view_permission(client):
    user = User.objects.create_user("nobody", password="x", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/tagging/tag/untagged/").status_code == 403


def test_an_admin_change_shows_on_the_pages_at_once(
    client, curator, board, django_capture_on_commit_callbacks
):
    before = client.get("/tags/chat")  # also fills the page cache
    assert before.status_code == 200
    assert b"acme/llm-7b" in before.content and b"acme/asr" not in before.content
    rule = board["rules"]["chat"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/admin/tagging/tagrule/{rule.pk}/change/",
            rule_form(rule, value="automatic-speech-recognition"),
        )
    after = client.get("/tags/chat")
    assert b"acme/asr" in after.content and b"acme/llm-7b" not in after.content
    model_page = client.get("/models/acme/asr")
    assert model_page.status_code == 200 and b'href="/tags/chat"' in model_page.content
