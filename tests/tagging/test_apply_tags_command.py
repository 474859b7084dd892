"""manage.py apply_tags: the rules applied from the command line."""

from io import StringIO

import pytest
from django.core.management import call_command

from tagging.models import ModelTag

from .support import tag_slugs

pytestmark = pytest.mark.django_db


def test_it_applies_the_seeded_rules_to_all_or_named_models(make_models):
    models = make_models(
        {"acme/llm-7b": {}, "openai/whisper-tiny": {"pipeline_tag": "automatic-speech-recognition"}}
    )
    ModelTag.objects.all().delete()
    out, err = StringIO(), StringIO()
    call_command("apply_tags", "openai/whisper-tiny", "nobody/nothing", stdout=out, stderr=err)
    assert "Tags applied to 1 models: 1 added, 0 removed" in out.getvalue()
    assert "unknown model: nobody/nothing" in err.getvalue()
    assert tag_slugs(models["openai/whisper-tiny"]) == {"speech"}
    assert tag_slugs(models["acme/llm-7b"]) == set()

    call_command("apply_tags", stdout=out)
    assert tag_slugs(models["acme/llm-7b"]) == {"chat"}
