"""Campaigns: the kernel's framework the promotion plugins build on.

Plugins register campaign *types* (``vintry_register_campaign_types``); each site's
operator creates *campaigns* of the types enabled there, stored in the site's database
(:mod:`.models`), checked against HQ's floors (:mod:`.guardrails`), run through their
states and audited (:mod:`.service`, :mod:`.api`). Plugins read what is in force for a
dealer with :func:`vintry.campaigns.selection.live_campaigns` (``vintry_sdk.live_campaigns``);
the pricing pipeline chooses among their candidates and explains every campaign
considered; the built-in plugin ``vintry-campaigns`` (:mod:`.budgets`) draws budgets when
orders are placed. The reference is ``docs/campaigns.md``.
"""
