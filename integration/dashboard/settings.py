"""The shop's settings: its return policy (saved as the JSON API saves it) and its profile."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from integration.api.auth import ctx
from integration.dashboard.auth import current_shop
from integration.dashboard.blueprint import bp
from integration.dashboard.policy_form import changes_from, policy_fields
from integration.errors import InvalidInput
from integration.i18n import LANGUAGE_NAMES, LANGUAGES
from integration.services.shops import PROFILE_FIELDS, change_policy, change_profile

__all__ = ["policy", "profile"]


@bp.get("/policy")
def policy():
    """Every return policy setting, with the shop's values."""
    return render_template("dashboard/policy.html", fields=policy_fields(current_shop().policy))


@bp.post("/policy")
def save_policy():
    """Save the policy through the JSON API's own use case; a refused setting is shown, nothing is saved."""
    c, shop = ctx(), current_shop()
    try:
        change_policy(c.session, shop, changes_from(request.form, shop.policy))
    except InvalidInput as e:
        c.session.rollback()
        # The form as sent, so the merchant corrects it rather than typing it again.
        sent = policy_fields(shop.policy, form=request.form)
        return render_template("dashboard/policy.html", fields=sent, message=e.message), 400
    flash(_("The return policy is saved."))
    return redirect(url_for("dashboard.policy"), 303)


@bp.get("/profile")
def profile():
    """How the shop presents itself: legal name, contact e-mail, address, VAT id, default language."""
    return _profile_page(current_shop().profile or {})


def _profile_page(profile: dict, **extra):
    return render_template("dashboard/profile.html", profile=profile, languages=LANGUAGES,
                           language_names=LANGUAGE_NAMES, links=current_app.extensions["customer_links"](current_shop()),
                           **extra)  # fmt: skip


@bp.post("/profile")
def save_profile():
    """Save the profile; a bad e-mail address or language is shown, nothing is saved."""
    c, shop = ctx(), current_shop()
    sent = {name: request.form.get(name, "") for name in PROFILE_FIELDS}
    try:
        change_profile(c.session, shop, sent, LANGUAGES)
    except InvalidInput as e:
        c.session.rollback()
        return _profile_page(sent, message=e.message), 400
    flash(_("The shop's profile is saved."))
    return redirect(url_for("dashboard.profile"), 303)
